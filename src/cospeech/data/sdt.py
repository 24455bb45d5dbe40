"""The Speech Drives Templates / Speech2Gesture clip format (registered as corpus format ``"sdt"``): reader
and writer.

Layout (SDT notes §1.1–1.2)::

    <root>/<speaker>/processed_137.csv   one row per clip: dataset, start, end, interval_id, pose_fn,
                                         audio_fn, video_fn, speaker
    <root>/<speaker>/<pose_fn>           one .npz per clip: ``pose`` (T, 3, 137) x, y, OpenPose confidence in
                                         pixels (T = 64 at 15 fps), ``audio`` (n,) float32 mono at 16 kHz
                                         (n = int(T · 16000/15) = 68,266 for 64 frames)

The pose rows are OpenPose's 137 points (``openpose137``: BODY_25, face 70, left and right hand). Each clip
is one interval of cospeech's `Corpus`; its id is the stem of ``pose_fn``, and a speaker's clips keep the
table's row order (SDT-BP indexes its per-clip templates by the row position in the train split, notes
§1.2). Models learn ``sdt121`` (`SdtCorpus.to_model_pose`): the 122 points SDT's loader keeps, made
relative to the neck, which is then dropped (notes §1.3).

What users have on disk differs from what the reference loader reads (notes §1.7 and §10.1); the reader
takes both:

* the table may be ``processed_137.csv`` (what the loader reads) or ``clips.csv`` (what the preprocessing
  script ``3_2`` writes); the first wins where both exist;
* split labels ``train``, ``dev`` and ``test`` are read as they are; ``val`` (written by ``3_2``) is read
  as ``dev``; ``idle`` (the gap ``3_2`` leaves between train and val clips) is skipped;
* a speaker without ``test`` rows is tested on its ``dev`` rows, as the reference does (its test mode reads
  ``dev``).

A point OpenPose did not detect sits at the origin; like the reference's ``2_2`` clean-up (x ≤ 3 and
y ≤ 3) such points become NaN in model poses, so the window cache skips their clips and says so. The
npz ``audio`` is the clip's speech (`SdtCorpus.waveform`); audio features are computed from it.

The writer (`write_sdt_corpus`) writes what the reader reads, atomically, with the loader's file name and
labels (tested by a round trip).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from cospeech.audio import SAMPLE_RATE
from cospeech.data.corpus import SPLITS, SYNTH_COMMAND, Corpus, register_format
from cospeech.data.windows import POSE_FPS
from cospeech.errors import DataError
from cospeech.files import atomic_write
from cospeech.skeletons import OPENPOSE137, SDT121, SDT_MODEL_JOINTS, Skeleton

CLIP_TABLE = "processed_137.csv"
"""The clip table SDT's loader reads (notes §1.1)."""
PREPROCESSED_TABLE = "clips.csv"
"""The clip table SDT's preprocessing script ``3_2`` writes (notes §1.7); read when the first is absent."""
TABLE_COLUMNS = ("dataset", "start", "end", "interval_id", "pose_fn", "audio_fn", "video_fn", "speaker")
"""Columns of the clip table, in the order ``3_1`` writes them (notes §1.2)."""
SPLIT_LABELS = {"train": "train", "dev": "dev", "test": "test", "val": "dev", "idle": None}
"""Label in the table → cospeech split (None: skipped)."""
POSE_KEY = "pose"
CONFIDENCE_KEY = "confidence"
FEATURE_WIDTHS = {POSE_KEY: 2 * OPENPOSE137.num_joints, CONFIDENCE_KEY: OPENPOSE137.num_joints}
"""Width of each stored key: ``pose`` (T, 274) ``[x…, y…]`` pixels, ``confidence`` (T, 137)."""
CLIP_FRAMES = 64
"""Frames of an SDT clip at 15 fps (notes §1.2)."""
UNDETECTED_PX = 3.0
"""A point with x ≤ 3 and y ≤ 3 pixels was not detected (notes §1.7, ``2_2``)."""
NECK = OPENPOSE137.index("Neck")
NPZ_DIR = "clips/npz"
"""Folder of the clip files under the speaker's folder, as ``3_1`` names it."""


