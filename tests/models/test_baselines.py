"""Fitted baselines: what each predicts, reproducibility, any length, and save/load through the registry."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cospeech.audio import MEL400_BINS
from cospeech.errors import ConfigError
from cospeech.models import build_model, model_config
from cospeech.models.baselines import MeanPoseBaseline, NearestNeighbourBaseline, RandomWindowBaseline
from cospeech.skeletons import PATS48

POSE_DIM = 2 * PATS48.num_joints
N, WINDOW = 12, 16


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    """``poses (N, T, 2J)``, ``audio (N, T, F)``: distinct random windows."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, WINDOW, POSE_DIM, generator=g), torch.randn(N, WINDOW, MEL400_BINS, generator=g)


def _window_index(chunk: torch.Tensor, poses: torch.Tensor) -> int:
    """Index of the training window ``chunk (T', 2J)`` starts, or fail."""
    hits = [i for i in range(len(poses)) if torch.equal(poses[i, : len(chunk)], chunk)]
    assert hits, "output is not a training window"
    return hits[0]


def test_mean_pose(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    poses, audio = data
    model = MeanPoseBaseline.fit(poses, audio)
    out = model(torch.randn(3, 37, MEL400_BINS)).poses
    assert out.shape == (3, 37, POSE_DIM)
    torch.testing.assert_close(out, poses.mean(dim=(0, 1)).expand(3, 37, -1))


@pytest.mark.parametrize("frames", [1, WINDOW, 2 * WINDOW + 5])
def test_random_window_returns_training_windows(data: tuple[torch.Tensor, torch.Tensor], frames: int) -> None:
    poses, audio = data
    out = RandomWindowBaseline.fit(poses, audio)(torch.randn(4, frames, MEL400_BINS)).poses
    assert out.shape == (4, frames, POSE_DIM)
    for sample in out:
        for start in range(0, frames, WINDOW):  # longer outputs join independently drawn windows
            _window_index(sample[start : start + WINDOW], poses)


def test_random_window_is_reproducible(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    poses, audio = data
    query = torch.randn(8, WINDOW, MEL400_BINS)
    first, second = (
        RandomWindowBaseline.fit(poses, audio, seed=3),
        RandomWindowBaseline.fit(poses, audio, seed=3),
    )
    torch.testing.assert_close(first(query).poses, second(query).poses)
    other = RandomWindowBaseline.fit(poses, audio, seed=4)
    assert not torch.equal(first(query).poses, other(query).poses)
    explicit = [first(query, generator=torch.Generator().manual_seed(7)).poses for _ in range(2)]
    torch.testing.assert_close(*explicit)


@pytest.mark.parametrize("feature", ["flat", "pooled"])
def test_nearest_neighbour_finds_the_training_window(
    data: tuple[torch.Tensor, torch.Tensor], feature: str
) -> None:
    poses, audio = data
    model = NearestNeighbourBaseline.fit(poses, audio, feature=feature, chunk_size=5)  # 3 chunks of keys
    picks = [7, 2, 11]
    noisy = audio[picks] + 0.01 * torch.randn(3, WINDOW, MEL400_BINS)
    torch.testing.assert_close(model(noisy).poses, poses[picks])
    # A query two windows long is matched window by window.
    joined = torch.cat((audio[4], audio[9]))[None]
    torch.testing.assert_close(model(joined).poses, torch.cat((poses[4], poses[9]))[None])


@pytest.mark.parametrize("frames", [1, 37])
def test_nearest_neighbour_any_length(data: tuple[torch.Tensor, torch.Tensor], frames: int) -> None:
    poses, audio = data
    out = NearestNeighbourBaseline.fit(poses, audio)(torch.randn(2, frames, MEL400_BINS)).poses
    assert out.shape == (2, frames, POSE_DIM)
    for sample in out:
        for start in range(0, frames, WINDOW):
            _window_index(sample[start : start + WINDOW], poses)


def test_chunking_does_not_change_the_answer(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    poses, audio = data
    query = torch.randn(5, 3 * WINDOW, MEL400_BINS)
    small = NearestNeighbourBaseline.fit(poses, audio, chunk_size=1)
    whole = NearestNeighbourBaseline.fit(poses, audio, chunk_size=N)
    torch.testing.assert_close(small(query).poses, whole(query).poses)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("mean_pose", MeanPoseBaseline),
        ("random_window", RandomWindowBaseline),
        ("nearest_neighbour", NearestNeighbourBaseline),
    ],
)
def test_fitted_state_reloads_through_the_registry(
    data: tuple[torch.Tensor, torch.Tensor], name: str, cls: type
) -> None:
    poses, audio = data
    fitted = cls.fit(poses, audio)
    rebuilt = build_model(name, **dataclasses.asdict(fitted.config))
    rebuilt.load_state_dict(fitted.state_dict())
    query = torch.randn(3, 40, MEL400_BINS)
    torch.testing.assert_close(rebuilt(query).poses, fitted(query).poses)


def test_fit_rejects_mismatched_data(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    poses, audio = data
    with pytest.raises(ValueError, match="same N"):
        MeanPoseBaseline.fit(poses, audio[:5])
    with pytest.raises(ValueError, match="same N"):
        NearestNeighbourBaseline.fit(poses[:, :10], audio)


def test_config_rejects_unknown_feature() -> None:
    with pytest.raises(ConfigError, match="feature='mfcc' is not one of 'flat', 'pooled'"):
        model_config("nearest_neighbour", feature="mfcc")
