"""Window cache: the first pass over a speaker's split writes contiguous arrays; later runs memory-map them.

One directory per (speaker, split, keys, window spec, file fingerprints) under the cache root::

    <cache_root>/<speaker>-<split>-<hash16>/
        <key>.npy        stored frames of every usable interval, concatenated: (frames, width) float32
        starts.npz       per key, the (N,) start offset of each window in that key's array
        index.json       interval ids, per window its interval and first pose frame, and the drop report
        words.npz        with ``text/bert`` or ``text/w2v``: each interval's ``text/meta`` word timings
                         (`cospeech.data.text.WordTimings`), for one row per token

The hash covers every input (file sizes and modification times included), so a changed corpus or spec
gets a new directory instead of silently reusing stale arrays. Directories are built under a temporary
name and renamed into place, so an interrupted build never looks complete.

Pose keys are stored as the corpus' model joints (`Corpus.to_model_pose`; ``pats48`` for PATS) in the flat
``[x…, y…]`` layout, re-expressed in the run's pose representation (``representation``, e.g. SDT's
``hierarchical``: `cospeech.data.representation`; part of the hash), so everything reading the cache
(statistics, batches, baselines) sees one space; a key ``box_joints/<pose key>`` holds that pose key's
`Corpus.to_box_joints` (the GT
joints of the reference's PCK box, PATS: nose and eyes), on the pose clock. In ``"exact"`` audio mode
``audio/*`` keys are stored already aligned to the pose clock (see ``windows``) and cut where the audio
ends. With ``audio_level="utterance"`` audio keys are levelled
per interval (``cospeech.audio.normalize_level``) on their stored frames, before alignment, as inference
levels each input file; the option is part of the hash. ``text/*`` keys are on the pose clock already and
are stored as they are (``text/tokens`` ids as float32, exact below 2²⁴).

A registered audio feature (``cospeech.features``) that an interval does not store is computed from the
interval's speech (`Corpus.waveform`: its speech file decoded to 16 kHz, or SDT's npz audio) and put on
the model clock with its ``subframes`` (`cospeech.features.pose_clock`); its recipe and the speech files'
sizes and times are hashed.

Real data has holes. A window is skipped when it touches a frame holding NaN or ±inf in any cached key
(OpenPose's lost detections, ``-inf`` log-mel frames of exact digital silence unless levelling has mapped
them to its floor) or when it extends past the end of the audio. What was left out is counted per interval
in a `DropReport` (``SplitCache.report``), and `load_split` says it in one ``cospeech: …`` warning per
speaker and split.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cospeech.audio import AUDIO_LEVELS, AudioLevel, level_floor, normalize_level, speech_level
from cospeech.data.corpus import Corpus
from cospeech.data.representation import DEFAULT_REPRESENTATION, PoseRepresentation, make_representation
from cospeech.data.text import WordTimings, uses_word_timings
from cospeech.data.windows import (
    PATS_LOADER_AUDIO_RATES,
    POSE_FPS,
    WindowSpec,
    align_to_pose_clock,
    audio_clock,
    audio_coverage,
)
from cospeech.errors import ConfigError, DataError
from cospeech.features import get_feature, is_registered
from cospeech.files import OutputError, atomic_write

CACHE_FORMAT = 2  # 2: non-finite frames of every key and short audio drop windows; drop report
WORDS_FILE = "words.npz"
BOX_JOINTS_PREFIX = "box_joints/"
"""Cached key ``box_joints/<pose key>``: the corpus' box joints of that stored pose key. They only widen the
PCK box, so they never cost a window: a lost (non-finite) box joint is stored as 0, the neck, which the box
spans anyway."""
NAMED_INTERVALS = 5
"""Intervals named in a drop warning before "and N more"."""
MISREAD_TOLERANCE = 0.1
"""Relative difference between a recorded audio rate and the ``"pats"`` mode's constant that is reported
(103 Hz for 100 Hz ``log_mel_400`` is the reference's own calibration and stays quiet)."""


class DataWarning(UserWarning):
    """Data were left out (broken frames, short audio); the message says how much and where."""


@dataclass(frozen=True)
class IntervalDrops:
    """What one interval lost."""

    nonfinite_frames: dict[str, int] = field(default_factory=dict)
    """Per key, frames holding NaN or ±inf (pose frames for poses, feature frames for audio)."""
    nonfinite_windows: int = 0
    """Windows skipped because they touch such a frame."""
    short_audio_windows: int = 0
    """Windows the poses allow but the audio does not reach."""


@dataclass(frozen=True)
class DropReport:
    """Windows kept and left out of one speaker's split; ``intervals`` lists only intervals that lost
    something, by id."""

    windows: int = 0
    """Windows kept."""
    intervals: dict[str, IntervalDrops] = field(default_factory=dict)
    misread_rates: dict[str, float] = field(default_factory=dict)
    """Audio keys whose recorded rate (Hz, the value) the ``"pats"`` audio mode's constant misreads by
    more than `MISREAD_TOLERANCE` (windows then pair audio and poses of different durations)."""

    @property
    def nonfinite_frames(self) -> dict[str, int]:
        """Per key, non-finite frames over the whole split."""
        totals: dict[str, int] = {}
        for drops in self.intervals.values():
            for key, n in drops.nonfinite_frames.items():
                totals[key] = totals.get(key, 0) + n
        return totals

    @property
    def nonfinite_windows(self) -> int:
        return sum(d.nonfinite_windows for d in self.intervals.values())

    @property
    def short_audio_windows(self) -> int:
        return sum(d.short_audio_windows for d in self.intervals.values())

    @property
    def dropped_windows(self) -> int:
        return self.nonfinite_windows + self.short_audio_windows

    def message(self, speaker: str, split: str, spec: WindowSpec) -> str | None:
        """One ``cospeech: …`` line saying what was left out and where; None if nothing was."""
        if not self.intervals and not self.misread_rates:
            return None
        total = self.windows + self.dropped_windows
        parts = []
        for key, rate in sorted(self.misread_rates.items()):
            window, _ = spec.geometry(key)
            parts.append(
                f"{key} is stored at {rate:g} Hz but audio_rate_mode='pats' reads it at "
                f"{PATS_LOADER_AUDIO_RATES[key]} Hz, so each window pairs {window / rate:.2f} s of audio "
                f"with {spec.frames / POSE_FPS:.2f} s of poses (use audio_rate_mode='exact')"
            )
        frames = self.nonfinite_frames
        if frames:
            counts = ", ".join(f"{k}: {n}" for k, n in sorted(frames.items()))
            where = _name_intervals([i for i, d in self.intervals.items() if d.nonfinite_frames])
            parts.append(
                f"skipped {self.nonfinite_windows} of {total} windows touching non-finite frames "
                f"(NaN/inf frames {counts}; intervals {where})"
            )
        if self.short_audio_windows:
            where = _name_intervals([i for i, d in self.intervals.items() if d.short_audio_windows])
            parts.append(
                f"dropped {self.short_audio_windows} of {total} windows extending past the end of the "
                f"audio (intervals {where})"
            )
        return f"cospeech: {speaker}/{split}: " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "windows": self.windows,
            "intervals": {i: asdict(d) for i, d in self.intervals.items()},
            "misread_rates": self.misread_rates,
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> DropReport:
        intervals = {i: IntervalDrops(**d) for i, d in values["intervals"].items()}
        return cls(values["windows"], intervals, dict(values["misread_rates"]))


def _name_intervals(ids: list[str]) -> str:
    named = ", ".join(ids[:NAMED_INTERVALS])
    return named if len(ids) <= NAMED_INTERVALS else f"{named} and {len(ids) - NAMED_INTERVALS} more"


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
    report: DropReport = field(default_factory=DropReport)
    """Windows kept and what was left out, and where."""
    words: WordTimings | None = None
    """Word timings of the cached intervals (``interval_ids`` order) when a cached key uses them."""

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
            report=DropReport.from_json(index["report"]),
            words=WordTimings.load(directory / WORDS_FILE) if (directory / WORDS_FILE).is_file() else None,
        )


