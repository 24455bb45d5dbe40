"""Pose representations: the registry, SDT's hierarchical poses (exact both ways), and the name saved with
a run."""

import numpy as np
import pytest
import torch
from tiny_runs import PATS48_SPEC

from cospeech.data.normalize import Normalizer
from cospeech.data.poses import joints_to_flat
from cospeech.data.representation import list_representations, make_representation
from cospeech.data.spec import DataSpec
from cospeech.errors import CheckpointError, ConfigError
from cospeech.metrics import GestureMetricSuite
from cospeech.skeletons import SDT121, Skeleton
from cospeech.training.metadata import Component, RunMetadata

J = SDT121.num_joints


def quarter_pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random pixel offsets on a quarter-pixel grid: sums and differences of them are exact in float64."""
    return np.random.default_rng(seed).integers(-2000, 2000, shape).astype(np.float64) / 4


def test_hierarchical_is_sdts_parted_pose_and_inverts_exactly():
    rep = make_representation("hierarchical", "sdt121")
    flat = quarter_pixels((2, 5, 2 * J))
    parted = rep.encode(flat)
    x, y, px, py = flat[..., :J], flat[..., J:], parted[..., :J], parted[..., J:]
    face, left, right = range(9, 79), range(79, 100), range(100, 121)  # notes §1.3
    for k in face:
        expected = (x[..., k], y[..., k]) if k == 39 else (x[..., k] - x[..., 39], y[..., k] - y[..., 39])
        np.testing.assert_array_equal((px[..., k], py[..., k]), expected)
    for part, wrist in ((left, 6), (right, 3)):
        for k in part:
            np.testing.assert_array_equal(px[..., k], x[..., k] - x[..., wrist])
            np.testing.assert_array_equal(py[..., k], y[..., k] - y[..., wrist])
    np.testing.assert_array_equal(parted[..., :9], flat[..., :9])  # body and anchors stay neck-relative
    np.testing.assert_array_equal(parted[..., J : J + 9], flat[..., J : J + 9])
    np.testing.assert_array_equal(rep.decode(parted), flat)
    assert torch.equal(rep.decode(rep.encode(torch.from_numpy(flat))), torch.from_numpy(flat))
    assert not np.shares_memory(rep.encode(flat), flat)


def test_model_space_goes_back_to_global_pixels():
    rep = make_representation("hierarchical", "sdt121")
    pixels = quarter_pixels((3, 64, J, 2), seed=1)
    parted = rep.encode(joints_to_flat(pixels))
    mean, std = parted.mean(axis=(0, 1)), parted.std(axis=(0, 1))
    normalizer = Normalizer(
        {"pose": torch.tensor(np.stack([mean, mean + 1]))}, {"pose": torch.tensor(np.stack([std, std * 2]))}
    )
    rep = make_representation("hierarchical", "sdt121", normalizer)
    style = np.array([0, 1, 1])
    model = rep.to_model(pixels, style)
    np.testing.assert_allclose(rep.to_pixels(model, style), pixels, atol=1e-9)
    # the metric suite, given the representation's decode, scores global pixels: the GT scores perfectly
    suite = GestureMetricSuite(mean, std, decode=rep.decode)
    suite.update(torch.from_numpy(rep.to_model(pixels, 0)), torch.from_numpy(rep.to_model(pixels, 0)))
    np.testing.assert_allclose(suite.to_pixels(torch.from_numpy(rep.to_model(pixels, 0))), pixels, atol=1e-9)
    assert float(suite.metrics["L1"].compute()) == 0.0


def test_representations_are_a_registry_with_one_line_errors():
    assert {"z_flat", "hierarchical"} <= set(list_representations())
    with pytest.raises(
        ConfigError, match=r"unknown pose representation 'polar'; known .*hierarchical, z_flat"
    ):
        make_representation("polar", "sdt121")
    armless = Skeleton("stick", ("Root", "Tip"), (-1, 0))
    with pytest.raises(ConfigError, match="'hierarchical' needs a skeleton with a face or hands"):
        make_representation("hierarchical", armless)
    assert len(make_representation("hierarchical", "pats48").members) == 2 * 2 * 21  # hands only, x and y
    with pytest.raises(ConfigError, match="made without normalisation statistics"):
        make_representation("z_flat", "sdt121").to_pixels(np.zeros((1, 1, 2 * J)), 0)


def _meta(representation: str) -> dict:
    spec = DataSpec.from_dict({**PATS48_SPEC, "representation": representation})
    normalizer = Normalizer(
        mean={"pose": torch.zeros(1, 96), "audio": torch.zeros(1, 64)},
        std={"pose": torch.ones(1, 96), "audio": torch.ones(1, 64)},
    )
    model = Component("speech2gesture", {"channels": 16}, "generator.")
    return RunMetadata(model=model, data=spec, normalizer=normalizer, recipe="test").to_dict(tensors=False)


def test_the_representation_is_saved_with_the_run_and_unknown_ones_are_refused():
    meta = _meta("hierarchical")
    assert meta["representation"] == meta["data"]["representation"] == "hierarchical"
    read = RunMetadata.from_dict(meta, "x.ckpt")
    assert read.representation == "hierarchical" and read.pose_representation().name == "hierarchical"
    older = _meta("z_flat")
    del older["data"]["representation"]  # metadata written before the choice existed
    assert RunMetadata.from_dict(older, "x.ckpt").representation == "z_flat"
    meta["representation"] = meta["data"]["representation"] = "polar"
    with pytest.raises(CheckpointError, match=r"x.ckpt: malformed .*unknown pose representation 'polar'"):
        RunMetadata.from_dict(meta, "x.ckpt")
    meta["data"]["representation"] = "z_flat"
    with pytest.raises(CheckpointError, match="'polar' disagrees with the data spec's 'z_flat'"):
        RunMetadata.from_dict(meta, "x.ckpt")
    with pytest.raises(ConfigError, match="unknown pose representation 'polar'"):
        DataSpec.from_dict({**PATS48_SPEC, "representation": "polar"})
