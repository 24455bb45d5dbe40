"""Per-frame pose cluster labels (notes cdiffgan §0, pats §3.8): fitted on the source speakers' raw training
poses, cached by their inputs, in every batch, and saved with the run."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from pats_layout import Interval, write_corpus

from cospeech.data.clusters import PoseClusters
from cospeech.data.datamodule import PatsDataModule
from cospeech.errors import CheckpointError
from cospeech.training.engine import run_cli
from cospeech.training.metadata import RunMetadata, read_run

K = 3
FAR = 2000.0
"""maher's poses sit this many pixels from oliver's: a center fitted on his frames would be out there."""
INTERVALS = [
    Interval("cmu0000000501", "oliver", "train", 120),
    Interval("cmu0000000502", "oliver", "train", 100),
    Interval("cmu0000000503", "oliver", "dev", 80),
    Interval("cmu0000000504", "maher", "train", 100, pose_offset=FAR),
    Interval("cmu0000000505", "maher", "test", 80, pose_offset=FAR),
]
MASKED = (0, 7, 8, 9)  # neck, nose, eyes: not model joints (notes pats §3.8)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("pats") / "data", INTERVALS, seed=3)


@pytest.fixture(scope="module")
def dm(root: Path, tmp_path_factory: pytest.TempPathFactory) -> PatsDataModule:
    return setup(root, tmp_path_factory.mktemp("cache"))


def setup(root: Path, cache: Path, **kwargs) -> PatsDataModule:
    kwargs = {"pose_clusters": K, "window_hop": 5, "seed": 7, **kwargs}
    dm = PatsDataModule(str(root), [["oliver"], ["oliver", "maher"]], cache_dir=str(cache), **kwargs)
    dm.setup()
    return dm


def raw_features(root: Path, speaker: str, interval_id: str, start: int) -> np.ndarray:
    """(64, 240) features of one window straight from the file: the 48 model joints' neck-relative
    pixels [x…, y…], their velocity (first frame 0) and each joint's speed."""
    with h5py.File(root / "processed" / speaker / f"{interval_id}.h5", "r") as h5:
        pose = h5["pose/normalize"][start : start + 64]
    keep = [j for j in range(52) if j not in MASKED]
    flat = np.concatenate([pose[:, keep], pose[:, [52 + j for j in keep]]], axis=1)
    velocity = np.vstack([np.zeros((1, 96)), np.diff(flat, axis=0)])
    speed = np.sqrt(velocity[:, :48] ** 2 + velocity[:, 48:] ** 2)
    return np.concatenate([flat, velocity, speed], axis=1)


def nearest(features: np.ndarray, centers: np.ndarray) -> np.ndarray:
    distance = ((features[:, None, :] - centers[None].astype(np.float64)) ** 2).sum(-1)
    return distance.argmin(-1)


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_every_frame_is_labelled_with_its_nearest_center_of_the_raw_features(root, dm, split):
    dataset = dm.datasets[split]
    batch = dataset.__getitems__(list(range(len(dataset))))
    assert batch["cluster"].dtype == torch.int64 and batch["cluster"].shape == batch["pose"].shape[:2]
    centers = dm.pose_clusters.centers
    for labels, index in zip(batch["cluster"], batch["index"], strict=True):
        style, interval_id, start = dataset.window_info(int(index))
        features = raw_features(root, dm.speakers[style], interval_id, start)
        np.testing.assert_array_equal(labels.numpy(), nearest(features, centers))
    assert dm.spec.pose_clusters == K


def test_centers_come_from_the_source_speakers_training_poses_only(dm):
    centers = dm.pose_clusters.centers
    assert centers.shape == (K, 5 * 48)
    assert np.abs(centers[:, :96]).max() < FAR / 4  # none among maher's far-away poses
    maher = dm.datasets["train"].__getitems__([len(dm.datasets["train"]) - 1])
    assert maher["style"].item() == 1 and maher["cluster"].shape == (1, 64)


def test_a_second_setup_reuses_the_cached_centers_and_other_inputs_refit(root, tmp_path):
    first = setup(root, tmp_path)
    (path,) = tmp_path.glob("pose-clusters-*.npy")
    before = path.stat()
    second = setup(root, tmp_path)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    np.testing.assert_array_equal(second.pose_clusters.centers, first.pose_clusters.centers)
    setup(root, tmp_path, seed=8)
    setup(root, tmp_path, pose_clusters=2)
    assert len(list(tmp_path.glob("pose-clusters-*.npy"))) == 3


def test_centers_travel_in_the_checkpoint_and_a_different_fit_is_refused(tmp_path, synth_root):
    from tiny_runs import tiny_run_args

    run_cli(["fit", *tiny_run_args(tmp_path, synth_root), "--data.pose_clusters", "2"])
    meta = read_run(tmp_path / "runs" / "tiny" / "version_0").metadata
    assert meta.data.pose_clusters == 2
    dm = PatsDataModule(str(synth_root), ["ava", "ben"], window_hop=16, pose_clusters=2,
                        cache_dir=str(tmp_path / "cache"))  # fmt: skip
    dm.setup()
    np.testing.assert_array_equal(meta.pose_clusters.centers, dm.pose_clusters.centers)
    exported = RunMetadata.from_dict(meta.to_dict(tensors=False), "config.json")  # an export's JSON
    np.testing.assert_array_equal(exported.pose_clusters.centers, meta.pose_clusters.centers)
    meta.check_pose_clusters(dm.pose_clusters, "best.ckpt")
    moved = PoseClusters(dm.pose_clusters.centers + 1.0)
    with pytest.raises(CheckpointError, match="centers fitted on this data differ"):
        meta.check_pose_clusters(moved, "best.ckpt")
    with pytest.raises(CheckpointError, match=r"trained with centers \(2, 240\), the data has None"):
        meta.check_pose_clusters(None, "best.ckpt")
    with pytest.raises(CheckpointError, match="pose cluster centers have shape None, expected"):
        RunMetadata.from_dict({**meta.to_dict(tensors=True), "pose_clusters": None}, "best.ckpt")
