"""Z-normalisation statistics, as the reference trainer computes them (notes §3.8).

Mean and variance are taken over all **training windows** (frames in overlapping windows counted once per
window), per feature; ``z = (x − μ) / σ`` with σ = 0 replaced by 1e-8. Three ways to choose whose windows
define the statistics, all stored per style id so the rest of the code has one path:

* ``pooled``: all training speakers together (Mix-StAGE with a flat speaker list);
* ``source``: the source speakers only (C-DiffGAN: every later speaker uses oliver's statistics);
* ``per_speaker``: each speaker its own (Speech Drives Templates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import torch

from cospeech.data.cache import SplitCache
from cospeech.errors import ConfigError, DataError

NormalizationMode = Literal["pooled", "source", "per_speaker"]
NORMALIZATION_MODES = ("pooled", "source", "per_speaker")
STD_FLOOR = 1e-8
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Moments:
    """Window-weighted first and second moments of one key: sums, not means, so they add up."""

    count: float
    total: np.ndarray
    total_sq: np.ndarray

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.count + other.count, self.total + other.total, self.total_sq + other.total_sq)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count
        var = np.maximum(self.total_sq / self.count - mean**2, 0.0)
        std = np.sqrt(var)
        return mean, np.where(std == 0, STD_FLOOR, std)


def window_moments(cache: SplitCache, key: str) -> Moments:
    """Moments of ``key`` over every window of ``cache``, each frame weighted by how many windows use it.

    Only frames some window uses are read, and frames holding NaN or ±inf are left out: the cache skips
    windows touching them, but the frames stay in its arrays, and one of them would make every sum NaN
    (0 · NaN = NaN in a weighted sum)."""
    window, stride = cache.spec.geometry(key)
    offsets = np.arange(0, window, stride, dtype=np.int64)[: cache.spec.frames]
    coverage = np.zeros(len(cache.arrays[key]), dtype=np.float64)
    np.add.at(coverage, (cache.starts[key][:, None] + offsets).ravel(), 1.0)
    used = np.flatnonzero(coverage)
    frames = np.asarray(cache.arrays[key][used], dtype=np.float64)  # (N, D)
    finite = np.isfinite(frames).all(axis=1)
    weight, frames = coverage[used][finite], frames[finite]
    return Moments(weight.sum(), weight @ frames, weight @ (frames * frames))


@dataclass
class Normalizer:
    """Per-style z-normalisation of named features (``pose``, ``audio``…). Rows of ``mean``/``std`` are
    indexed by style id: ``mean["pose"]`` is (S, D)."""

    mean: dict[str, torch.Tensor]
    std: dict[str, torch.Tensor]

    @classmethod
    def fit(
        cls,
        train: Mapping[str, SplitCache],
        keys: Mapping[str, str],
        sequence: Sequence[str],
        source: Sequence[str],
        mode: NormalizationMode,
    ) -> Normalizer:
        """Statistics for each speaker of ``sequence`` (style order) from the training caches.

        ``keys`` maps feature names to stored keys, e.g. ``{"pose": "pose/normalize"}``."""
        if mode not in NORMALIZATION_MODES:
            raise ConfigError(f"normalization={mode!r}; expected one of {NORMALIZATION_MODES}")
        mean: dict[str, torch.Tensor] = {}
        std: dict[str, torch.Tensor] = {}
        for name, key in keys.items():
            moments = {s: window_moments(train[s], key) for s in dict.fromkeys([*sequence, *source])}
            if mode == "per_speaker":
                groups = [[s] for s in sequence]
            else:
                shared = list(source) if mode == "source" else list(sequence)
                groups = [shared] * len(sequence)
            empty = sorted({s for group in groups for s in group if moments[s].count == 0})
            if any(all(moments[s].count == 0 for s in group) for group in groups):
                raise DataError(
                    f"no usable training windows of {key} for speaker(s) {empty}: cannot compute their "
                    f"{mode} normalisation statistics"
                )
            rows = [sum((moments[s] for s in group[1:]), moments[group[0]]).mean_std() for group in groups]
            mean[name] = torch.tensor(np.stack([m for m, _ in rows]), dtype=torch.float32)
            std[name] = torch.tensor(np.stack([s for _, s in rows]), dtype=torch.float32)
        return cls(mean, std)

    def normalize(self, name: str, x: ArrayT, style: ArrayT) -> ArrayT:
        """(B, T, D) raw → z, each row with its own style's statistics. NumPy in, NumPy out (the data
        path uses NumPy: single-threaded, so it never fights the training step for cores); tensors stay on
        their device."""
        mean, std = self._stats(name, x)
        return (x - mean[style, None]) / std[style, None]

    def denormalize(self, name: str, z: ArrayT, style: ArrayT) -> ArrayT:
        """(B, T, D) z → raw units (pixels for poses)."""
        mean, std = self._stats(name, z)
        return z * std[style, None] + mean[style, None]

    def _stats(self, name: str, like: ArrayT) -> tuple[ArrayT, ArrayT]:
        if name not in self.mean:
            raise ConfigError(f"no normalisation statistics for {name!r}; have {sorted(self.mean)}")
        if isinstance(like, np.ndarray):
            return self.mean[name].numpy(), self.std[name].numpy()
        return self.mean[name].to(like.device), self.std[name].to(like.device)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Flat tensors (``pose.mean`` …) for checkpoints and safetensors exports."""
        return {
            f"{n}.{stat}": t for stat, d in (("mean", self.mean), ("std", self.std)) for n, t in d.items()
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> Normalizer:
        mean = {k.removesuffix(".mean"): v for k, v in state.items() if k.endswith(".mean")}
        std = {k.removesuffix(".std"): v for k, v in state.items() if k.endswith(".std")}
        if mean.keys() != std.keys() or not mean:
            raise ConfigError(f"normaliser state has mismatched keys: {sorted(state)}")
        return cls(mean, std)
