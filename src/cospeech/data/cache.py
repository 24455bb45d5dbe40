"""Window cache: the first pass over a speaker's split writes contiguous arrays; later runs memory-map them.

One directory per (speaker, split, keys, window spec, file fingerprints) under the cache root::

    <cache_root>/<speaker>-<split>-<hash16>/
        <key>.npy        stored frames of every usable interval, concatenated: (frames, width) float32
        starts.npz       per key, the (N,) start offset of each window in that key's array
        index.json       interval ids, and per window its interval and first pose frame

The hash covers every input (file sizes and modification times included), so a changed corpus or spec
gets a new directory instead of silently reusing stale arrays. Directories are built under a temporary
name and renamed into place, so an interrupted build never looks complete.

Pose keys are stored as the corpus' model joints (`Corpus.to_model_pose`; ``pats48`` for PATS) in the flat
``[x…, y…]`` layout; in ``"exact"`` audio mode ``audio/*`` keys are stored already aligned to the pose clock
(see ``windows``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cospeech.data.corpus import Corpus
from cospeech.data.windows import WindowSpec, align_to_pose_clock, audio_clock
from cospeech.errors import DataError
from cospeech.files import atomic_write

CACHE_FORMAT = 1


def _file_name(key: str) -> str:
    return key.replace("/", "__") + ".npy"


@dataclass
class SplitCache:
    """Every window of one speaker and split, memory-mapped."""

    directory: Path
    spec: WindowSpec
    arrays: dict[str, np.ndarray]
    starts: dict[str, np.ndarray]
    interval_ids: list[str]
    window_interval: np.ndarray
    window_frame: np.ndarray

    def __len__(self) -> int:
        return len(self.window_interval)

    def gather(self, key: str, windows: np.ndarray) -> np.ndarray:
        """Windows ``windows`` (n,) of ``key`` as one array (n, T, width); one fancy-index read."""
        window, stride = self.spec.geometry(key)
        offsets = np.arange(0, window, stride, dtype=np.int64)[: self.spec.frames]
        return self.arrays[key][self.starts[key][windows][:, None] + offsets]

    @classmethod
    def open(cls, directory: Path, spec: WindowSpec) -> SplitCache:
        index = json.loads((directory / "index.json").read_text())
        with np.load(directory / "starts.npz") as starts:
            starts_by_key = {k: starts[_file_name(k)] for k in index["keys"]}
        return cls(
            directory=directory,
            spec=spec,
            arrays={k: np.load(directory / _file_name(k), mmap_mode="r") for k in index["keys"]},
            starts=starts_by_key,
            interval_ids=index["interval_ids"],
            window_interval=np.asarray(index["window_interval"], dtype=np.int64),
            window_frame=np.asarray(index["window_frame"], dtype=np.int64),
        )


def cache_key(corpus: Corpus, speaker: str, split: str, keys: Sequence[str], spec: WindowSpec) -> str:
    files = []
    for interval_id in corpus.interval_ids(speaker, split):
        path = corpus.interval_path(speaker, interval_id)
        stat = path.stat() if path.is_file() else None
        files.append([interval_id, stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1])
    payload = {"format": CACHE_FORMAT, "keys": list(keys), "spec": asdict(spec), "files": files}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_split(
    corpus: Corpus,
    speaker: str,
    split: str,
    keys: Sequence[str],
    spec: WindowSpec,
    cache_root: str | Path,
) -> SplitCache:
    """The cached windows of ``speaker``/``split``, built on first use. ``keys[0]`` must be a pose key:
    its NaN frames decide which windows are skipped."""
    if not corpus.is_pose_key(keys[0]):
        raise DataError(
            f"{corpus.root}: the first cached key must be a {corpus.format} pose key, got {keys[0]!r}"
        )
    directory = Path(cache_root) / f"{speaker}-{split}-{cache_key(corpus, speaker, split, keys, spec)}"
    if not (directory / "index.json").is_file():
        directory.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(directory) as tmp:
            _build(corpus, speaker, split, list(keys), spec, Path(tmp))
    return SplitCache.open(directory, spec)


def _build(corpus: Corpus, speaker: str, split: str, keys: list[str], spec: WindowSpec, out: Path) -> None:
    out.mkdir(parents=True)
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    starts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    offsets = dict.fromkeys(keys, 0)
    interval_ids: list[str] = []
    window_interval: list[np.ndarray] = []
    window_frame: list[np.ndarray] = []
    for interval_id in corpus.interval_ids(speaker, split):
        arrays = _prepare(corpus, speaker, interval_id, keys, spec)
        count = spec.count({k: len(a) for k, a in arrays.items()})
        if count <= 0:
            continue
        pose_starts = spec.starts(keys[0], count)
        bad_frames = np.isnan(arrays[keys[0]]).any(axis=1)
        covered = np.cumsum(np.concatenate(([0], bad_frames.astype(np.int64))))
        usable = covered[pose_starts + spec.frames] - covered[pose_starts] == 0
        if not usable.any():
            continue
        for key, array in arrays.items():
            chunks[key].append(array)
            starts[key].append(spec.starts(key, count)[usable] + offsets[key])
            offsets[key] += len(array)
        window_interval.append(np.full(int(usable.sum()), len(interval_ids)))
        window_frame.append(pose_starts[usable])
        interval_ids.append(interval_id)
    for key in keys:
        data = np.concatenate(chunks[key]) if chunks[key] else np.zeros((0, 1), np.float32)
        np.save(out / _file_name(key), np.ascontiguousarray(data, dtype=np.float32))
    np.savez(
        out / "starts.npz",
        **{_file_name(k): np.concatenate(starts[k]) if starts[k] else np.zeros(0, np.int64) for k in keys},
    )
    index = {
        "keys": keys,
        "interval_ids": interval_ids,
        "window_interval": np.concatenate(window_interval).tolist() if window_interval else [],
        "window_frame": np.concatenate(window_frame).tolist() if window_frame else [],
    }
    (out / "index.json").write_text(json.dumps(index))


def _prepare(
    corpus: Corpus, speaker: str, interval_id: str, keys: list[str], spec: WindowSpec
) -> dict[str, np.ndarray]:
    """One interval's arrays as the cache stores them (model joints; audio on the pose clock if exact)."""
    raw = corpus.read(speaker, interval_id, keys)
    n_pose = len(raw[keys[0]])
    out = {}
    for key, array in raw.items():
        if corpus.is_pose_key(key):
            out[key] = corpus.to_model_pose(key, array)
        elif key.startswith("audio/") and spec.stored_key_is_aligned(key):
            if len(array) == 0:
                raise DataError(f"{corpus.interval_path(speaker, interval_id)}: {key} has no frames")
            rate, offset = audio_clock(key, len(array), n_pose)
            out[key] = align_to_pose_clock(array, n_pose, rate=rate, offset=offset)
        else:
            out[key] = array
    return out
