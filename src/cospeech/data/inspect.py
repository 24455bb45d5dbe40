"""Per-speaker summaries of a corpus in any registered format (``cospeech data info``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cospeech.data.corpus import SPLITS, open_corpus
from cospeech.data.windows import POSE_FPS, WindowSpec

TRAINING_HOP = 5
"""``PatsDataModule``'s default ``window_hop``: training windows start every 5 pose frames (C-DiffGAN), so a
training epoch sees about 64 / 5 ≈ 13 times as many windows as the non-overlapping count."""


@dataclass(frozen=True)
class SpeakerSummary:
    speaker: str
    intervals: int
    minutes: float
    """Pose frames / 15 fps / 60, each frame of overlapping clips once (`Corpus.source_span`)."""
    windows: dict[str, int]
    """Non-overlapping 64-frame windows per split: what evaluation scores (every frame once)."""
    training_windows: int
    """Windows of the train split at the default training hop (`TRAINING_HOP`): what an epoch sees."""


def corpus_table(root: str | Path, speakers: Sequence[str] | None = None) -> list[SpeakerSummary]:
    """One row per speaker. Lengths come from `Corpus.pose_frames` (HDF5 headers for PATS, no array is
    read), so this is fast on the full 251-hour PATS."""
    corpus = open_corpus(root)
    chosen = list(speakers) if speakers else corpus.speakers
    corpus.check_speakers(chosen)
    spec, training_spec = WindowSpec(), WindowSpec(hop=TRAINING_HOP)
    rows = []
    for speaker in chosen:
        frames_total = 0
        windows = dict.fromkeys(SPLITS, 0)
        training_windows = 0
        seen: set[str] = set()  # SDT tests on the dev clips where it has no test rows: count them once
        covered: dict[str, set[int]] = {}  # frames of each source recording of overlapping clips
        for split in SPLITS:
            for interval_id in corpus.interval_ids(speaker, split):
                frames = corpus.pose_frames(speaker, interval_id)
                windows[split] += max(spec.count({"pose": frames}, clips=corpus.clips), 0)
                if split == "train":
                    training_windows += max(training_spec.count({"pose": frames}, clips=corpus.clips), 0)
                if interval_id in seen:
                    continue
                seen.add(interval_id)
                span = corpus.source_span(speaker, interval_id)
                if span is None:
                    frames_total += frames
                else:
                    covered.setdefault(span[0], set()).update(range(span[1], span[1] + frames))
        intervals = len(seen)
        minutes = (frames_total + sum(len(f) for f in covered.values())) / POSE_FPS / 60
        rows.append(SpeakerSummary(speaker, intervals, minutes, windows, training_windows))
    return rows


def format_table(rows: Sequence[SpeakerSummary], *, clips: bool = False) -> str:
    """The table with a footnote saying which windows are counted: the non-overlapping ones evaluation
    scores, and (last column) the ~13× more overlapping ones a training epoch sees; for a corpus of pre-cut
    clips (``clips``, SDT) one window per clip instead."""
    header = ["speaker", "intervals", "minutes", *(f"{s} windows*" for s in SPLITS), "train, hop 5**"]
    body = [
        [
            r.speaker,
            str(r.intervals),
            f"{r.minutes:.1f}",
            *(str(r.windows[s]) for s in SPLITS),
            str(r.training_windows),
        ]
        for r in rows
    ]
    total = [
        "total",
        str(sum(r.intervals for r in rows)),
        f"{sum(r.minutes for r in rows):.1f}",
        *(str(sum(r.windows[s] for r in rows)) for s in SPLITS),
        str(sum(r.training_windows for r in rows)),
    ]
    table = [header, *body, total]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    lines = [line(row) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
    frames = WindowSpec().frames
    if clips:
        lines.append(f"*, ** one {frames}-frame window per clip (clips overlap; intervals = clips)")
        return "\n".join(lines)
    lines.append(
        f"*  non-overlapping {frames}-frame ({frames / POSE_FPS:.1f} s) windows, each frame once: what "
        "evaluate scores"
    )
    lines.append(
        f"** train windows starting every {TRAINING_HOP} frames (--data.window_hop, default "
        f"{TRAINING_HOP}): what one training epoch sees"
    )
    return "\n".join(lines)