def clip_samples(frames: int) -> int:
    """Audio samples of a clip of ``frames`` pose frames: int(frames · 16000 / 15) (68,266 for 64, the
    length SDT's loader crops or pads to, notes §1.2)."""
    return int(frames * SAMPLE_RATE / POSE_FPS)


@dataclass(frozen=True)
class _Clip:
    """One usable row of a speaker's clip table."""

    interval_id: str
    split: str
    pose_fn: str
    video_fn: str
    """Source video (``video_fn``; the clip id when the table has none)."""
    start: int
    """First frame in the video (``start``; 0 when the table has none)."""


@register_format("sdt")
class SdtCorpus(Corpus):
    """An SDT root on disk. Construction reads every speaker's clip table; clip files are read on demand.

    >>> corpus = SdtCorpus("cospeech_data/synth_sdt")                 # doctest: +SKIP
    >>> ids = corpus.interval_ids("ava", "train")                       # table order
    >>> corpus.to_model_pose("pose", corpus.read("ava", ids[0], ["pose"])["pose"]).shape  # (64, 242)
    """

    clips = True

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(
                f"{self.root}: SDT root directory not found (make the built-in one: {SYNTH_COMMAND} "
                "--format sdt)"
            )
        self._clips = {
            folder.name: _read_table(table)
            for folder in sorted(self.root.iterdir())
            if (table := _table_of(folder)) is not None
        }
        if not self._clips:
            raise DataError(
                f"{self.root}: no <speaker>/{CLIP_TABLE} (or {PREPROCESSED_TABLE}); not an SDT root"
            )
        self._by_id = {s: {c.interval_id: c for c in clips} for s, clips in self._clips.items()}

    @classmethod
    def looks_like(cls, root: Path) -> bool:
        """An SDT root has a speaker folder holding a clip table."""
        try:
            return any(_table_of(folder) is not None for folder in root.iterdir())
        except OSError:
            return False

    @property
    def stored_skeleton(self) -> Skeleton:
        return OPENPOSE137

    @property
    def model_skeleton(self) -> Skeleton:
        return SDT121

    @cached_property
    def speakers(self) -> list[str]:
        """Speaker folders with a clip table, sorted."""
        return list(self._clips)

    def interval_ids(self, speaker: str, split: str) -> list[str]:
        """Clip ids of one speaker and split in table order; ``test`` falls back to ``dev`` for a speaker
        without test rows (the reference tests on dev)."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
        self.check_speakers([speaker])
        clips = self._clips[speaker]
        if split == "test" and not any(c.split == "test" for c in clips):
            split = "dev"
        return [c.interval_id for c in clips if c.split == split]

    def interval_path(self, speaker: str, interval_id: str) -> Path:
        self.check_speakers([speaker])
        clip = self._by_id[speaker].get(interval_id)
        if clip is None:
            raise DataError(f"{self.root / speaker}: no clip {interval_id!r} in its clip table")
        return self.root / speaker / clip.pose_fn

    def _load(self, speaker: str, interval_id: str) -> dict[str, np.ndarray]:
        """The clip's ``pose`` (T, 3, 137) and ``audio`` (n,), checked."""
        path = self.interval_path(speaker, interval_id)
        if not path.is_file():
            raise DataError(f"{path}: clip file missing (listed in {speaker}'s clip table)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                absent = [k for k in ("pose", "audio") if k not in npz.files]
                if absent:
                    raise DataError(f"{path}: no key(s) {absent}; present: {sorted(npz.files)}")
                pose, audio = npz["pose"], npz["audio"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(f"{path}: not a readable npz file ({exc})") from exc
        if pose.ndim != 3 or pose.shape[1:] != (3, OPENPOSE137.num_joints) or len(pose) == 0:
            raise DataError(
                f"{path}: pose has shape {pose.shape}, expected (frames, 3, {OPENPOSE137.num_joints})"
            )
        if audio.ndim != 1:
            raise DataError(f"{path}: audio has shape {audio.shape}, expected (samples,) at {SAMPLE_RATE} Hz")
        return {"pose": pose, "audio": audio}

    def read(self, speaker: str, interval_id: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """``pose`` (T, 274) float32 ``[x…, y…]`` pixels as stored, ``confidence`` (T, 137). Another key, a
        missing file or a wrong shape is a `DataError` naming the file."""
        unknown = [k for k in keys if k not in FEATURE_WIDTHS]
        if unknown:
            path = self.interval_path(speaker, interval_id)
            raise DataError(f"{path}: no key(s) {unknown}; an SDT clip stores {sorted(FEATURE_WIDTHS)}")
        pose = self._load(speaker, interval_id)["pose"].astype(np.float32)
        arrays = {POSE_KEY: np.concatenate((pose[:, 0], pose[:, 1]), axis=1), CONFIDENCE_KEY: pose[:, 2]}
        return {k: arrays[k] for k in keys}

    def keys(self, speaker: str, interval_id: str) -> list[str]:
        return sorted(FEATURE_WIDTHS)

    def pose_frames(self, speaker: str, interval_id: str) -> int:
        return len(self._load(speaker, interval_id)["pose"])

    def waveform(self, speaker: str, interval_id: str) -> np.ndarray:
        """The clip's speech, (int(T · 16000/15),) float32 at 16 kHz: the npz ``audio`` cropped or
        zero-padded at the end to the clip's T pose frames, as SDT's loader does (notes §1.2)."""
        clip = self._load(speaker, interval_id)
        n = clip_samples(len(clip["pose"]))
        audio = clip["audio"].astype(np.float32)[:n]
        return np.pad(audio, (0, n - len(audio)))

    def source_span(self, speaker: str, interval_id: str) -> tuple[str, int]:
        """(``video_fn``, ``start``) of the clip's row."""
        self.interval_path(speaker, interval_id)  # a clip not in the table fails here
        clip = self._by_id[speaker][interval_id]
        return clip.video_fn, clip.start

    def has_speech(self, speaker: str, interval_id: str) -> bool:
        """True: every clip file holds its speech (`waveform`)."""
        return True

    def raw_audio(self, speaker: str, interval_id: str) -> Path | None:
        """None: the speech lives inside the clip file (`waveform`), not in an audio file."""
        return None

    def feature_width(self, key: str) -> int:
        if key not in FEATURE_WIDTHS:
            raise DataError(f"SDT key {key!r} has no fixed width; keys with one: {sorted(FEATURE_WIDTHS)}")
        return FEATURE_WIDTHS[key]

    @property
    def default_pose_key(self) -> str:
        return POSE_KEY

    def is_pose_key(self, key: str) -> bool:
        return key == POSE_KEY

    def to_model_pose(self, key: str, array: np.ndarray) -> np.ndarray:
        """``openpose137`` pixels ``(T, 274)`` → ``sdt121`` ``(T, 242)``, both ``[x…, y…]``: the 121 kept
        points minus the neck (notes §1.3, §1.5). A point at the origin (x ≤ 3 and y ≤ 3: not detected,
        ``2_2``) is NaN, and so is every point of a frame whose neck was not detected."""
        if not self.is_pose_key(key):
            raise DataError(f"{key!r} is not an SDT pose key; the pose key is {POSE_KEY!r}")
        J = OPENPOSE137.num_joints
        xs, ys = array[:, :J].astype(np.float32), array[:, J:].astype(np.float32)
        lost = (xs <= UNDETECTED_PX) & (ys <= UNDETECTED_PX)
        xs, ys = np.where(lost, np.nan, xs), np.where(lost, np.nan, ys)
        kept = list(SDT_MODEL_JOINTS)
        return np.concatenate((xs[:, kept] - xs[:, [NECK]], ys[:, kept] - ys[:, [NECK]]), axis=1)


def _table_of(folder: Path) -> Path | None:
    """A speaker folder's clip table: ``processed_137.csv``, else ``clips.csv``, else None."""
    for name in (CLIP_TABLE, PREPROCESSED_TABLE):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_table(path: Path) -> list[_Clip]:
    """Usable clips of one table, in row order: labels mapped by `SPLIT_LABELS` (``idle`` skipped)."""
    try:
        table = pd.read_csv(path, dtype={"dataset": str, "pose_fn": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from exc
    absent = [c for c in ("dataset", "pose_fn") if c not in table.columns]
    if absent:
        raise DataError(f"{path}: missing column(s) {', '.join(absent)}")
    unknown = sorted(set(table["dataset"].astype(str)) - set(SPLIT_LABELS))
    if unknown:
        raise DataError(f"{path}: unknown dataset value(s) {unknown}; expected {list(SPLIT_LABELS)}")
    ids = [Path(pose_fn).stem for pose_fn in table["pose_fn"]]
    videos = table["video_fn"].astype(str) if "video_fn" in table.columns else ids
    starts = table["start"] if "start" in table.columns else [0] * len(table)
    clips = [
        _Clip(clip_id, SPLIT_LABELS[label], pose_fn, video, int(start))
        for clip_id, label, pose_fn, video, start in zip(
            ids, table["dataset"], table["pose_fn"], videos, starts, strict=True
        )
        if SPLIT_LABELS[label] is not None
    ]
    ids = [c.interval_id for c in clips]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise DataError(f"{path}: clip file name(s) {repeated[:3]} appear more than once")
    return clips


# ----------------------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class SdtClip:
    """One clip to write: a stretch of ``video_fn`` from pose frame ``start`` (15 fps)."""

    speaker: str
    split: str
    """``train``, ``dev`` or ``test`` (written as the loader's labels)."""
    video_fn: str
    """The source video (or built-in interval) the clip comes from."""
    start: int
    pose: np.ndarray
    """(T, 3, 137) x, y, confidence in pixels; undetected points at (0, 0) with confidence 0."""
    audio: np.ndarray
    """(int(T · 16000/15),) float32 speech at 16 kHz."""

    @property
    def name(self) -> str:
        """``<video>-<start>-<end>``, the name ``3_1`` gives a clip file."""
        return f"{self.video_fn}-{self.start:06d}-{self.start + len(self.pose):06d}"


def write_sdt_corpus(root: str | Path, clips: Iterable[SdtClip]) -> list[Path]:
    """Write ``clips`` (consumed one at a time) as an SDT root: one npz per clip under
    ``<speaker>/clips/npz/`` and each speaker's ``processed_137.csv`` in clip order, every file atomically.
    Returns the tables written. A clip with a bad shape, length or label, or a name met twice, is a
    `DataError` naming the clip; nothing of that speaker's table is written then."""
    root = Path(root)
    rows: dict[str, list[dict[str, object]]] = {}
    for clip in clips:
        rows.setdefault(clip.speaker, []).append(_write_clip(root, clip))
    tables = []
    for speaker, speaker_rows in rows.items():
        names = [r["interval_id"] for r in speaker_rows]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DataError(f"{root / speaker}: clip name(s) written twice: {repeated[:3]}")
        path = root / speaker / CLIP_TABLE
        with atomic_write(path) as tmp:
            pd.DataFrame(speaker_rows, columns=list(TABLE_COLUMNS)).to_csv(tmp, index=False)
        tables.append(path)
    return tables


def _write_clip(root: Path, clip: SdtClip) -> dict[str, object]:
    """Write one clip file; its row of the clip table."""
    where = f"{root / clip.speaker}: clip {clip.name}"
    pose, audio = np.asarray(clip.pose), np.asarray(clip.audio)
    if pose.ndim != 3 or pose.shape[1:] != (3, OPENPOSE137.num_joints) or len(pose) == 0:
        raise DataError(
            f"{where}: pose has shape {pose.shape}, expected (frames, 3, {OPENPOSE137.num_joints})"
        )
    if audio.shape != (clip_samples(len(pose)),):
        raise DataError(
            f"{where}: audio has shape {audio.shape}, expected ({clip_samples(len(pose))},) for {len(pose)} "
            f"frames at {SAMPLE_RATE} Hz"
        )
    if clip.split not in SPLITS:
        raise DataError(f"{where}: split {clip.split!r}; expected one of {list(SPLITS)}")
    pose_fn = f"{NPZ_DIR}/{clip.name}.npz"
    path = root / clip.speaker / pose_fn
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, tmp.open("wb") as f:
        np.savez(f, pose=pose.astype(np.float32), audio=audio.astype(np.float32))
    return {
        "dataset": clip.split,
        "start": clip.start,
        "end": clip.start + len(pose),
        "interval_id": clip.name,
        "pose_fn": pose_fn,
        "audio_fn": pose_fn,  # the speech is the npz's "audio"; no separate audio file
        "video_fn": clip.video_fn,
        "speaker": clip.speaker,
    }