def cache_key(
    corpus: Corpus,
    speaker: str,
    split: str,
    keys: Sequence[str],
    spec: WindowSpec,
    audio_level: AudioLevel = "none",
    representation: str = DEFAULT_REPRESENTATION,
) -> str:
    ids = corpus.interval_ids(speaker, split)
    computed = _computed_keys(corpus, speaker, ids[0], keys) if ids else []
    files = []
    for interval_id in ids:
        paths = [corpus.interval_path(speaker, interval_id)]
        if computed:
            paths.append(corpus.raw_audio(speaker, interval_id))
        for path in paths:
            stat = path.stat() if path is not None and path.is_file() else None
            files.append([interval_id, stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1])
    payload = {"format": CACHE_FORMAT, "keys": list(keys), "spec": asdict(spec), "files": files}
    if computed:  # absent when every key is stored, so caches built before features were computed stay valid
        payload["computed"] = {key: get_feature(key).recipe for key in computed}
    if audio_level != "none":  # absent for "none", so caches built before the option stay valid
        payload["audio_level"] = audio_level
    if representation != DEFAULT_REPRESENTATION:  # likewise
        payload["representation"] = representation
    if any(uses_word_timings(k) for k in keys):  # caches of these keys made before words.npz are stale
        payload["words"] = 1
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_split(
    corpus: Corpus,
    speaker: str,
    split: str,
    keys: Sequence[str],
    spec: WindowSpec,
    cache_root: str | Path,
    *,
    audio_level: AudioLevel = "none",
    representation: str = DEFAULT_REPRESENTATION,
) -> SplitCache:
    """The cached windows of ``speaker``/``split``, built on first use. ``keys[0]`` must be a pose key:
    it defines the pose clock; ``audio_level`` says how audio keys are levelled (``AudioLevel``);
    ``representation`` names the pose representation pose keys are stored in (an unknown one, or one the
    corpus' model skeleton cannot take, is a `ConfigError`). Warns
    (`DataWarning`, one ``cospeech: …`` line) when windows were left out; the counts are in ``report`` of
    the result."""
    if audio_level not in AUDIO_LEVELS:
        raise DataError(f"audio_level={audio_level!r}; expected one of {', '.join(AUDIO_LEVELS)}")
    for key in keys:
        if audio_level == "utterance" and is_registered(key) and not get_feature(key).levellable:
            raise ConfigError(f"{key} is not a log-domain feature; use audio_level='none' with it")
    if not corpus.is_pose_key(keys[0]):
        raise DataError(
            f"{corpus.root}: the first cached key must be a {corpus.format} pose key, got {keys[0]!r}"
        )
    encoding = make_representation(representation, corpus.model_skeleton)
    digest = cache_key(corpus, speaker, split, keys, spec, audio_level, representation)
    directory = Path(cache_root) / f"{speaker}-{split}-{digest}"
    if not (directory / "index.json").is_file():
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_write(directory, replace=False) as tmp:
                _build(corpus, speaker, split, list(keys), spec, Path(tmp), audio_level, encoding)
        except OutputError:
            # Another process (a DDP rank) finished the same build first. The name is a hash of every
            # input, so its directory holds what ours would: use it, and never replace it under its reader.
            if not (directory / "index.json").is_file():
                raise
    cache = SplitCache.open(directory, spec)
    message = cache.report.message(speaker, split, spec)
    if message:
        warnings.warn(message, DataWarning, stacklevel=2)
    return cache


