"""Held-out clips rendered side by side (ground truth | each model), with the speech, plus a gallery page.

This is what ``cospeech render`` and the quickstart show: for ``count`` intervals of a split (a seeded
choice, as the reference's ``np.random.seed(0)`` permutation), each model generates gestures from the
interval's speech through the same ``GestureGenerator`` users call, and the ground-truth poses (the
stored key the first run was trained on, ``pose/normalize`` in PATS) are drawn next to them. Intervals
without speech are skipped (PATS ships audio separately; SDT clips hold theirs).

Each panel is titled by its run's label (``--label``, else the run's folder, ``tiny/version_0``), so two
runs of one model are told apart. Where the corpus stores the nose and eyes the models do not predict (PATS),
every panel is drawn on ``pats52`` with the ground truth's nose and eyes, as the reference re-inserts them
for its metrics (offsets from the neck, which all panels share): heads then turn as the speaker's did. The
page shows every run's ``evaluation_<split>.json`` (``cospeech evaluate``): one row per run, its label, and
the baselines and oracle once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cospeech.audio import SAMPLE_RATE
from cospeech.data.corpus import SPLITS, Corpus, open_corpus
from cospeech.data.poses import flat_to_joints
from cospeech.errors import CheckpointError, ConfigError, DataError
from cospeech.inference.pipeline import GeneratedGestures, GestureGenerator
from cospeech.render.figure import HEAD_JOINTS
from cospeech.render.gallery import ClipEntry, write_gallery
from cospeech.render.video import write_video
from cospeech.skeletons import PATS48, PATS52, PATS_MODEL_JOINTS, get_skeleton
from cospeech.training.checkpoints import resolve_checkpoint
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
    size: tuple[int, int] = (1280, 720),
    style_transfer: bool = False,
    labels: Sequence[str] | None = None,
    loudness: bool = False,
) -> RenderedClips:
    """Render ``count`` clips of ``split`` for one or more trained runs (all must know the speakers).

    With ``style_transfer`` (one multi-speaker run) each clip's speech is rendered in **every** speaker's
    style side by side, next to the ground truth of the speaker who said it. Models trained with text get
    the interval's transcript (``text/meta``). Videos go to ``<out_dir>/render/<split>/<speaker>/
    <interval>.mp4`` (``render/style_transfer/…`` for style transfer) and the page to
    ``<out_dir>/gallery.html`` (``gallery_style_transfer.html``; ``out_dir`` defaults to the first run's
    directory). ``labels`` name the runs' panels and table rows (default ``run_labels``); ``loudness``
    draws the speech's loudness under the figures (``write_video``).

    Raises
    ------
    ConfigError : no checkpoint, a count below 1, an unknown split, labels not one per checkpoint, or style
        transfer with several runs or a one-speaker run.
    DataError : no clip of the split has speech.
    """
    if not checkpoints:
        raise ConfigError("render needs at least one checkpoint")
    if count < 1:
        raise ConfigError(f"count={count}: render at least 1 clip")
    if labels is not None and len(labels) != len(checkpoints):
        raise ConfigError(f"{len(labels)} labels for {len(checkpoints)} checkpoints; give one per checkpoint")
    labels = unique_labels(labels if labels is not None else run_labels(checkpoints))
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}; expected one of {list(SPLITS)}")
    if style_transfer and len(checkpoints) != 1:
        raise ConfigError("style transfer renders one run in each of its speakers' styles: one checkpoint")
    generators = [GestureGenerator.from_pretrained(c) for c in checkpoints]
    if style_transfer and "style" not in generators[0].generator.inputs:
        raise ConfigError(
            f"{checkpoints[0]}: {generators[0].name} has no style input, so every speaker's style would be "
            "the same gestures; style transfer needs a multi-speaker model such as mix_stage"
        )
    if style_transfer and len(generators[0].speakers) < 2:
        raise ConfigError(
            f"{checkpoints[0]}: style transfer needs a model trained on several speakers; this one knows "
            f"only {generators[0].speakers[0]!r}"
        )
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
        if corpus.has_speech(speaker, interval)
    ]
    if not candidates:
        raise DataError(f"{root}: no {split} intervals with speech for speakers {speakers}")
    order = _every_speaker_first(candidates, speakers, count, seed)
    skeleton = get_skeleton(generators[0].skeleton.name)
    with_head = skeleton == PATS48 and tuple(corpus.box_joints) == HEAD_JOINTS
    folder = Path("render") / "style_transfer" / split if style_transfer else Path("render") / split
    videos, entries = [], []
    for index in sorted(order):
        speaker, interval = candidates[index]
        speech, words = _speech(corpus, speaker, interval), corpus.transcript(speaker, interval)

        def generate(g: GestureGenerator, style: str, speech=speech, words=words) -> GeneratedGestures:
            rate = None if isinstance(speech, Path) else SAMPLE_RATE
            words = words if g.uses_text else None
            return g.generate(speech, sample_rate=rate, speaker=style, transcript=words)

        if style_transfer:
            generated = [generate(generators[0], style) for style in generators[0].speakers]
            names = [f"as {style}" for style in generators[0].speakers]
        else:
            generated = [generate(g, speaker) for g in generators]
            names = list(labels)
        stored = corpus.read(speaker, interval, [data.pose_key])[data.pose_key]
        panels = [(f"ground truth ({speaker})", flat_to_joints(corpus.to_model_pose(data.pose_key, stored)))]
        panels += [(name, gestures.poses) for name, gestures in zip(names, generated, strict=True)]
        if with_head:
            head = flat_to_joints(corpus.to_box_joints(data.pose_key, stored))  # (T, 3, 2)
            panels = [(title, with_pats_head(poses, head)) for title, poses in panels]
        sound = generated[0]  # the interval's audio file as decoded: its rate and channels
        relative = folder / speaker / f"{interval}.mp4"
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        videos.append(
            write_video(
                out / relative,
                panels,
                PATS52 if with_head else skeleton,
                audio=sound.audio,
                sample_rate=sound.sample_rate,
                speaker=speaker,
                size=size,
                loudness=loudness,
            )
        )
        what = "in every style" if style_transfer else split
        entries.append(
            ClipEntry(f"{speaker} · {interval}", relative, speaker, f"{sound.duration:.1f} s, {what}")
        )
    names = ", ".join(labels)
    title = f"cospeech · {names} · {'style transfer, ' if style_transfer else ''}{split}"
    page_name = "gallery_style_transfer.html" if style_transfer else "gallery.html"
    table = gallery_metrics(checkpoints, labels, split)
    page = write_gallery(
        out / page_name, entries, table.rows, title=title, directions=table.directions, legend=table.legend
    )
    return RenderedClips(videos, page)


def run_labels(checkpoints: Sequence[str | Path]) -> list[str]:
    """A label per run for panels and tables: ``<name>/version_<n>`` for a run folder, ``<name>/version_<n>
    (best)`` for a checkpoint in one, else the folder's or file's name (an exported model)."""
    labels = []
    for checkpoint in checkpoints:
        path, stem = Path(checkpoint), None
        if path.suffix == ".ckpt":
            path, stem = path.parent.parent, path.stem
        label = f"{path.parent.name}/{path.name}" if path.name.startswith("version_") else path.name
        labels.append(label if stem is None else f"{label} ({stem})")
    return labels


def unique_labels(labels: Sequence[str]) -> list[str]:
    """``labels`` with repeats numbered (``tiny/version_0``, ``tiny/version_0 (2)``), so every panel and
    row has its own name."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def with_pats_head(poses: np.ndarray, head: np.ndarray) -> np.ndarray:
    """``pats48`` poses ``(T, 48, 2)`` with the neck (origin) and ``head`` ``(T, 3, 2)`` (Nose, REye, LEye,
    neck-relative) put back: ``pats52`` ``(T, 52, 2)``, the first ``min`` frames of both."""
    T = min(len(poses), len(head))
    full = np.zeros((T, PATS52.num_joints, 2), np.float32)
    full[:, list(PATS_MODEL_JOINTS)] = poses[:T]
    full[:, [PATS52.index(n) for n in HEAD_JOINTS]] = head[:T]
    return full


