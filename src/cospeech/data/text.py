"""Text of PATS intervals in training windows: per-frame features, or one row per token.

PATS stores every ``text/*`` key on the pose clock, T frames per interval (notes pats §1.4, §2.5): the
value of a word (``text/w2v``) or of a BERT sub-token (``text/bert`` features, ``text/tokens`` ids) is
repeated for each of its frames. Windows therefore slice text exactly as they slice poses. With
``repeat_text=False`` the reference loader (notes pats §2.5, §3.2) turns a window into one row per token:

* **token starts** — for ``text/tokens``, or an interval without ``text/meta``: frame 0, then every frame
  whose vector differs from the vector at the previous start, so consecutive identical tokens merge
  (the reference's test is a non-zero *sum* of the differences, kept here; for token ids it is plain
  inequality). Otherwise from the words of ``text/meta`` that overlap the window, ``window_start ≤
  end_frame`` and ``start_frame < window_start + window`` (inclusive at the start, so a word ending exactly
  at the window start becomes a first token of 0 frames, as in the reference): their start frames
  relative to the window, truncated to integers, the first set to 0 (and, unlike the reference, any other
  before the window clipped to 0; PATS' contiguous word timings never have one);
* the **row** of a token is the window's frame at its start; its **duration** is the frames to the next
  start, the last one's to the end of the window, so durations sum to the window length.

>>> change_points(np.array([7, 7, 3, 3, 3, 7]))
array([0, 2, 5])
>>> word_starts(np.array([0.0, 4.0, 9.0]), np.array([4.0, 9.0, 20.0]), window_start=4, frames=8)
array([0, 0, 5])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cospeech.data.windows import POSE_FPS
from cospeech.errors import DataError

TOKENS_KEY = "text/tokens"
"""BERT WordPiece ids per frame, ``(T,)`` integers."""
TEXT_KEYS = (TOKENS_KEY, "text/bert", "text/w2v")
"""Stored text keys a data module can put in its batches as ``text``."""
META_KEY = "text/meta"
"""Word timings: a pandas table with columns ``Word``, ``start_frame``, ``end_frame`` (pose frames)."""
BERT_VOCAB_SIZE = 30522
"""Size of ``bert-base-uncased``'s WordPiece vocabulary: every ``text/tokens`` id is below it."""


class Word(NamedTuple):
    """One word of a time-aligned transcript: the word and its span in seconds from the start of speech."""

    word: str
    start: float
    end: float


