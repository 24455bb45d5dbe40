"""SDT data end to end: the lip-opening metric (zero on ground truth, only for skeletons with a face), and
an existing model trained on the built-in corpus written as SDT clips, in SDT's hierarchical poses."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tiny_runs import tiny_config

from cospeech.cli.main import main
from cospeech.data.datamodule import PatsDataModule
from cospeech.data.poses import joints_to_flat
from cospeech.data.synth import synthesize_corpus
from cospeech.evaluation import evaluate
from cospeech.inference import GestureGenerator
from cospeech.metrics import GestureMetricSuite, lip_sync_error
from cospeech.models import run_generator
from cospeech.skeletons import SDT121
from cospeech.training.metadata import read_run

UPPER, LOWER = SDT121.index("Face62"), SDT121.index("Face66")


@pytest.fixture(scope="module")
def sdt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sdt") / "synth_sdt"
    synthesize_corpus(root, speakers=2, minutes=0.5, seed=1, format="sdt")
    return root


def test_lip_sync_error_is_sdts_normalised_opening_difference():
    rng = np.random.default_rng(0)
    target = rng.normal(0, 50, (3, 64, SDT121.num_joints, 2))
    assert lip_sync_error(target, target, UPPER, LOWER) == 0.0
    opening = np.linalg.norm(target[..., LOWER, :] - target[..., UPPER, :], axis=-1)  # (3, 64)
    closed = target.copy()
    closed[..., LOWER, :] = closed[..., UPPER, :]  # a mouth that never opens
    expected = (opening / (opening.max(axis=1, keepdims=True) + 1e-4)).mean()
    assert lip_sync_error(closed, target, UPPER, LOWER) == pytest.approx(expected, rel=1e-12)


def test_the_suite_reports_lip_error_for_a_face_and_not_for_pats48():
    J = SDT121.num_joints
    mean, std = np.zeros(2 * J), np.ones(2 * J)
    assert "lip_sync_error_n" in GestureMetricSuite(mean, std, skeleton="sdt121").keys
    assert "lip_sync_error_n" not in GestureMetricSuite(mean[:96], std[:96], skeleton="pats48").keys
    assert "lip_sync_error_n" not in GestureMetricSuite(mean, std).keys


def test_speech2gesture_trains_on_sdt_clips_in_the_hierarchical_representation(sdt_root, tmp_path):
    config = tiny_config()
    config["data"].update(
        {"format": "sdt", "representation": "hierarchical", "normalization": "per_speaker", "window_hop": 5}
    )
    config["trainer"]["limit_val_batches"] = 1.0  # every dev clip: both speakers are scored
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    args = ["fit", "--config", str(tmp_path / "tiny.yaml"), "--data.root", str(sdt_root)]
    args += ["--data.cache_dir", str(tmp_path / "cache"), "--run.root", str(tmp_path / "runs")]
    assert main(args) == 0
    run = tmp_path / "runs" / "tiny" / "version_0"
    meta = read_run(run).metadata
    assert (meta.representation, meta.data.skeleton, meta.data.format) == ("hierarchical", "sdt121", "sdt")
    assert meta.data.pose_key == "pose" and meta.data.pose_dim == 242
    logged = json.loads((run / "final_metrics.json").read_text())["last"]
    assert 0 < logged["dev/lip_sync_error_n"] < 5 and np.isfinite(logged["dev/L1"])

    # dev metrics see global pixels: the GT scores zero lip error, and the model's poses decode to
    # neck-relative pixels the size of the stored ones
    pipe = GestureGenerator.from_pretrained(run)
    dm = PatsDataModule(
        str(sdt_root),
        ["ava", "ben"],
        format="sdt",
        representation="hierarchical",
        cache_dir=str(tmp_path / "c"),
    )
    dm.setup()
    dm.use_normalizer(pipe.metadata.normalizer)
    batch = next(iter(dm.val_dataloader()))
    representation = pipe.metadata.pose_representation()
    ground_truth = representation.to_pixels(batch["pose"].double(), batch["style"])
    style, clip, _ = dm.datasets["dev"].window_info(int(batch["index"][0]))
    stored = dm.corpus.to_model_pose("pose", dm.corpus.read(dm.speakers[style], clip, ["pose"])["pose"])
    np.testing.assert_allclose(joints_to_flat(ground_truth[0]).numpy(), stored, atol=1e-3)
    suite = GestureMetricSuite(
        pipe.metadata.normalizer.mean["pose"][0],
        pipe.metadata.normalizer.std["pose"][0],
        skeleton="sdt121",
        decode=representation.decode,
    )
    rows = batch["style"] == 0
    suite.update(batch["pose"][rows], batch["pose"][rows])
    assert float(suite.metrics["lip_sync_error_n"].compute()) == 0.0
    with torch.no_grad():
        pred = run_generator(pipe.generator, batch, training=False).poses
    pixels = representation.to_pixels(pred.double(), batch["style"])
    assert pixels.shape == ground_truth.shape and pixels.abs().max() < 4 * ground_truth.abs().max()

    # `cospeech evaluate` reads the run's format, pose key and representation back
    result = evaluate(run, cache_dir=str(tmp_path / "c"))
    for scores in result.scores.values():
        assert 0 < scores["mean"]["lip_sync_error_n"] < 5