def _scored_checkpoint(document: dict, folder: Path) -> str | None:
    """File name of the checkpoint an evaluation scored: the one it names, or the one its run folder
    resolves to (``best.ckpt``, else ``last.ckpt``)."""
    scored = Path(str(document.get("checkpoint", "")))
    if scored.suffix == ".ckpt":
        return scored.name
    try:
        return resolve_checkpoint(folder).name
    except CheckpointError:
        return None


@dataclass(frozen=True)
class GalleryMetrics:
    """The gallery's metrics table: rows (run label or baseline → metric → value), each metric's direction
    (``MetricSpec.higher_is_better``) and the legend lines."""

    rows: dict[str, dict[str, float]]
    directions: dict[str, bool | None]
    legend: dict[str, str]


def gallery_metrics(checkpoints: Sequence[str | Path], labels: Sequence[str], split: str) -> GalleryMetrics:
    """Mean-over-speakers scores of every run that has an ``evaluation_<split>.json`` in its folder: the
    run's own model under its label, then each baseline and the oracle once (from the first run holding
    them). Runs without an evaluation get no row, as do checkpoint files other than the one the run's
    evaluation scored (``best.ckpt`` by default)."""
    from cospeech.continual.results import higher_is_better
    from cospeech.evaluation import ROW_LEGEND

    rows: dict[str, dict[str, float]] = {}
    legend: dict[str, str] = {}
    baselines: dict[str, dict[str, float]] = {}
    for checkpoint, label in zip(checkpoints, labels, strict=True):
        path = Path(checkpoint)
        folder = path.parent.parent if path.suffix == ".ckpt" else path
        scores_file = folder / f"evaluation_{split}.json"
        if not scores_file.is_file():
            continue
        document = json.loads(scores_file.read_text())
        if path.suffix == ".ckpt" and _scored_checkpoint(document, folder) != path.name:
            continue  # the run's evaluation scored another of its checkpoints
        means = {
            m: {k: v for k, v in r["mean"].items() if v is not None} for m, r in document["scores"].items()
        }
        if not means:
            continue
        model, *others = means
        rows[label] = means[model]
        for name in others:
            baselines.setdefault(name, means[name])
        legend.update(document.get("legend") or {})
    rows.update(baselines)
    legend.update({name: ROW_LEGEND[name] for name in baselines if name in ROW_LEGEND})
    columns = dict.fromkeys(key for row in rows.values() for key in row)
    if "diversity" in columns:
        legend["diversity"] = (
            "neither higher nor lower is better: compare with diversity_gt, the ground truth's"
        )
    return GalleryMetrics(rows, {key: higher_is_better(key) for key in columns}, legend)


