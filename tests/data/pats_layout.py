"""Tiny corpora in PATS' on-disk layout, written with h5py and pandas the way PATS' preprocessing stores
them (notes pats §1.1–§1.4, §2.5), independently of cospeech's writer: for the text and cluster tests."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

TOKEN_VOCAB = np.array([2023, 1996, 2158, 4937, 3899, 7592])
"""A few WordPiece ids: drawing from so few makes consecutive identical tokens common."""
WORDS = ["so", "the", "cat", "sat", "on", "mat", "yes"]


@dataclass
class Interval:
    """One interval to write: id, speaker, split, T and what text it stores."""

    interval_id: str
    speaker: str
    split: str
    frames: int
    meta: bool = True
    """Write ``text/meta`` (else only the per-frame keys)."""
    omit: tuple[str, ...] = ()
    """Keys not to write."""
    pose_offset: float = 0.0
    """Added to every pose offset (moves a speaker's poses away from the others')."""
    nan_frames: dict[str, list[int]] = field(default_factory=dict)
    """Frames set to NaN, per key."""


def word_table(frames: int, rng: np.random.Generator) -> pd.DataFrame:
    """Word timings as PATS stores them: first word at 0, each end = the next start, the last ends at T;
    start frames drawn with repeats, so some words last 0 frames."""
    count = max(frames // 6, 2)
    starts = np.sort(np.concatenate(([0], rng.integers(1, frames, count - 1))))
    starts[3] = starts[2]  # one 0-frame word for sure
    ends = np.append(starts[1:], frames)
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), count)]
    return pd.DataFrame({"Word": words, "start_frame": starts.astype(float), "end_frame": ends.astype(float)})


def frame_text(table: pd.DataFrame, frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-frame ``text/tokens``, ``text/bert`` and ``text/w2v`` for a word table: a word's w2v vector
    repeats over its frames; its 1–2 sub-tokens split the frames ``int(d / n)`` each, the rest to the last
    piece; a sub-token's BERT vector depends on its id (so equal neighbours have equal vectors)."""
    bert_of = {t: rng.standard_normal(768).astype(np.float32) for t in TOKEN_VOCAB}
    w2v_of = {w: rng.standard_normal(300).astype(np.float32) for w in WORDS}
    tokens = np.zeros(frames, np.int64)
    w2v = np.zeros((frames, 300), np.float32)
    for word, start, end in table[["Word", "start_frame", "end_frame"]].itertuples(index=False):
        start, end = int(start), int(end)
        w2v[start:end] = w2v_of[word]
        pieces = rng.choice(TOKEN_VOCAB, int(rng.integers(1, 3)))
        length = (end - start) // len(pieces)
        for i, token in enumerate(pieces):
            stop = end if i == len(pieces) - 1 else start + (i + 1) * length
            tokens[start + i * length : stop] = token
    bert = np.stack([bert_of[t] for t in tokens])
    return {"text/tokens": tokens, "text/bert": bert, "text/w2v": w2v}


def write_corpus(root: Path, intervals: list[Interval], seed: int = 0) -> Path:
    """Write ``cmu_intervals_df.csv`` and one ``processed/<speaker>/<id>.h5`` per interval: pose/normalize
    (T, 104) float64 (neck absolute, others offsets), audio/log_mel_400 (≈ T·100/15 + 10, 64) and the text
    keys, ``text/meta`` by ``DataFrame.to_hdf``."""
    rng = np.random.default_rng(seed)
    rows = []
    for item in intervals:
        path = root / "processed" / item.speaker / f"{item.interval_id}.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        pose = rng.normal(0, 40, (item.frames, 104)) + item.pose_offset
        pose[:, [0, 52]] = [640.0, 200.0]
        table = word_table(item.frames, rng)
        arrays = {
            "pose/normalize": pose,
            "audio/log_mel_400": rng.standard_normal((item.frames * 100 // 15 + 10, 64)),
            **frame_text(table, item.frames, rng),
        }
        for key, frames in item.nan_frames.items():
            arrays[key] = arrays[key].astype(np.float64)
            arrays[key][frames] = np.nan
        with h5py.File(path, "w") as h5:
            for key, value in arrays.items():
                if key not in item.omit:
                    h5.create_dataset(key, data=value)
        if item.meta and "text/meta" not in item.omit:
            with warnings.catch_warnings():  # PyTables pickles the Word column, as in PATS' own files
                warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
                table.to_hdf(path, key="text/meta", mode="a")
        rows.append(
            {"interval_id": item.interval_id, "speaker": item.speaker, "dataset": item.split,
             "delta_time": item.frames / 15}
        )  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "cmu_intervals_df.csv", index=False)
    return root
