"""Per-frame pose cluster labels: k-means over pose, velocity and speed, as Mix-StAGE conditions on them.

The reference (notes cdiffgan §0, pats §3.8) fits sklearn's ``MiniBatchKMeans`` (8 clusters) on the raw,
un-normalised training poses of the source speaker (``speaker[0]``), each frame described by its pose
(2J), velocity (2J) and speed (J) — 240 values for the 48 model joints — and labels every frame of every
batch with its nearest center. Here:

* features are computed per window from the model-space poses of the window cache (neck-relative pixels,
  ``[x…, y…]``), velocity as `cospeech.data.poses.velocity` (first difference, ``v_0 = 0``) and speed as
  each joint's velocity norm;
* the fit uses the frames of every training window of the source speakers (overlapping windows counted
  once each, like the normalisation statistics), or a seeded draw of `MAX_FIT_FRAMES` frames' worth of
  windows when there are more;
* the centers are cached under the cache root as ``pose-clusters-<hash16>.npy``, the hash taken over the
  source caches' content ids, K, the seed and the feature recipe, so a second set-up reuses them (as the
  reference reuses ``preprocessing/kmeans/*.h5``, but never a stale file).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cospeech.data.cache import SplitCache
from cospeech.data.poses import velocity
from cospeech.errors import ConfigError, DataError
from cospeech.files import OutputError, atomic_write

FEATURE_RECIPE = "pose,velocity(v0=0),speed"
"""What one frame's clustering features are; part of the cache hash."""
MAX_FIT_FRAMES = 200_000
"""Frames the k-means fit sees at most (≈ 190 MB of float32 features for 48 joints)."""
FIT_CHUNK_WINDOWS = 1024
"""Windows read from the cache at a time while collecting features."""


def cluster_features(poses: np.ndarray) -> np.ndarray:
    """Per-frame clustering features of pose windows.

    Parameters
    ----------
    poses : np.ndarray [shape=(B, T, 2J)], raw model-space poses, flat ``[x…, y…]`` (pixels).

    Returns
    -------
    features : np.ndarray [shape=(B, T, 5J)], float64: pose (2J), velocity (2J, ``v_0 = 0``) and speed
        (J, per-joint ‖velocity‖).
    """
    poses = np.asarray(poses, dtype=np.float64)
    joints = poses.shape[-1] // 2
    v = velocity(poses)
    speed = np.hypot(v[..., :joints], v[..., joints:])
    return np.concatenate((poses, v, speed), axis=-1)


@dataclass(frozen=True, eq=False)
class PoseClusters:
    """Fitted k-means centers of `cluster_features` and the labels they give."""

    centers: np.ndarray
    """(K, 5J) float32 centers, in the raw units of the features."""

    def __post_init__(self) -> None:
        if self.centers.ndim != 2 or len(self.centers) < 1 or self.centers.shape[1] % 5:
            raise ConfigError(f"pose cluster centers have shape {self.centers.shape}; expected (K, 5·J)")

    @property
    def k(self) -> int:
        return len(self.centers)

    def labels(self, poses: np.ndarray) -> np.ndarray:
        """(B, T, 2J) raw model-space poses → (B, T) int64 index of each frame's nearest center
        (squared Euclidean distance over the features)."""
        x = cluster_features(poses)
        c = self.centers.astype(np.float64)
        distance = (x * x).sum(-1, keepdims=True) - 2 * x @ c.T + (c * c).sum(-1)
        return distance.argmin(-1).astype(np.int64)

    def tensor(self) -> torch.Tensor:
        """The centers as a float32 tensor (checkpoints)."""
        return torch.from_numpy(self.centers.copy())

    @classmethod
    def from_tensor(cls, centers: torch.Tensor | Sequence) -> PoseClusters:
        return cls(np.asarray(torch.as_tensor(centers, dtype=torch.float32).numpy()))


def clusters_key(caches: Sequence[SplitCache], k: int, seed: int) -> str:
    """Hash of everything the fitted centers depend on: which windows (the caches' content-addressed
    directory names), K, the seed and the feature recipe."""
    payload = {
        "caches": [c.directory.name for c in caches],
        "k": k,
        "seed": seed,
        "features": FEATURE_RECIPE,
        "max_frames": MAX_FIT_FRAMES,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def fit_pose_clusters(
    caches: Sequence[SplitCache], pose_key: str, k: int, seed: int, cache_root: str | Path
) -> PoseClusters:
    """The K centers fitted on the pose windows ``pose_key`` of ``caches`` (the source speakers'
    training caches), read from ``cache_root`` if an earlier set-up fitted them.

    Raises
    ------
    ConfigError : K < 1.
    DataError : fewer frames than K.
    """
    if type(k) is not int or k < 1:
        raise ConfigError(f"pose_clusters={k!r} must be an integer ≥ 1 to fit")
    path = Path(cache_root) / f"pose-clusters-{clusters_key(caches, k, seed)}.npy"
    if path.is_file():
        return PoseClusters(np.load(path))
    from sklearn.cluster import MiniBatchKMeans  # slow import: only when fitting

    features = _fit_features(caches, pose_key, seed)
    if len(features) < k:
        names = ", ".join(c.directory.name for c in caches) or "no speaker"
        raise DataError(
            f"cannot fit {k} pose clusters on {len(features)} frames of training windows of {names}"
        )
    kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048).fit(features)
    clusters = PoseClusters(kmeans.cluster_centers_.astype(np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(path, replace=False) as tmp:
            np.save(tmp, clusters.centers)
    except OutputError:
        # another process (a DDP rank) saved the same fit first: its file is what this run uses
        if not path.is_file():
            raise
        return PoseClusters(np.load(path))
    return clusters


def _fit_features(caches: Sequence[SplitCache], pose_key: str, seed: int) -> np.ndarray:
    """(N, 5J) float32 features of every window's frames, or of a seeded draw of windows totalling at most
    `MAX_FIT_FRAMES` frames."""
    offsets = np.cumsum([0] + [len(c) for c in caches])
    chosen = np.arange(offsets[-1])
    keep = max(MAX_FIT_FRAMES // caches[0].spec.frames, 1) if caches else 0
    if len(chosen) > keep:
        chosen = np.sort(np.random.default_rng(seed).choice(len(chosen), keep, replace=False))
    parts = []
    for i, cache in enumerate(caches):
        mine = chosen[(chosen >= offsets[i]) & (chosen < offsets[i + 1])] - offsets[i]
        for start in range(0, len(mine), FIT_CHUNK_WINDOWS):
            features = cluster_features(cache.gather(pose_key, mine[start : start + FIT_CHUNK_WINDOWS]))
            parts.append(features.reshape(-1, features.shape[-1]).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