def _speech(corpus: Corpus, speaker: str, interval: str) -> Path | np.ndarray:
    """The interval's speech file (its own rate and channels, muxed into the video), else its 16 kHz
    waveform (SDT keeps the speech inside each clip file)."""
    path = corpus.raw_audio(speaker, interval)
    if path is not None:
        return path
    waveform = corpus.waveform(speaker, interval)
    if waveform is None:
        raise DataError(f"{corpus.interval_path(speaker, interval)}: the interval has no speech")
    return waveform


def _every_speaker_first(
    candidates: Sequence[tuple[str, str]], speakers: Sequence[str], count: int, seed: int
) -> list[int]:
    """``count`` indices of ``candidates``: a seeded permutation of each speaker's clips, taken in turns,
    so every speaker is shown once ``count`` reaches the number of speakers (one speaker: the first
    ``count`` of one seeded permutation, as before)."""
    rng = np.random.default_rng(seed)
    queues = []
    for speaker in speakers:
        ids = [i for i, (s, _) in enumerate(candidates) if s == speaker]
        queues.append([ids[k] for k in rng.permutation(len(ids))])
    chosen: list[int] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


def _data_root(checkpoint: str | Path) -> Path:
    hparams = read_run(checkpoint).datamodule_hparams
    if not hparams.get("root"):
        raise ConfigError(f"{checkpoint}: the run does not record its data root; pass --data")
    return Path(hparams["root"])
