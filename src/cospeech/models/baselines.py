"""Reference points without learning: what a metric scores when the model ignores the speech.

Each baseline follows the generator contract (``cospeech.models.interface``: it declares ``audio (B, T, F)``
and returns a ``GeneratorOutput`` with poses ``(B, T, 2J)``), and is fitted in one pass over training
windows by ``fit(poses (N, T, 2J), audio (N, T, F), *, seed)``, so evaluation finds and fits every
registered baseline the same way. What it
keeps lives in buffers, so ``state_dict`` saves it and a model rebuilt from its config (which records the
buffer sizes) loads it. Built directly from a default config, a baseline holds zeros until loaded.

* ``mean_pose``: the per-feature mean training pose at every frame (the L1-optimal constant is the median;
  the mean is the usual reported baseline).
* ``random_window``: real training windows drawn at random, so motion statistics are right and the
  speech is ignored.
* ``nearest_neighbour``: the poses of the training window whose audio is closest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch

from cospeech.audio import MEL400_BINS
from cospeech.models.interface import Generator, GeneratorOutput
from cospeech.models.registry import raise_if_invalid, range_problems, register_model
from cospeech.skeletons import PATS48

AudioFeature = Literal["flat", "pooled"]


def _check_training_data(poses: torch.Tensor, audio: torch.Tensor) -> None:
    """Both ``(N, T, ·)`` with the same N and T, at least one window."""
    if poses.dim() != 3 or audio.dim() != 3 or poses.shape[:2] != audio.shape[:2] or poses.shape[0] < 1:
        raise ValueError(
            f"fit needs poses (N, T, 2J) and audio (N, T, F) with the same N ≥ 1 and T, "
            f"got poses {tuple(poses.shape)} and audio {tuple(audio.shape)}"
        )


def _tile_windows(windows: torch.Tensor, length: int) -> torch.Tensor:
    """``(B, n, T_w, 2J)`` consecutive windows → ``(B, length, 2J)``, cut after ``length ≤ n·T_w`` frames."""
    B, n, T_w, D = windows.shape
    return windows.reshape(B, n * T_w, D)[:, :length]


WINDOW_SIZES = {"pose_dim": 1, "num_windows": 1, "window": 1}
"""Lower bounds of the buffer sizes shared by the window baselines."""


@dataclass(frozen=True)
class MeanPoseConfig:
    """Mean-pose baseline."""

    pose_dim: int = 2 * PATS48.num_joints
    """Pose features per frame, 2J."""

    def __post_init__(self) -> None:
        raise_if_invalid(self, range_problems(self, {"pose_dim": 1}))


@register_model("mean_pose", config=MeanPoseConfig, kind="baseline")
class MeanPoseBaseline(Generator):
    """Predicts the mean training pose ``(2J,)`` for every frame, whatever the speech."""

    def __init__(self, config: MeanPoseConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MeanPoseConfig()
        self.register_buffer("mean", torch.zeros(config.pose_dim))

    @classmethod
    def fit(cls, poses: torch.Tensor, audio: torch.Tensor, *, seed: int = 0) -> MeanPoseBaseline:
        """Mean of ``poses (N, T, 2J)`` over windows and frames; ``audio (N, T, F)`` is only checked and
        ``seed`` is unused (nothing is random)."""
        _check_training_data(poses, audio)
        model = cls(MeanPoseConfig(pose_dim=poses.shape[-1])).to(poses.device)
        model.mean.copy_(poses.mean(dim=(0, 1)))
        return model

    def forward(self, audio: torch.Tensor) -> GeneratorOutput:
        """``audio (B, T, F)`` → ``(B, T, 2J)``, the mean pose repeated."""
        B, T = audio.shape[:2]
        return GeneratorOutput(self.mean.repeat(B, T, 1))


@dataclass(frozen=True)
class RandomWindowConfig:
    """Random-window baseline; ``fit`` sets the sizes from the data."""

    pose_dim: int = 2 * PATS48.num_joints
    """Pose features per frame, 2J."""
    num_windows: int = 1
    """Training windows N kept."""
    window: int = 64
    """Frames per training window T_w."""
    seed: int = 0
    """Seed of the generator that draws the windows, so a run can be repeated."""

    def __post_init__(self) -> None:
        raise_if_invalid(self, range_problems(self, WINDOW_SIZES))


@register_model("random_window", config=RandomWindowConfig, kind="baseline")
class RandomWindowBaseline(Generator):
    """Returns randomly drawn training pose windows, independent of the speech.

    An output longer than ``T_w`` frames is a sequence of independently drawn windows, cut to length;
    a shorter one is the start of a window. Draws come from ``generator`` if given, else from the model's
    own CPU generator seeded with ``config.seed`` (its position is not part of ``state_dict``: a reloaded
    model starts again from the seed).
    """

    def __init__(self, config: RandomWindowConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RandomWindowConfig()
        self.register_buffer("windows", torch.zeros(config.num_windows, config.window, config.pose_dim))
        self.generator = torch.Generator().manual_seed(config.seed)

    @classmethod
    def fit(cls, poses: torch.Tensor, audio: torch.Tensor, *, seed: int = 0) -> RandomWindowBaseline:
        """Keep ``poses (N, T, 2J)``; ``audio (N, T, F)`` is only checked."""
        _check_training_data(poses, audio)
        N, T, D = poses.shape
        model = cls(RandomWindowConfig(pose_dim=D, num_windows=N, window=T, seed=seed)).to(poses.device)
        model.windows.copy_(poses)
        return model

    def forward(self, audio: torch.Tensor, *, generator: torch.Generator | None = None) -> GeneratorOutput:
        """``audio (B, T, F)`` → ``(B, T, 2J)`` from random windows; only the shape of ``audio`` is used."""
        B, T = audio.shape[:2]
        N, T_w, _ = self.windows.shape
        gen = generator if generator is not None else self.generator
        index = torch.randint(N, (B, -(-T // T_w)), generator=gen, device=gen.device)
        poses = _tile_windows(self.windows[index.to(self.windows.device)], T)  # (B, n, T_w, 2J) → (B, T, 2J)
        return GeneratorOutput(poses)


@dataclass(frozen=True)
class NearestNeighbourConfig:
    """Nearest-neighbour baseline; ``fit`` sets the sizes from the data."""

    pose_dim: int = 2 * PATS48.num_joints
    """Pose features per frame, 2J."""
    n_mels: int = MEL400_BINS
    """Mel bins F of the audio."""
    num_windows: int = 1
    """Training windows N kept."""
    window: int = 64
    """Frames per training window T_w; queries are matched in chunks of this length."""
    feature: AudioFeature = "flat"
    """Audio key of a window: ``flat``, all ``T_w · F`` values (matches timing; keeps ``N · T_w · F``
    floats), or ``pooled``, per-bin mean and standard deviation over the window (``2F`` values; matches
    the overall sound only). Each key dimension is then standardised with the training statistics."""
    chunk_size: int = 4096
    """Training windows compared per step: the search holds ``queries × chunk_size`` distances at most."""

    def __post_init__(self) -> None:
        problems = range_problems(self, {**WINDOW_SIZES, "n_mels": 1})
        if self.feature not in get_args(AudioFeature):
            problems.append(
                f"feature must be one of {', '.join(get_args(AudioFeature))}, got {self.feature!r}"
            )
        if self.chunk_size < 1:
            problems.append(f"chunk_size must be ≥ 1, got {self.chunk_size}")
        raise_if_invalid(self, problems)

    @property
    def key_dim(self) -> int:
        """Length of one audio key."""
        return self.window * self.n_mels if self.feature == "flat" else 2 * self.n_mels


@register_model("nearest_neighbour", config=NearestNeighbourConfig, kind="baseline")
class NearestNeighbourBaseline(Generator):
    """Returns the poses of the training window whose audio key is nearest (Euclidean) to the query's.

    The query audio is cut into consecutive ``T_w``-frame chunks (the last one padded by repeating its
    final frame); each chunk is matched on its own, and the matched windows are joined and cut to ``T``.
    """

    def __init__(self, config: NearestNeighbourConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or NearestNeighbourConfig()
        self.register_buffer("poses", torch.zeros(config.num_windows, config.window, config.pose_dim))
        self.register_buffer("keys", torch.zeros(config.num_windows, config.key_dim))
        self.register_buffer("key_mean", torch.zeros(config.key_dim))
        self.register_buffer("key_std", torch.ones(config.key_dim))

    @classmethod
    def fit(
        cls,
        poses: torch.Tensor,
        audio: torch.Tensor,
        *,
        seed: int = 0,
        feature: AudioFeature = "flat",
        chunk_size: int = 4096,
    ) -> NearestNeighbourBaseline:
        """Keep ``poses (N, T, 2J)`` and the standardised keys of ``audio (N, T, F)``; ``seed`` is unused
        (the search is exact)."""
        _check_training_data(poses, audio)
        N, T, D = poses.shape
        config = NearestNeighbourConfig(
            pose_dim=D,
            n_mels=audio.shape[-1],
            num_windows=N,
            window=T,
            feature=feature,
            chunk_size=chunk_size,
        )
        model = cls(config).to(poses.device)
        keys = model._raw_keys(audio)
        model.key_mean.copy_(keys.mean(dim=0))
        # A constant dimension (std 0) carries no information: dividing by 1 leaves it at 0 after centring.
        std = keys.std(dim=0, correction=0)
        model.key_std.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        model.keys.copy_((keys - model.key_mean) / model.key_std)
        model.poses.copy_(poses)
        return model

    def forward(self, audio: torch.Tensor) -> GeneratorOutput:
        """``audio (B, T, F)`` → ``(B, T, 2J)``: matched training poses."""
        B, T, n_mels = audio.shape
        T_w = self.config.window
        n = -(-T // T_w)
        if n * T_w > T:
            audio = torch.cat((audio, audio[:, -1:].expand(B, n * T_w - T, n_mels)), dim=1)
        chunks = audio.reshape(B * n, T_w, n_mels)
        index = self._nearest((self._raw_keys(chunks) - self.key_mean) / self.key_std)  # (B·n,)
        return GeneratorOutput(_tile_windows(self.poses[index].view(B, n, T_w, -1), T))

    def _raw_keys(self, audio: torch.Tensor) -> torch.Tensor:
        """``audio (M, T_w, F)`` → unstandardised keys ``(M, key_dim)``."""
        if self.config.feature == "flat":
            return audio.reshape(audio.shape[0], -1)
        return torch.cat((audio.mean(dim=1), audio.std(dim=1, correction=0)), dim=1)

    def _nearest(self, queries: torch.Tensor) -> torch.Tensor:
        """``queries (M, key_dim)`` → index ``(M,)`` of the nearest key, ``chunk_size`` keys at a time."""
        best = torch.full((queries.shape[0],), float("inf"), device=queries.device)
        best_index = torch.zeros(queries.shape[0], dtype=torch.long, device=queries.device)
        for start in range(0, self.keys.shape[0], self.config.chunk_size):
            distance, index = torch.cdist(queries, self.keys[start : start + self.config.chunk_size]).min(
                dim=1
            )
            closer = distance < best
            best = torch.where(closer, distance, best)
            best_index = torch.where(closer, index + start, best_index)
        return best_index
