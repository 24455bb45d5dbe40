"""Held-out clips rendered side by side (ground truth | each model), with the speech, plus a gallery page.

This is what ``cospeech render`` and the quickstart show: for ``count`` intervals of a split (a seeded
choice, as the reference's ``np.random.seed(0)`` permutation), each model generates gestures from the
interval's raw speech through the same ``GestureGenerator`` users call, and the ground-truth poses (the
stored key the first run was trained on, ``pose/normalize`` in PATS) are drawn next to them. Intervals
without raw audio are skipped (PATS ships audio separately); the page lists the run's metrics when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cospeech.data.corpus import SPLITS, open_corpus
from cospeech.data.poses import flat_to_joints
from cospeech.errors import ConfigError, DataError
from cospeech.inference.pipeline import GestureGenerator
from cospeech.render.gallery import ClipEntry, write_gallery
from cospeech.render.video import write_video
from cospeech.skeletons import get_skeleton
from cospeech.training.metadata import read_run


@dataclass(frozen=True)
class RenderedClips:
    videos: list[Path]
    page: Path


def render_clips(
    checkpoints: Sequence[str | Path],
    *,
    count: int = 20,
    split: str = "test",
    out_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    seed: int = 0,
    metrics: Mapping[str, Mapping[str, float]] | None = None,
    size: tuple[int, int] = (1280, 720),
) -> RenderedClips:
    """Render ``count`` clips of ``split`` for one or more trained runs (all must know the speakers).

    Videos go to ``<out_dir>/render/<split>/<speaker>/<interval>.mp4`` and the page to
    ``<out_dir>/gallery.html`` (``out_dir`` defaults to the first run's directory)."""
    if not checkpoints:
        raise ConfigError("render needs at least one checkpoint")
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}; expected one of {list(SPLITS)}")
    generators = [GestureGenerator.from_pretrained(c) for c in checkpoints]
    first = Path(checkpoints[0])
    out = Path(out_dir) if out_dir else (first if first.is_dir() else first.parent.parent)
    root = Path(data_root) if data_root else _data_root(checkpoints[0])
    data = generators[0].metadata.data
    corpus = open_corpus(root, data.format)
    speakers = [s for s in generators[0].speakers if all(s in g.speakers for g in generators)]
    candidates = [
        (speaker, interval)
        for speaker in speakers
        for interval in corpus.interval_ids(speaker, split)
        if corpus.raw_audio(speaker, interval) is not None
    ]
    if not candidates:
        raise DataError(f"{root}: no {split} intervals with raw audio for speakers {speakers}")
    order = np.random.default_rng(seed).permutation(len(candidates))[:count]
    skeleton = get_skeleton(generators[0].skeleton.name)
    videos, entries = [], []
    for index in sorted(order):
        speaker, interval = candidates[index]
        stored = corpus.read(speaker, interval, [data.pose_key])[data.pose_key]
        generated = [g.generate(corpus.raw_audio(speaker, interval), speaker=speaker) for g in generators]
        panels = [("ground truth", flat_to_joints(corpus.to_model_pose(data.pose_key, stored)))]
        panels += [(g.name, gestures.poses) for g, gestures in zip(generators, generated, strict=True)]
        speech = generated[0]  # the interval's audio file as decoded: its rate and channels
        relative = Path("render") / split / speaker / f"{interval}.mp4"
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        videos.append(
            write_video(
                out / relative,
                panels,
                skeleton,
                audio=speech.audio,
                sample_rate=speech.sample_rate,
                speaker=speaker,
                size=size,
            )
        )
        entries.append(
            ClipEntry(f"{speaker} · {interval}", relative, speaker, f"{speech.duration:.1f} s, {split}")
        )
    title = f"cospeech · {', '.join(g.name for g in generators)} · {split}"
    page = write_gallery(out / "gallery.html", entries, metrics, title=title)
    return RenderedClips(videos, page)


def _data_root(checkpoint: str | Path) -> Path:
    hparams = read_run(checkpoint).datamodule_hparams
    if not hparams.get("root"):
        raise ConfigError(f"{checkpoint}: the run does not record its data root; pass --data")
    return Path(hparams["root"])
