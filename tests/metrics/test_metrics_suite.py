"""GestureMetricSuite: keys, optional parts, pixel conversion, identities, and streaming == one shot."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from metrics_testdata import TinyEncoder, assert_close, full_suite, make_pose_data, update_in_chunks

from cospeech.data.poses import flat_to_joints
from cospeech.metrics import (
    GestureMetricSuite,
    beat_align,
    cluster_f1,
    diversity,
    expressiveness,
    fgd,
    fid,
    fit_gesture_clusters,
    joint_keys,
    l1,
    l1_div,
    pck,
    pck_per_joint,
    vel_l1,
    w1,
)
from cospeech.skeletons import PATS48

EXPRESSIVENESS = ("spatial", "spatialNorm", "energy", "power")
"""Mix-StAGE's expressiveness keys: one RMS per update, so they depend on the batching."""
BASE_KEYS = {
    "L1",
    "VelL1",
    "PCK",
    "PCK@0.1",
    "PCK@0.2",
    "FID",
    "W1_vel",
    "W1_acc",
    "diversity",
    "diversity_gt",
    "L1div",
    "L1div_gt",
    *joint_keys("PCK@0.1", PATS48.num_joints),
    *joint_keys("PCK@0.2", PATS48.num_joints),
    *EXPRESSIVENESS,
}
OPTIONAL_KEYS = {
    "FGD",
    "F1",
    "cluster_acc",
    "cluster_precision",
    "cluster_recall",
    "BeatAlign",
    "BeatAlign_gt",
    "PCK_ref",
    "PCK_ref@0.1",
    "PCK_ref@0.2",
}


@pytest.fixture
def centres() -> np.ndarray:
    train = make_pose_data(seed=1)
    mean, std = torch.tensor(train["mean"]), torch.tensor(train["std"])
    return fit_gesture_clusters(flat_to_joints(train["target"].double() * std + mean), k=4, seed=0)


def test_base_suite_has_only_the_base_metrics(pose_data: dict) -> None:
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"])
    suite.update(pose_data["preds"], pose_data["target"])
    assert set(suite.compute()) == BASE_KEYS
    assert suite.extractor_id is None


def test_optional_metrics_appear_when_given(
    pose_data: dict, encoder: TinyEncoder, centres: np.ndarray
) -> None:
    suite = full_suite(pose_data, encoder, centres)
    suite.update(pose_data["preds"], pose_data["target"], pose_data["beats"], pose_data["box_joints"])
    result = suite.compute()
    assert set(result) == BASE_KEYS | OPTIONAL_KEYS
    assert all(isinstance(v, float) for v in result.values())
    assert suite.extractor_id.startswith("tiny@")


def test_beats_must_match_the_construction(
    pose_data: dict, encoder: TinyEncoder, centres: np.ndarray
) -> None:
    with pytest.raises(ValueError, match="beat_align=True"):
        full_suite(pose_data, encoder, centres).update(
            pose_data["preds"], pose_data["target"], box_joints=pose_data["box_joints"]
        )
    with pytest.raises(ValueError, match="beat_align=True"):
        GestureMetricSuite(pose_data["mean"], pose_data["std"]).update(
            pose_data["preds"], pose_data["target"], pose_data["beats"]
        )


def test_box_joints_must_match_the_construction(
    pose_data: dict, encoder: TinyEncoder, centres: np.ndarray
) -> None:
    with pytest.raises(ValueError, match="box_joints must be given to every update .* reference_pck=True"):
        full_suite(pose_data, encoder, centres).update(
            pose_data["preds"], pose_data["target"], pose_data["beats"]
        )
    with pytest.raises(ValueError, match="reference_pck=True"):
        GestureMetricSuite(pose_data["mean"], pose_data["std"]).update(
            pose_data["preds"], pose_data["target"], box_joints=pose_data["box_joints"]
        )
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"], reference_pck=True)
    with pytest.raises(ValueError, match=r"box_joints must be pixel-space GT joints \(B, T, K, 2\)"):
        suite.update(pose_data["preds"], pose_data["target"], box_joints=pose_data["box_joints"][:2])


def test_input_checks(pose_data: dict) -> None:
    with pytest.raises(ValueError, match="same even number"):
        GestureMetricSuite(np.zeros(4), np.ones(6))
    with pytest.raises(ValueError, match="extractor_features"):
        GestureMetricSuite(pose_data["mean"], pose_data["std"], extractor=TinyEncoder())
    suite = GestureMetricSuite(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="96 features but the normaliser has 4"):
        suite.update(pose_data["preds"], pose_data["target"])