def word_frames(words: Sequence[Word], n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) pose frames (w,) int64 of each word, by PATS' rule (notes §2.5): start =
    ``min(int(start_s · 15), T)``, the first word forced to 0; each end = the next word's start; the last
    word ends at T. Pauses therefore carry the word before them, and a word whose start rounds to the
    next word's frame gets no frame. Words must be sorted by start time, with ``0 ≤ start ≤ end``; an
    empty transcript or ``n_frames < 1`` is a `DataError`."""
    if n_frames < 1:
        raise DataError(f"n_frames must be ≥ 1 to align words to pose frames, got {n_frames}")
    if not words:
        raise DataError("no words to align to pose frames (an empty transcript)")
    times = np.array([(w.start, w.end) for w in words], dtype=np.float64)
    if not np.isfinite(times).all() or (times[:, 0] < 0).any() or (times[:, 1] < times[:, 0]).any():
        raise DataError("word times must be finite seconds with 0 ≤ start ≤ end")
    if (np.diff(times[:, 0]) < 0).any():
        raise DataError("words must be sorted by start time")
    start = np.minimum((times[:, 0] * POSE_FPS).astype(np.int64), n_frames)
    start[0] = 0
    end = np.append(start[1:], n_frames)
    return start, end


def uses_word_timings(key: str) -> bool:
    """Whether token starts of ``key`` come from ``text/meta`` (features) rather than change-points."""
    return key in TEXT_KEYS and key != TOKENS_KEY


def change_points(window: np.ndarray) -> np.ndarray:
    """Token starts of one window of a repeated text key.

    Parameters
    ----------
    window : np.ndarray [shape=(T,) or (T, D)], raw (not normalised) values.

    Returns
    -------
    starts : np.ndarray [shape=(L,), int64], 0 first, increasing: frames whose vector's summed difference
        from the vector at the previous start is non-zero (reference loader, notes pats §2.5).
    """
    x = np.asarray(window, dtype=np.float64).reshape(len(window), -1)
    # only where a frame differs from the one before can the test against the previous start change
    candidates = np.flatnonzero((x[1:] != x[:-1]).any(axis=1)) + 1
    starts = [0]
    for t in candidates:
        if (x[t] - x[starts[-1]]).sum() != 0:
            starts.append(int(t))
    return np.asarray(starts, dtype=np.int64)


def word_starts(start_frame: np.ndarray, end_frame: np.ndarray, window_start: int, frames: int) -> np.ndarray:
    """Token starts of one window from an interval's word timings (``text/meta``).

    Parameters
    ----------
    start_frame, end_frame : np.ndarray [shape=(W,)], the words' pose frames in table order.
    window_start : int, the window's first frame in the interval.
    frames : int, window length (64).

    Returns
    -------
    starts : np.ndarray [shape=(L,), int64], frames relative to the window, the first 0 (``[0]`` when no
        word overlaps the window).
    """
    inside = (window_start <= end_frame) & (start_frame < window_start + frames)
    starts = (start_frame[inside] - window_start).astype(np.int64)  # truncation toward zero, as int()
    if len(starts) == 0:
        return np.zeros(1, dtype=np.int64)
    starts[0] = 0
    return np.maximum(starts, 0)


def token_rows(values: np.ndarray, starts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per token for a batch of windows, zero-padded to the longest.

    Parameters
    ----------
    values : np.ndarray [shape=(B, T) or (B, T, D)], per-frame text of each window.
    starts : B arrays of token starts (``change_points`` or ``word_starts``).

    Returns
    -------
    rows : np.ndarray [shape=(B, L) or (B, L, D)], ``values`` at the token starts, then zeros.
    duration : np.ndarray [shape=(B, L), int64], frames per token (sum T per window), then zeros.
    count : np.ndarray [shape=(B,), int64], tokens per window; L = its maximum.
    """
    frames = values.shape[1]
    count = np.array([len(s) for s in starts], dtype=np.int64)
    longest = int(count.max()) if len(count) else 0
    rows = np.zeros((len(values), longest, *values.shape[2:]), dtype=values.dtype)
    duration = np.zeros((len(values), longest), dtype=np.int64)
    for b, s in enumerate(starts):
        rows[b, : len(s)] = values[b, s]
        duration[b, : len(s)] = np.diff(s, append=frames)
    return rows, duration, count


@dataclass(frozen=True, eq=False)
class WordTimings:
    """``text/meta`` word timings of the intervals of one window cache, concatenated: interval ``i`` has
    words ``offsets[i]:offsets[i + 1]`` of ``start``/``end`` (pose frames); ``present[i]`` is False where
    its file had no ``text/meta`` (its tokens then come from change-points)."""

    start: np.ndarray
    end: np.ndarray
    offsets: np.ndarray
    present: np.ndarray

    @classmethod
    def from_intervals(cls, tables: Sequence[np.ndarray | None]) -> WordTimings:
        """From one ``(W, 2)`` array of (start_frame, end_frame) per interval, or None where absent."""
        arrays = [np.zeros((0, 2)) if t is None else np.asarray(t, dtype=np.float64) for t in tables]
        both = np.concatenate(arrays) if arrays else np.zeros((0, 2))
        offsets = np.concatenate(([0], np.cumsum([len(a) for a in arrays]))).astype(np.int64)
        present = np.array([t is not None for t in tables], dtype=bool)
        return cls(both[:, 0].copy(), both[:, 1].copy(), offsets, present)

    def save(self, path: Path) -> None:
        np.savez(path, start=self.start, end=self.end, offsets=self.offsets, present=self.present)

    @classmethod
    def load(cls, path: Path) -> WordTimings:
        with np.load(path) as f:
            return cls(f["start"], f["end"], f["offsets"], f["present"])

    def token_starts(self, interval: int, window_start: int, frames: int) -> np.ndarray | None:
        """`word_starts` of a window of interval ``interval``; None if that interval has no timings."""
        if not self.present[interval]:
            return None
        words = slice(self.offsets[interval], self.offsets[interval + 1])
        return word_starts(self.start[words], self.end[words], window_start, frames)
