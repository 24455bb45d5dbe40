"""Test data for the metrics (imported by conftest.py and by the DDP workers): seeded smooth random poses in
both spaces, and a tiny FGD extractor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cospeech.data.poses import joints_to_flat
from cospeech.metrics import GestureMetricSuite
from cospeech.skeletons import PATS48

FEATURES = 2 * PATS48.num_joints
LATENT = 4


class TinyEncoder(nn.Module):
    """A pose-sequence extractor with dropout, so a wrong train/eval mode changes the features."""

    def __init__(self) -> None:
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.proj = nn.Linear(FEATURES, LATENT)

    def encode(self, poses: torch.Tensor) -> torch.Tensor:
        """``(B, T, 2J)`` → ``(B, LATENT)``."""
        return self.proj(self.dropout(poses).mean(dim=1))


def make_pose_data(batch: int = 8, frames: int = 24, seed: int = 0) -> dict[str, object]:
    """Pixel poses ``(B, T, J, 2)`` as random walks around a random rest pose (speeds of a few to tens of
    px/frame), their z-space versions ``(B, T, 2J)`` float32, the normaliser statistics, per-sequence
    audio beat times and GT nose and eyes ``(B, T, 3, 2)`` pixels (high above the body, so the reference
    PCK box differs from ours)."""
    rng = np.random.default_rng(seed)
    joints = PATS48.num_joints
    rest = rng.normal(0.0, 80.0, size=(1, 1, joints, 2))
    target_px = rest + np.cumsum(rng.normal(0.0, 4.0, size=(batch, frames, joints, 2)), axis=1)
    preds_px = target_px + np.cumsum(rng.normal(0.0, 3.0, size=target_px.shape), axis=1)
    flat = joints_to_flat(target_px).reshape(-1, 2 * joints)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    beats = [np.sort(rng.uniform(0.0, frames / 15, size=rng.integers(1, 5))) for _ in range(batch)]
    face = np.array([[0.0, -400.0], [-30.0, -430.0], [30.0, -430.0]])  # nose, REye, LEye
    box_joints = face + rng.normal(0.0, 3.0, size=(batch, frames, 3, 2))
    return {
        "preds": torch.tensor((joints_to_flat(preds_px) - mean) / std, dtype=torch.float32),
        "target": torch.tensor((joints_to_flat(target_px) - mean) / std, dtype=torch.float32),
        "mean": mean,
        "std": std,
        "beats": beats,
        "box_joints": torch.tensor(box_joints),
    }


def full_suite(data: dict[str, object], encoder: nn.Module, centres: np.ndarray) -> GestureMetricSuite:
    """A suite with every optional metric enabled."""
    return GestureMetricSuite(
        data["mean"],
        data["std"],
        extractor=encoder,
        extractor_features=LATENT,
        extractor_name="tiny",
        cluster_centres=centres,
        beat_align=True,
        reference_pck=True,
    )


def update_in_chunks(suite: GestureMetricSuite, data: dict[str, object], sizes: list[int]) -> None:
    """Feed the data in consecutive batches of the given sizes."""
    start = 0
    for size in sizes:
        rows = slice(start, start + size)
        suite.update(data["preds"][rows], data["target"][rows], data["beats"][rows], data["box_joints"][rows])
        start += size


def assert_close(result: dict[str, float], expected: dict[str, float]) -> None:
    """Equal up to float64 summation order; FGD only to float32, the precision of the test extractor,
    whose matmuls round differently for different batch sizes."""
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        rel = 1e-5 if key == "FGD" else 1e-9
        assert result[key] == pytest.approx(value, rel=rel, abs=1e-12), key