def test_to_pixels_undoes_the_normaliser() -> None:
    suite = GestureMetricSuite(np.array([10.0, 20.0, 30.0, 40.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    z = torch.ones(1, 1, 4)  # x0 x1 y0 y1
    expected = torch.tensor([[[[11.0, 33.0], [22.0, 44.0]]]], dtype=torch.float64)
    torch.testing.assert_close(suite.to_pixels(z), expected)


def test_identities(pose_data: dict, encoder: TinyEncoder, centres: np.ndarray) -> None:
    suite = full_suite(pose_data, encoder, centres)
    suite.update(pose_data["target"], pose_data["target"], pose_data["beats"], pose_data["box_joints"])
    result = suite.compute()
    assert result["L1"] == result["VelL1"] == result["W1_vel"] == result["W1_acc"] == 0.0
    assert result["PCK"] == result["PCK_ref"] == result["F1"] == result["cluster_acc"] == 1.0
    # clusters the data never visits count as 0 (the reference's unweighted mean over all k)
    assert result["cluster_precision"] == result["cluster_recall"]
    assert all(result[key] == 1.0 for key in joint_keys("PCK@0.1", PATS48.num_joints))
    assert all(result[key] == 0.0 for key in EXPRESSIVENESS)
    assert result["FID"] == pytest.approx(0.0, abs=1e-6)
    assert result["FGD"] == pytest.approx(0.0, abs=1e-6)
    for key in ("diversity", "L1div", "BeatAlign"):
        assert result[key] == result[f"{key}_gt"]


def test_streaming_equals_one_shot_and_the_functions(
    pose_data: dict, encoder: TinyEncoder, centres: np.ndarray
) -> None:
    one_shot = full_suite(pose_data, encoder, centres)
    update_in_chunks(one_shot, pose_data, [8])
    streamed = full_suite(pose_data, encoder, centres)
    update_in_chunks(streamed, pose_data, [1, 2, 2, 3])
    expected = one_shot.compute()
    result = streamed.compute()
    batch_free = [key for key in expected if key not in EXPRESSIVENESS]
    assert_close({k: result[k] for k in batch_free}, {k: expected[k] for k in batch_free})

    preds, target = pose_data["preds"], pose_data["target"]
    preds_px, target_px = one_shot.to_pixels(preds), one_shot.to_pixels(target)
    mean_pose = flat_to_joints(pose_data["mean"])
    reference = pck(preds_px, target_px, box_joints=pose_data["box_joints"])
    per_joint = pck_per_joint(preds_px, target_px)
    functions = {
        "L1": l1(preds, target),
        "VelL1": vel_l1(preds, target),
        **pck(preds_px, target_px),
        **{key.replace("PCK", "PCK_ref"): value for key, value in reference.items()},
        **{k: v for a, row in per_joint.items() for k, v in zip(joint_keys(a, len(row)), row, strict=True)},
        "FID": fid(preds, target),
        **w1(preds_px, target_px),
        "diversity": diversity(preds_px, mean_pose),
        "diversity_gt": diversity(target_px, mean_pose),
        "L1div": l1_div(preds_px),
        "L1div_gt": l1_div(target_px),
        **expressiveness(preds_px, target_px, mean_pose),
        "FGD": fgd(preds, target, encoder),
        **cluster_f1(preds_px, target_px, centres),
        "BeatAlign": beat_align(preds_px, pose_data["beats"]),
        "BeatAlign_gt": beat_align(target_px, pose_data["beats"]),
    }
    assert_close(functions, expected)


def test_expressiveness_averages_per_update_values_weighted_by_frames(pose_data: dict) -> None:
    """The reference's batching: one RMS per batch, batches averaged with their frame counts as weights."""
    sizes = [1, 2, 5]
    bounds = np.cumsum([0, *sizes])
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"])
    for a, b in itertools.pairwise(bounds):
        suite.update(pose_data["preds"][a:b], pose_data["target"][a:b])
    result = suite.compute()
    mean_pose = flat_to_joints(pose_data["mean"])
    parts = [
        expressiveness(
            suite.to_pixels(pose_data["preds"][a:b]), suite.to_pixels(pose_data["target"][a:b]), mean_pose
        )
        for a, b in itertools.pairwise(bounds)
    ]
    frames = pose_data["preds"].shape[1]
    for key, steps in (("spatial", 0), ("energy", 1), ("power", 2)):
        weights = [size * (frames - steps) for size in sizes]
        assert result[key] == pytest.approx(np.average([part[key] for part in parts], weights=weights))
    one_batch = expressiveness(
        suite.to_pixels(pose_data["preds"]), suite.to_pixels(pose_data["target"]), mean_pose
    )
    assert result["spatial"] != pytest.approx(one_batch["spatial"], rel=1e-6)


def test_reset_starts_over(pose_data: dict) -> None:
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"])
    suite.update(pose_data["target"] + 1.0, pose_data["target"])
    suite.reset()
    suite.update(pose_data["target"], pose_data["target"])
    assert suite.compute()["L1"] == 0.0


def test_windows_counts_what_was_scored_since_the_last_reset(pose_data: dict) -> None:
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"])
    assert suite.windows == 0
    suite.update(pose_data["preds"][:2], pose_data["target"][:2])
    suite.update(pose_data["preds"][2:5], pose_data["target"][2:5])
    assert suite.windows == 5
    suite.reset()
    assert suite.windows == 0