def _build(
    corpus: Corpus,
    speaker: str,
    split: str,
    keys: list[str],
    spec: WindowSpec,
    out: Path,
    audio_level: AudioLevel,
    encoding: PoseRepresentation,
) -> None:
    out.mkdir(parents=True)
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    starts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    offsets = dict.fromkeys(keys, 0)
    interval_ids: list[str] = []
    window_interval: list[np.ndarray] = []
    window_frame: list[np.ndarray] = []
    drops: dict[str, IntervalDrops] = {}
    misread: dict[str, float] = {}
    timed = any(uses_word_timings(k) for k in keys)
    words: list[np.ndarray | None] = []
    for interval_id in corpus.interval_ids(speaker, split):
        arrays, nonfinite = _prepare(corpus, speaker, interval_id, keys, spec, audio_level, encoding)
        for key in (k for k in keys if not spec.stored_key_is_aligned(k) and k not in misread):
            rate = corpus.frame_rate(speaker, interval_id, key)
            if rate is not None and abs(rate / PATS_LOADER_AUDIO_RATES[key] - 1) > MISREAD_TOLERANCE:
                misread[key] = rate
        lengths = {k: len(a) for k, a in arrays.items()}
        count = spec.count(lengths, clips=corpus.clips)
        without_audio = spec.count(
            {k: n for k, n in lengths.items() if not k.startswith("audio/")}, clips=corpus.clips
        )
        usable = np.ones(count, dtype=bool)
        for key, array in arrays.items():  # skip windows touching a non-finite frame of any key
            bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
            if count and bad.any():
                window, _ = spec.geometry(key)
                key_starts = spec.starts(key, count)
                seen = np.concatenate(([0], np.cumsum(bad, dtype=np.int64)))
                usable &= seen[key_starts + window] == seen[key_starts]
        lost = IntervalDrops(
            {k: n for k, n in nonfinite.items() if n}, int((~usable).sum()), max(without_audio - count, 0)
        )
        if lost != IntervalDrops():
            drops[interval_id] = lost
        if not usable.any():
            continue
        for key, array in arrays.items():
            chunks[key].append(array)
            starts[key].append(spec.starts(key, count)[usable] + offsets[key])
            offsets[key] += len(array)
        window_interval.append(np.full(int(usable.sum()), len(interval_ids)))
        window_frame.append(spec.starts(keys[0], count)[usable])
        interval_ids.append(interval_id)
        if timed:
            words.append(corpus.word_timings(speaker, interval_id))
    for key in keys:
        data = np.concatenate(chunks[key]) if chunks[key] else np.zeros((0, 1), np.float32)
        np.save(out / _file_name(key), np.ascontiguousarray(data, dtype=np.float32))
    np.savez(
        out / "starts.npz",
        **{_file_name(k): np.concatenate(starts[k]) if starts[k] else np.zeros(0, np.int64) for k in keys},
    )
    if timed:
        WordTimings.from_intervals(words).save(out / WORDS_FILE)
    kept = int(sum(len(w) for w in window_interval))
    index = {
        "keys": keys,
        "interval_ids": interval_ids,
        "window_interval": np.concatenate(window_interval).tolist() if window_interval else [],
        "window_frame": np.concatenate(window_frame).tolist() if window_frame else [],
        "report": DropReport(kept, drops, misread).to_json(),
    }
    (out / "index.json").write_text(json.dumps(index))


