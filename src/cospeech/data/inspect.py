"""Per-speaker summaries of a corpus in any registered format (``cospeech data info``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cospeech.data.corpus import SPLITS, open_corpus
from cospeech.data.windows import POSE_FPS, WindowSpec


@dataclass(frozen=True)
class SpeakerSummary:
    speaker: str
    intervals: int
    minutes: float
    windows: dict[str, int]
    """Non-overlapping 64-frame windows per split."""


def corpus_table(root: str | Path, speakers: Sequence[str] | None = None) -> list[SpeakerSummary]:
    """One row per speaker. Lengths come from `Corpus.pose_frames` (HDF5 headers for PATS, no array is
    read), so this is fast on the full 251-hour PATS."""
    corpus = open_corpus(root)
    chosen = list(speakers) if speakers else corpus.speakers
    corpus.check_speakers(chosen)
    spec = WindowSpec()
    rows = []
    for speaker in chosen:
        frames_total = 0
        windows = dict.fromkeys(SPLITS, 0)
        intervals = 0
        for split in SPLITS:
            for interval_id in corpus.interval_ids(speaker, split):
                frames = corpus.pose_frames(speaker, interval_id)
                frames_total += frames
                windows[split] += max(spec.count({"pose": frames}), 0)
                intervals += 1
        rows.append(SpeakerSummary(speaker, intervals, frames_total / POSE_FPS / 60, windows))
    return rows


def format_table(rows: Sequence[SpeakerSummary]) -> str:
    header = ["speaker", "intervals", "minutes", *(f"{s} windows" for s in SPLITS)]
    body = [
        [r.speaker, str(r.intervals), f"{r.minutes:.1f}", *(str(r.windows[s]) for s in SPLITS)] for r in rows
    ]
    total = [
        "total",
        str(sum(r.intervals for r in rows)),
        f"{sum(r.minutes for r in rows):.1f}",
        *(str(sum(r.windows[s] for r in rows)) for s in SPLITS),
    ]
    table = [header, *body, total]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    lines = [line(row) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
