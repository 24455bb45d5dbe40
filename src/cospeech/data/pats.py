"""The PATS on-disk format (registered as corpus format ``"pats"``): reader and writer.

Layout (reference notes §1)::

    <root>/cmu_intervals_df.csv          one row per interval: interval_id, speaker, dataset (split), …
    <root>/cmu_intervals_df_transforms.csv, d2m_intervals_df.csv, ted_intervals_df.csv
                                         the reference loaders read these too (mirrored "evil twin"
                                         speakers; C-DiffGAN's extra corpora): written header-only
    <root>/missing_intervals.h5          dataset ``intervals``: ids with incomplete features (excluded)
    <root>/processed/<speaker>/<interval_id>.h5
    <root>/raw/<speaker>_cropped/<interval_id>.<wav|mp3|…>   per-interval speech (rendering only)

Each interval file holds ``pose/data``, ``pose/normalize``, ``pose/confidence`` (T, 104),
``audio/log_mel_400`` (Ta, 64), ``audio/log_mel_512`` (Ta', 128) and optionally the text keys:
``text/tokens`` (T,) ints, ``text/bert`` (T, 768), ``text/w2v`` (T, 300), and ``text/meta``, a pandas
DataFrame (columns ``Word``, ``start_frame``, ``end_frame``) stored by ``DataFrame.to_hdf`` (PyTables), read
with ``pd.read_hdf(path, "text/meta")`` (notes §1.4, §2.5). The built-in corpus adds ``oracle/normalize``
(T, 104): the noise-free gesture its generator intended (same layout as ``pose/normalize``).

Audio datasets written by cospeech carry a ``frame_rate`` attribute (feature frames per second), so the
window cache aligns them at their true rate; PATS' own files have none (see `Corpus.frame_rate`).

Interval ids must survive a CSV reader that guesses types (the reference reads the table without dtypes,
so ``"0000012"`` becomes ``12`` and its file is not found): ids that look like numbers must not start with
a zero. The built-in corpus uses PATS' CMU-style ids, ``cmu`` + 10 digits.

The reader and writer share the names below, so what one writes the other reads (tested by a round trip).
Pose keys store the 52 ``pats52`` joints; models learn the 48 ``pats48`` joints (`PatsCorpus.to_model_pose`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from cospeech.audio import MEL400_BINS, MEL512_BINS
from cospeech.data.corpus import SPLITS, SYNTH_COMMAND, Corpus, register_format
from cospeech.data.text import META_KEY, Word
from cospeech.data.windows import POSE_FPS
from cospeech.errors import DataError
from cospeech.files import atomic_write
from cospeech.skeletons import PATS48, PATS52, Skeleton

INTERVALS_CSV = "cmu_intervals_df.csv"
COMPANION_CSVS = ("cmu_intervals_df_transforms.csv", "d2m_intervals_df.csv", "ted_intervals_df.csv")
"""Tables the reference loaders concatenate to the interval table unconditionally (PATS: the first;
C-DiffGAN: all three). They share its columns."""
FRAME_RATE_ATTR = "frame_rate"
FEATURIZER_ATTR = "featurizer"
"""Attribute of ``text/*`` keys naming what made them from words (written by cospeech, not PATS)."""
"""HDF5 attribute of an audio dataset: its feature frames per second (Hz)."""
MISSING_H5 = "missing_intervals.h5"
PROCESSED_DIR = "processed"
RAW_DIR = "raw"

PATS_SPEAKERS = (
    "oliver", "jon", "conan", "rock", "chemistry", "ellen", "almaram", "angelica", "seth", "shelly",
    "colbert", "corden", "fallon", "huckabee", "maher", "lec_cosmic", "lec_evol", "lec_hist", "lec_law",
    "minhaj", "ytch_charisma", "ytch_dating", "ytch_prof", "bee", "noah",
)  # fmt: skip
"""The 25 PATS speakers in the order that defines style ids for ``speaker='all'``."""

POSE_WIDTH = 2 * PATS52.num_joints
POSE_KEYS = ("pose/data", "pose/normalize", "oracle/normalize")
"""Keys holding ``pats52`` poses (``pose/confidence`` has their width but holds detection scores)."""
PATS_BOX_JOINTS = ("Nose", "REye", "LEye")
"""``pats52`` joints models do not predict (besides the neck, the origin) that the reference PCK box spans."""
TEXT_WIDTHS: Mapping[str, int] = {"text/bert": 768, "text/w2v": 300}
"""Width of each 2-D text feature (BERT and word2vec embeddings per pose frame)."""
FEATURE_WIDTHS: Mapping[str, int] = {
    **dict.fromkeys(POSE_KEYS, POSE_WIDTH),
    "pose/confidence": POSE_WIDTH,
    "audio/log_mel_400": MEL400_BINS,
    "audio/log_mel_512": MEL512_BINS,
    **TEXT_WIDTHS,
}
"""Width of the last axis of each 2-D key; ``text/tokens`` and ``text/pos`` are 1-D (T,)."""

META_COLUMNS = ("Word", "start_frame", "end_frame")
"""Columns of ``text/meta``, PATS' word-timing table (notes §1.4)."""

REQUIRED_KEYS = ("pose/data", "pose/normalize", "pose/confidence", "audio/log_mel_400", "audio/log_mel_512")
INTERVAL_COLUMNS = (
    "dataset", "delta_time", "end_time", "interval_id", "speaker", "start_time", "video_fn", "video_link",
)  # fmt: skip
"""Columns of the interval tables, in the order of PATS' own files."""
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a")
NORMALIZED_SHOULDER = 167.0
"""``pose/normalize``: ‖RShoulder − Neck‖ in every frame, pixels (reference notes §1.4)."""


@dataclass(frozen=True)
class IntervalRecord:
    """One row of ``cmu_intervals_df.csv``."""

    interval_id: str
    speaker: str
    dataset: str
    delta_time: float
    start_time: str = ""
    end_time: str = ""
    video_link: str = ""
    video_fn: str = ""


# ----------------------------------------------------------------------------------------------- reading


@register_format("pats")
class PatsCorpus(Corpus):
    """A PATS root on disk. Construction checks the table; interval files are opened on demand.

    >>> corpus = PatsCorpus("cospeech_data/synth")           # doctest: +SKIP
    >>> corpus.interval_ids("ava", "train")[:2]              # doctest: +SKIP
    >>> corpus.read("ava", "cmu0000000000", ["pose/normalize"])  # doctest: +SKIP
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(
                f"{self.root}: PATS root directory not found (make the built-in one: {SYNTH_COMMAND})"
            )
        table = self.root / INTERVALS_CSV
        if not table.is_file():
            raise DataError(f"{table}: interval table missing (not a PATS root?)")
        try:
            intervals = pd.read_csv(table, dtype={"interval_id": str, "speaker": str, "dataset": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"{table}: unreadable CSV ({exc})") from exc
        absent = [c for c in ("interval_id", "speaker", "dataset") if c not in intervals.columns]
        if absent:
            raise DataError(f"{table}: missing column(s) {', '.join(absent)}")
        unknown_splits = sorted(set(intervals["dataset"].dropna()) - set(SPLITS))
        if unknown_splits:
            raise DataError(f"{table}: unknown dataset value(s) {unknown_splits}; expected {list(SPLITS)}")
        self.missing = read_missing_intervals(self.root)
        self.intervals = intervals[~intervals["interval_id"].isin(self.missing)].reset_index(drop=True)

    @classmethod
    def looks_like(cls, root: Path) -> bool:
        """A PATS root is recognised by its interval table."""
        return (root / INTERVALS_CSV).is_file()

    @property
    def stored_skeleton(self) -> Skeleton:
        return PATS52

    @property
    def model_skeleton(self) -> Skeleton:
        return PATS48

    @cached_property
    def speakers(self) -> list[str]:
        """Speakers present, PATS speakers first in their canonical order, then others sorted."""
        present = set(self.intervals["speaker"])
        return [s for s in PATS_SPEAKERS if s in present] + sorted(present - set(PATS_SPEAKERS))

    def interval_ids(self, speaker: str, split: str) -> list[str]:
        """Usable interval ids of one speaker and split, string-sorted as the reference loader does
        (the order fixes window indices and therefore seeded few-shot draws)."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
        self.check_speakers([speaker])
        rows = self.intervals[(self.intervals["speaker"] == speaker) & (self.intervals["dataset"] == split)]
        return sorted(set(rows["interval_id"]))

    def interval_path(self, speaker: str, interval_id: str) -> Path:
        return self.root / PROCESSED_DIR / speaker / f"{interval_id}.h5"

    def read(self, speaker: str, interval_id: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Arrays of one interval, float32 for features. Missing file, missing key or a wrong shape is a
        `DataError` naming the file and the key."""
        path = self.interval_path(speaker, interval_id)
        if not path.is_file():
            raise DataError(f"{path}: interval file missing (listed in {INTERVALS_CSV})")
        try:
            with h5py.File(path, "r") as h5:
                out = {}
                for key in keys:
                    if key not in h5 or not isinstance(h5[key], h5py.Dataset):
                        raise DataError(f"{path}: no key {key!r}; present: {sorted(_dataset_keys(h5))}")
                    out[key] = _check_shape(path, key, h5[key][()])
        except OSError as exc:
            raise DataError(f"{path}: not a readable HDF5 file ({exc})") from exc
        return out

    def keys(self, speaker: str, interval_id: str) -> list[str]:
        """Dataset keys stored in one interval file."""
        path = self.interval_path(speaker, interval_id)
        try:
            with h5py.File(path, "r") as h5:
                return sorted(_dataset_keys(h5))
        except OSError as exc:
            raise DataError(f"{path}: not a readable HDF5 file ({exc})") from exc

    def pose_frames(self, speaker: str, interval_id: str) -> int:
        """T of ``pose/normalize``, from the HDF5 header (no array is read)."""
        path = self.interval_path(speaker, interval_id)
        try:
            with h5py.File(path, "r") as h5:
                return int(h5["pose/normalize"].shape[0])
        except (OSError, KeyError) as exc:
            raise DataError(f"{path}: cannot read pose/normalize ({exc})") from exc

    def text_featurizer(self, speaker: str, interval_id: str, key: str) -> str | None:
        """The ``featurizer`` attribute of ``key``, None if absent (PATS' own files)."""
        value = self._attribute(speaker, interval_id, key, FEATURIZER_ATTR)
        return None if value is None else str(value)

    def frame_rate(self, speaker: str, interval_id: str, key: str) -> float | None:
        """The ``frame_rate`` attribute of ``key`` (Hz), None if absent (PATS' own files)."""
        path = self.interval_path(speaker, interval_id)
        value = self._attribute(speaker, interval_id, key, FRAME_RATE_ATTR)
        if value is None:
            return None
        rate = float(np.asarray(value).reshape(()))
        if not (np.isfinite(rate) and rate > 0):
            raise DataError(f"{path}: {key} has {FRAME_RATE_ATTR}={rate}; expected a positive number (Hz)")
        return rate

    def _attribute(self, speaker: str, interval_id: str, key: str, name: str) -> object:
        """HDF5 attribute ``name`` of dataset ``key`` of one interval, None if either is absent."""
        path = self.interval_path(speaker, interval_id)
        try:
            with h5py.File(path, "r") as h5:
                return h5[key].attrs.get(name) if key in h5 else None
        except OSError as exc:
            raise DataError(f"{path}: not a readable HDF5 file ({exc})") from exc

    def word_timings(self, speaker: str, interval_id: str) -> np.ndarray | None:
        """``start_frame`` and ``end_frame`` of ``text/meta`` (a pandas table, read with PyTables), None if
        the file has no such table. A table without those columns is a `DataError`."""
        table = self._word_table(speaker, interval_id, ("start_frame", "end_frame"))
        return None if table is None else table[["start_frame", "end_frame"]].to_numpy(dtype=np.float64)

    def transcript(self, speaker: str, interval_id: str) -> list[Word] | None:
        """The words of ``text/meta`` with their spans in seconds (frames / 15), None without the table."""
        table = self._word_table(speaker, interval_id, META_COLUMNS)
        if table is None:
            return None
        return [
            Word(str(w), float(s) / POSE_FPS, float(e) / POSE_FPS)
            for w, s, e in table[list(META_COLUMNS)].itertuples(index=False)
        ]

    def _word_table(self, speaker: str, interval_id: str, columns: Sequence[str]) -> pd.DataFrame | None:
        path = self.interval_path(speaker, interval_id)
        try:
            with h5py.File(path, "r") as h5:
                if META_KEY not in h5:
                    return None
            table = pd.read_hdf(path, key=META_KEY)
        except ImportError as exc:
            raise DataError(
                f"{path}: reading {META_KEY} needs PyTables (pip install tables); {exc}"
            ) from None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DataError(f"{path}: {META_KEY} is not a readable pandas table ({exc})") from None
        absent = [c for c in columns if c not in getattr(table, "columns", ())]
        if absent:
            raise DataError(f"{path}: {META_KEY} lacks column(s) {', '.join(absent)}")
        return table

    def raw_audio(self, speaker: str, interval_id: str) -> Path | None:
        """The interval's speech file under ``raw/<speaker>_cropped/``: ``<id>.*`` or PATS'
        ``<video_id>_<id>.mp3``; None if absent (rendered clips then skip the interval)."""
        folder = self.root / RAW_DIR / f"{speaker}_cropped"
        for suffix in AUDIO_SUFFIXES:
            candidate = folder / f"{interval_id}{suffix}"
            if candidate.is_file():
                return candidate
        matches = sorted(folder.glob(f"*_{interval_id}.mp3")) if folder.is_dir() else []
        return matches[0] if matches else None

    def feature_width(self, key: str) -> int:
        if key not in FEATURE_WIDTHS:
            raise DataError(f"PATS key {key!r} has no fixed width; keys with one: {sorted(FEATURE_WIDTHS)}")
        return FEATURE_WIDTHS[key]

    @property
    def default_pose_key(self) -> str:
        return "pose/normalize"

    def is_pose_key(self, key: str) -> bool:
        return key in POSE_KEYS

    def to_model_pose(self, key: str, array: np.ndarray) -> np.ndarray:
        """``pats52`` ``(T, 104)`` → ``pats48`` ``(T, 96)``: the neck (origin of the offsets), nose and eyes
        are dropped."""
        if not self.is_pose_key(key):
            raise DataError(f"{key!r} is not a PATS pose key; pose keys: {list(POSE_KEYS)}")
        from cospeech.data.poses import joints_to_flat, pats_to_model_joints  # torch: only when converting

        return joints_to_flat(pats_to_model_joints(array))

    @property
    def box_joints(self) -> tuple[str, ...]:
        return PATS_BOX_JOINTS

    def to_box_joints(self, key: str, array: np.ndarray) -> np.ndarray:
        """``pats52`` ``(T, 104)`` → Nose, REye, LEye ``(T, 6)``: offsets from the neck in PATS' pose keys,
        like the model joints (``pose/data`` stores every joint absolute, and so both)."""
        if not self.is_pose_key(key):
            raise DataError(f"{key!r} is not a PATS pose key; pose keys: {list(POSE_KEYS)}")
        columns = [PATS52.index(name) for name in PATS_BOX_JOINTS]
        J = PATS52.num_joints
        return np.concatenate((array[:, columns], array[:, [J + c for c in columns]]), axis=1)

    @property
    def text_features(self) -> Mapping[str, int]:
        return TEXT_WIDTHS


def _dataset_keys(h5: h5py.File) -> list[str]:
    """Every dataset's path, a pandas table (``text/meta``, a group of PyTables nodes) as one key."""
    keys: list[str] = []
    tables: list[str] = []

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
            tables.append(name)
        elif isinstance(obj, h5py.Dataset) and not any(name.startswith(f"{t}/") for t in tables):
            keys.append(name)

    h5.visititems(visit)
    return keys + tables


def _check_shape(path: Path, key: str, array: np.ndarray) -> np.ndarray:
    width = FEATURE_WIDTHS.get(key)
    if width is not None:
        if array.ndim != 2 or array.shape[1] != width:
            raise DataError(f"{path}: {key} has shape {array.shape}, expected (frames, {width})")
        return array.astype(np.float32, copy=False)
    return array


def read_missing_intervals(root: str | Path) -> frozenset[str]:
    """Ids listed in ``missing_intervals.h5`` (empty if the file is absent; unlike the reference we never
    create it on read). h5py 3 returns bytes; they are decoded so the exclusion actually works."""
    path = Path(root) / MISSING_H5
    if not path.is_file():
        return frozenset()
    try:
        with h5py.File(path, "r") as h5:
            if "intervals" not in h5:
                raise DataError(f"{path}: no dataset 'intervals'")
            raw = h5["intervals"][()]
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc})") from exc
    return frozenset(v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(raw))


# ----------------------------------------------------------------------------------------------- writing


def normalize_pose(data: np.ndarray) -> np.ndarray:
    """PATS ``pose/normalize`` from ``pose/data`` joints (T, 52, 2) (neck absolute, other joints offsets from
    it, pixels): the offsets rescaled per frame so that ‖RShoulder − Neck‖ = 167, the neck kept absolute
    (reference notes §1.4). Returns (T, 52, 2) float64; a frame with RShoulder on the neck gives inf/NaN."""
    data = np.asarray(data, dtype=np.float64)
    shoulder = np.linalg.norm(data[:, PATS52.index("RShoulder")], axis=-1)
    out = data * (NORMALIZED_SHOULDER / shoulder)[:, None, None]
    out[:, 0] = data[:, 0]
    return out


def write_interval(
    root: str | Path,
    speaker: str,
    interval_id: str,
    arrays: Mapping[str, np.ndarray],
    *,
    frame_rates: Mapping[str, float] | None = None,
    text_meta: pd.DataFrame | None = None,
    text_featurizer: str | None = None,
) -> Path:
    """Write one interval file atomically. Keys must be known and every 2-D key must have its PATS width;
    pose keys and ``text/*`` keys must share the number of frames T. ``frame_rates`` (Hz) of audio keys
    are stored as their ``frame_rate`` attribute (``log_mel_512`` depends on the waveform's rate).
    ``text_meta`` is written as ``text/meta`` with ``DataFrame.to_hdf``, as PATS stores it (notes §1.4); it
    needs PATS' columns and conventions (§2.5): float frames, the first word starting at 0, each word ending
    where the next starts, the last at T. ``text_featurizer`` names what made the ``text/*`` arrays from
    the words (their ``featurizer`` attribute), so inference can featurise a transcript alike."""
    path = Path(root) / PROCESSED_DIR / speaker / f"{interval_id}.h5"
    absent = [k for k in REQUIRED_KEYS if k not in arrays]
    if absent:
        raise DataError(f"{path}: cannot write interval without {absent}")
    frame_rates = dict(frame_rates or {})
    bad_rates = {k: r for k, r in frame_rates.items() if k not in arrays or not r > 0}
    if bad_rates:
        raise DataError(f"{path}: frame_rates {bad_rates} must name written keys and be > 0 Hz")
    for key, value in arrays.items():
        if key == META_KEY or (key not in FEATURE_WIDTHS and not key.startswith("text/")):
            raise DataError(f"{path}: unknown array key {key!r}; known: {sorted(FEATURE_WIDTHS)} and text/*")
        _check_shape(path, key, np.asarray(value))
    frames = {k: len(v) for k, v in arrays.items() if not k.startswith("audio/")}
    if len(set(frames.values())) > 1:
        raise DataError(f"{path}: pose and text keys disagree on the number of frames: {frames}")
    if text_meta is not None:
        _check_text_meta(path, text_meta, len(arrays["pose/normalize"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            for key, value in arrays.items():
                value = np.asarray(value)
                if value.dtype == np.float64:
                    value = value.astype(
                        np.float32
                    )  # PATS writes float64; float32 halves the files, loses nothing
                dataset = h5.create_dataset(key, data=value, compression="lzf" if value.ndim == 2 else None)
                if key in frame_rates:
                    dataset.attrs[FRAME_RATE_ATTR] = float(frame_rates[key])
                if text_featurizer is not None and key.startswith("text/"):
                    dataset.attrs[FEATURIZER_ATTR] = text_featurizer
        if text_meta is not None:  # a PyTables table: the default "fixed" format pickles the words into 1 MB
            text_meta.to_hdf(
                tmp, key=META_KEY, mode="a", format="table", index=False, complevel=1, complib="zlib"
            )
    return path


def _check_text_meta(path: Path, meta: pd.DataFrame, n_frames: int) -> None:
    if tuple(meta.columns) != META_COLUMNS:
        raise DataError(f"{path}: {META_KEY} has columns {list(meta.columns)}, expected {list(META_COLUMNS)}")
    start, end = meta["start_frame"].to_numpy(), meta["end_frame"].to_numpy()
    if not (
        len(meta)
        and start.dtype == end.dtype == np.float64
        and start[0] == 0
        and end[-1] == n_frames
        and np.array_equal(start[1:], end[:-1])
        and (end >= start).all()
    ):
        raise DataError(
            f"{path}: {META_KEY} breaks PATS' word timing: need float frames, the first word starting at 0, "
            f"each ending where the next starts (never before it starts) and the last at T={n_frames}"
        )


def write_intervals_table(root: str | Path, records: Sequence[IntervalRecord]) -> Path:
    """Write ``cmu_intervals_df.csv`` atomically, and the header-only `COMPANION_CSVS` where absent (the
    reference loaders fail without them). Ids a type-guessing CSV reader would change are refused."""
    path = Path(root) / INTERVALS_CSV
    table = pd.DataFrame([r.__dict__ for r in records], columns=list(INTERVAL_COLUMNS))
    text = table.to_csv(index=False)
    guessed = pd.read_csv(io.StringIO(text))["interval_id"].apply(str)  # as the reference reads it
    mangled = [i for i, g in zip(table["interval_id"], guessed, strict=True) if str(i) != g]
    if mangled:
        raise DataError(
            f"{path}: interval id(s) {mangled[:3]} change when a CSV reader guesses types (read back as "
            f"{list(guessed[table['interval_id'].isin(mangled)][:3])}); use ids like PATS' "
            "(cmu0000022349, 115309)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(text)
    for name in COMPANION_CSVS:
        companion = path.parent / name
        if not companion.exists():
            with atomic_write(companion) as tmp:
                tmp.write_text(",".join(INTERVAL_COLUMNS) + "\n")
    return path


def read_intervals_table(root: str | Path) -> list[IntervalRecord]:
    """The rows of ``cmu_intervals_df.csv`` as written (every column a string but ``delta_time``), to
    rewrite the table with rows added or removed."""
    table = pd.read_csv(Path(root) / INTERVALS_CSV, dtype=str, keep_default_na=False)
    fields = IntervalRecord.__dataclass_fields__
    return [
        IntervalRecord(
            **{k: v for k, v in row.items() if k in fields and k != "delta_time"},
            delta_time=float(row.get("delta_time") or 0.0),
        )
        for row in table.to_dict("records")
    ]


def write_missing_intervals(root: str | Path, interval_ids: Iterable[str]) -> Path:
    """Write ``missing_intervals.h5`` (variable-length strings, as PATS does) atomically."""
    path = Path(root) / MISSING_H5
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = np.array(sorted(interval_ids), dtype=object)
    with atomic_write(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("intervals", data=ids, dtype=h5py.string_dtype())
    return path