def _prepare(
    corpus: Corpus,
    speaker: str,
    interval_id: str,
    keys: list[str],
    spec: WindowSpec,
    audio_level: AudioLevel,
    encoding: PoseRepresentation,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """One interval's arrays as the cache stores them (model joints in ``encoding``'s space; audio levelled
    over the interval's stored frames in ``"utterance"`` mode; in exact mode audio on the pose clock, cut at
    the last pose frame the audio reaches), and per key its non-finite frames (counted after levelling, which
    maps ``-inf`` to the floor, and before alignment, so audio counts feature frames)."""
    stored = {key: key.removeprefix(BOX_JOINTS_PREFIX) for key in keys}
    computed = _computed_keys(corpus, speaker, interval_id, keys)
    raw = corpus.read(speaker, interval_id, [k for k in dict.fromkeys(stored.values()) if k not in computed])
    if computed:
        raw.update(_compute_features(corpus, speaker, interval_id, computed))
    n_pose = len(raw[keys[0]])
    out = {}
    nonfinite = {}
    for key in keys:
        array = raw[stored[key]]
        if stored[key] != key:
            box = corpus.to_box_joints(stored[key], array)
            array = np.where(np.isfinite(box), box, np.float32(0.0))
        elif corpus.is_pose_key(key):
            array = encoding.encode(corpus.to_model_pose(key, array))
        elif key.startswith("audio/") and audio_level == "utterance":
            array = _levelled(key, array)
        nonfinite[key] = int((~np.isfinite(array.reshape(len(array), -1)).all(axis=1)).sum())
        if key.startswith("audio/") and spec.stored_key_is_aligned(key):
            if len(array) == 0:
                raise DataError(f"{corpus.interval_path(speaker, interval_id)}: {key} has no frames")
            if key in computed:
                rate, offset = get_feature(key).rate, get_feature(key).offset
            else:
                recorded = corpus.frame_rate(speaker, interval_id, key)
                rate, offset = audio_clock(key, len(array), n_pose, rate=recorded)
            subframes = get_feature(key).subframes if is_registered(key) else 1
            reached = audio_coverage(len(array), n_pose, rate=rate, offset=offset)
            array = align_to_pose_clock(array, n_pose, rate=rate, offset=offset, subframes=subframes)[
                :reached
            ]
        out[key] = array
    return out, nonfinite


def _computed_keys(corpus: Corpus, speaker: str, interval_id: str, keys: Sequence[str]) -> list[str]:
    """The registered audio features among ``keys`` that the interval does not store."""
    registered = [k for k in keys if k.startswith("audio/") and is_registered(k)]
    if not registered:
        return []
    present = set(corpus.keys(speaker, interval_id))
    return [k for k in registered if k not in present]


def _compute_features(
    corpus: Corpus, speaker: str, interval_id: str, keys: list[str]
) -> dict[str, np.ndarray]:
    """``keys`` (registered features) computed from the interval's speech at 16 kHz (`Corpus.waveform`)."""
    waveform = corpus.waveform(speaker, interval_id)
    if waveform is None:
        raise DataError(
            f"{corpus.interval_path(speaker, interval_id)}: stores no {', '.join(keys)} and has no speech "
            "to compute it from"
        )
    return {key: get_feature(key).compute(waveform) for key in keys}


def _levelled(key: str, features: np.ndarray) -> np.ndarray:
    """An interval's stored audio ``features`` (frames, F) relative to its speech level, with the floor.

    Levelled before alignment to the pose clock, so that a pose frame straddling speech and a pause
    averages the same floor whether the pause was digital silence or dither (inference does the same per
    file). An interval without one finite frame is left as it is: all its windows are skipped anyway."""
    if not np.isfinite(features.mean(axis=1)).any():
        return features
    floor = level_floor(key, features.shape[1])
    return normalize_level(features, level=speech_level(features), floor=floor)
