"""Personalise a trained multi-speaker Mix-StAGE model from a recording of one person
(``docs/personalise.md``): import → one few-shot task with replay → evaluation next to the baselines.

1. The recording (``keypoints/`` or ``*_keypoints.json``/COCO-WholeBody JSON, and a video or audio file) is
   imported (`import_recording`) into ``<out>/corpus``, a PATS root that also links the base model's
   speakers from its own corpus (symbolic links, nothing copied), so one data module sees them all.
2. One continual task adds the person to the base model (`cospeech.continual.runner`, as ``cospeech
   adapt``): by default C-DiffGAN's replay (``cdiffgan``: pseudo-aligned old-speaker rows from the frozen
   base as teacher, the newest speaker's share of each batch), every training window of the person as the
   k-shot memory, for as many epochs as `adaptation_epochs` gives for their data, in ``<out>/adapt``. With
   under `CALIBRATE_BELOW_SECONDS` of training data (``mode="auto"``) nothing is trained instead: the
   person's style vector and pose statistics are fitted to the frozen base (`cospeech.continual.calibration`),
   in ``<out>/calibrated``.
3. The new model is scored on the person's held-out test windows next to the baselines (their mean pose,
   nearest neighbour, random window; ``cospeech.evaluation``), and on the base speakers before and after
   (forgetting), and ``<out>/personalise.json`` records the data used and the time each step took.

The new run (``<out>/model``, a link to the task's run) knows the person by ``name``: ``cospeech generate
talk.wav --checkpoint <out>/model --speaker NAME`` and ``GestureGenerator`` use it like any other speaker.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cospeech.continual.methods import get_method
from cospeech.continual.runner import (
    Chain,
    Preset,
    check_overrides,
    inherited_config,
    load_preset,
    override_value,
    read_mix_stage,
    run_chain,
    score,
    source_speakers,
)
from cospeech.data.importers.recording import REPORT_PREFIX as IMPORT_REPORT_PREFIX
from cospeech.data.importers.recording import import_recording
from cospeech.data.pats import (
    PROCESSED_DIR,
    RAW_DIR,
    read_intervals_table,
    write_intervals_table,
)
from cospeech.data.replay import newest_share
from cospeech.data.windows import POSE_FPS, WINDOW_SECONDS
from cospeech.errors import ConfigError, DataError
from cospeech.files import atomic_write
from cospeech.render.recording import MANIFEST

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a")
CORPUS_DIR, ADAPT_DIR, MODEL_LINK, SUMMARY = "corpus", "adapt", "model", "personalise.json"
CALIBRATED_DIR = "calibrated"
DEFAULT_METHOD = "cdiffgan"
DEFAULT_PRESET = "synth_small"
MODES = ("auto", "adapt", "calibrate")
CALIBRATE_BELOW_SECONDS = 60.0
"""``auto`` calibrates (`cospeech.continual.calibration`) below this much training data and adapts from it
on (BENCHMARKS.md, Personalise: gap closed with 30 s, calibration 0.11 vs adaptation 0.03; with 1 min 0.08
vs 0.13)."""
LISTED_SPEAKERS = 8
"""The summary lists each base speaker's test L1 up to this many speakers, else their mean and the largest
increase (``personalise.json`` keeps every one)."""
LITTLE_DATA_SECONDS = 120.0
"""Below this much training data the summary says what to expect (BENCHMARKS.md, Personalise: with 30 s,
calibration closes 0.11 of the gap between the person's mean pose and the oracle on a base of 4 or 12
speakers, 0.30 on a base of 48)."""
CALIBRATE_FROM_SPEAKERS = 25
"""``auto`` also calibrates, whatever the data, onto a base of this many speakers or more (PATS has 25).
BENCHMARKS.md, Personalise: onto a base of 48 speakers calibration closed 0.36 of the gap with 2 min and the
C-DiffGAN adaptation 0.02 (the person's rows are a small share of batches replaying 48 speakers); onto the
4-speaker base the adaptation did better from 1 min. Between 4 and 48 speakers it is not measured."""
PASSES = 2.5
"""Budget rule: the task runs enough epochs for the person's rows to cover each of their training windows
about this many times (BENCHMARKS.md, Personalise: 4 epochs leave 10 min of data seen 0.3×)."""
MAX_EPOCHS_FACTOR = 3
"""… between the preset's epochs and this many times them."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RecordingFiles:
    """Where a recording folder keeps its keypoints and its speech."""

    keypoints: Path
    video: Path | None
    audio: Path | None


def find_recording(folder: str | Path) -> RecordingFiles:
    """The keypoints (``keypoints/`` if present, else the folder itself, or the one ``*.json`` in it) and
    the speech (a video, else an audio file) of a recording folder. `DataError` naming what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: recording folder not found")
    keypoints = folder / "keypoints"
    if not keypoints.is_dir():
        others = [p for p in folder.glob("*.json") if p.name != MANIFEST]
        single = len(others) == 1 and not others[0].name.endswith("_keypoints.json")
        keypoints = others[0] if single else folder  # one COCO-WholeBody file, else per-frame files here
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    audios = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not videos and not audios:
        raise DataError(f"{folder}: no video ({', '.join(VIDEO_SUFFIXES)}) or audio file with the speech")
    if len(videos) > 1 or (not videos and len(audios) > 1):
        found = [p.name for p in (videos or audios)]
        raise DataError(f"{folder}: several speech files {found}; keep one recording per folder")
    return RecordingFiles(keypoints, videos[0] if videos else None, None if videos else audios[0])


@dataclass(frozen=True)
class PersonaliseResult:
    model: Path
    summary: dict[str, Any]


def personalise(
    recording: str | Path,
    name: str,
    base: str | Path,
    out: str | Path,
    *,
    minutes: float | None = None,
    fps: float | None = None,
    mode: str = "auto",
    method: str = DEFAULT_METHOD,
    preset: str = DEFAULT_PRESET,
    seed: int = 1,
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
) -> PersonaliseResult:
    """Import ``recording`` as speaker ``name``, add them to the Mix-StAGE run ``base``, evaluate; everything
    under ``out``.

    ``mode``: ``adapt`` trains one few-shot task with ``method``'s replay (``preset``'s task settings, then
    fit ``overrides``); ``calibrate`` trains nothing and fits the person's style vector and pose statistics
    to the base model (`cospeech.continual.calibration`; ``seed`` draws its batches); ``auto`` (default)
    calibrates with under `CALIBRATE_BELOW_SECONDS` of training data, else adapts. ``minutes``: use only the
    first M minutes of the person's training data. Returns the new run and the summary written to
    ``out/personalise.json``.

    Raises
    ------
    ConfigError : ``base`` is not a Mix-StAGE run, uses text (a recording has no transcript), already knows
        ``name``, has no free style row, or has calibrated speakers and ``mode`` adapts (training would lose
        their calibration: `RunMetadata.refuse_calibrated`); ``out`` holds a model of the other mode; the
        mode, method or overrides are unknown.
    DataError, AudioError : the recording cannot be imported (see `import_recording`).
    """
    say = progress or (lambda _: None)
    out = Path(out)
    if mode not in MODES:
        raise ConfigError(f"--mode {mode}: expected one of {', '.join(MODES)}")
    files = find_recording(recording)
    _check_out(out)
    run = read_mix_stage(base, "--base")
    hparams = run.datamodule_hparams
    known = tuple(run.metadata.speakers)
    if mode == "adapt":  # auto may still calibrate; its adaptation is refused by the runner
        run.metadata.refuse_calibrated(base, "--base")
    rows = run.metadata.model.config.get("max_num_speakers", len(known) + 1)
    if rows <= len(known):
        raise ConfigError(
            f"--base {base}: its style table has {rows} rows, all taken by {list(known)}; personalise needs "
            f"a Mix-StAGE trained with --model.init_args.generator_config.max_num_speakers above {len(known)}"
        )
    if name in known:
        raise ConfigError(f"--name {name}: already a speaker of {base} ({list(known)}); choose another name")
    if hparams.get("text_key"):
        raise ConfigError(
            f"--base {base}: trained with text ({hparams['text_key']}); a recording has no transcript, so "
            "personalise needs an audio-only Mix-StAGE (trained with --data.text_key null)"
        )
    chosen = get_method(method)
    check_overrides(overrides)
    started = time.perf_counter()
    corpus = out / CORPUS_DIR
    report_path = corpus / f"{IMPORT_REPORT_PREFIX}{name}.json"
    resumed = report_path.is_file() and any(r.speaker == name for r in read_intervals_table(corpus))
    if resumed:  # the report is written after the table: both there, the import finished
        say(f"using the imported recording in {corpus}")
        report = json.loads(report_path.read_text())
        speech = files.video or files.audio
        if (report["keypoints"], report["speech"]["file"]) != (str(files.keypoints), str(speech)):
            raise ConfigError(
                f"{out}: holds {name} imported from {report['keypoints']} and {report['speech']['file']}, "
                f"not {files.keypoints} and {speech}; use another --out"
            )
        if report.get("max_train_minutes") != minutes:
            raise ConfigError(
                f"{out}: the recording was imported with --minutes {report.get('max_train_minutes')}, "
                f"not {minutes}; use another --out"
            )
    else:
        _link_speakers(Path(hparams["root"]), corpus, known)
        say(f"importing {files.keypoints} with the speech of {files.video or files.audio} …")
        report = import_recording(
            files.keypoints, corpus, name, audio=files.audio, video=files.video, fps=fps,
            max_train_minutes=minutes, overwrite=True,  # an import interrupted after its table
        ).report  # fmt: skip
    imported = time.perf_counter() - started
    hop = int(hparams.get("window_hop") or 5)
    windows = training_windows(report, hop)
    say(f"{report['split_seconds']['train']:.1f} s of training data ({windows} windows at hop {hop})")
    train_seconds = report["split_seconds"]["train"]
    use, why = choose_mode(mode, train_seconds, len(known))
    other = out / (ADAPT_DIR if use == "calibrate" else CALIBRATED_DIR)
    if other.exists():
        held, doing = ("adapted", "calibrating") if use == "calibrate" else ("calibrated", "adapting")
        raise ConfigError(
            f"{out}: holds the {held} model of {name} ({other}), which {doing} would replace behind "
            f"{out / MODEL_LINK}: use another --out"
        )
    if use == "calibrate":
        say(f"calibration ({why}): the person's style and pose statistics fitted, no training")
        unused = unused_by_calibration(overrides, method, preset)
        if unused:
            say(f"calibration: ignoring {' '.join(unused)} (they set the adaptation; --mode adapt trains)")
        epochs = 0
        model, base_l1, fitted, calibration = _calibrate(run, Path(base), corpus, name, out, seed, overrides)
    else:
        settings = load_preset(preset)
        epochs = adaptation_epochs(settings, windows, len(known) + 1, overrides)
        say(f"adaptation: {epochs} epochs")
        chain = Chain(
            out / ADAPT_DIR,
            settings,
            chosen,
            windows,
            seed,
            (*known, name),
            base=Path(base),
            overrides=("--data.root", str(corpus), "--trainer.max_epochs", str(epochs), *overrides),
        )
        results = run_chain(chain, say)
        model = _task_run(out / ADAPT_DIR, name)
        record = json.loads((model.parent / "done.json").read_text())
        fitted = record["seconds"]
        l1 = results.matrices["L1"].values if "L1" in results.matrices else None
        base_l1 = (
            None if l1 is None else {s: (float(l1[0][i]), float(l1[-1][i])) for i, s in enumerate(known)}
        )
        calibration = None
    say(f"scoring {model} on {name}'s test windows next to the baselines …")
    from cospeech.evaluation import evaluate

    evaluated = time.perf_counter()
    evaluation = evaluate(model, speakers=[name], split="test", baselines=True)
    evaluation_seconds = time.perf_counter() - evaluated
    link = out / MODEL_LINK
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(model, out), target_is_directory=True)
    summary = {
        "speaker": name,
        "base": str(base),
        "mode": use,
        "method": chosen.name if use == "adapt" else "calibrate",
        "model": str(link),
        "epochs": epochs,
        "data": {
            "train_seconds": report["split_seconds"]["train"],
            "dev_seconds": report["split_seconds"]["dev"],
            "test_seconds": report["split_seconds"]["test"],
            "train_windows": windows,
            "minutes_asked": minutes,
            "all_train_used": report["train_beyond_minutes_seconds"] == 0,
        },
        "resumed": resumed,
        "seconds": {
            "import": round(imported, 1),
            "train": round(fitted.get("train", 0.0), 1),
            "evaluate": round(fitted.get("evaluate", 0.0) + evaluation_seconds, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "test": {model_name: rows.get(name, {}) for model_name, rows in evaluation.scores.items()},
        "base_speakers_L1": None
        if base_l1 is None
        else {s: {"before": before, "after": after} for s, (before, after) in base_l1.items()},
        "calibration": calibration,
    }
    with atomic_write(out / SUMMARY) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    return PersonaliseResult(link, summary)


def _check_out(out: Path) -> None:
    """``out`` may be new, or a folder of an earlier personalise run (resumed); anything else is refused."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another --out")
    ours = {CORPUS_DIR, ADAPT_DIR, CALIBRATED_DIR, MODEL_LINK, SUMMARY}
    others = sorted(p.name for p in out.iterdir() if p.name not in ours) if out.is_dir() else []
    if others:
        raise ConfigError(
            f"{out}: exists and holds {', '.join(others[:3])}{' …' if len(others) > 3 else ''}, not a "
            "personalise run's folders; choose another --out (an earlier run's --out is resumed)"
        )


def choose_mode(mode: str, train_seconds: float, base_speakers: int) -> tuple[str, str]:
    """``adapt`` or ``calibrate`` and why, for the progress line: ``mode`` itself, or for ``auto``
    calibration below `CALIBRATE_BELOW_SECONDS` of training data or onto a base of at least
    `CALIBRATE_FROM_SPEAKERS`, else adaptation."""
    if mode != "auto":
        return mode, f"--mode {mode}"
    if train_seconds < CALIBRATE_BELOW_SECONDS:
        return "calibrate", f"under {CALIBRATE_BELOW_SECONDS:g} s of training data"
    if base_speakers >= CALIBRATE_FROM_SPEAKERS:
        return "calibrate", f"a base of {base_speakers} speakers"
    return "adapt", f"{CALIBRATE_BELOW_SECONDS:g} s of training data or more"


def unused_by_calibration(overrides: Sequence[str], method: str, preset: str) -> list[str]:
    """What calibration does not use of what the user gave: fit arguments other than ``--data.cache_dir``
    (with their values), and ``--method`` / ``--preset`` other than the defaults."""
    given = [] if method == DEFAULT_METHOD else ["--method", method]
    given += [] if preset == DEFAULT_PRESET else ["--preset", str(preset)]
    kept = False
    for arg in overrides:
        if arg.startswith("--"):
            kept = arg.partition("=")[0] == "--data.cache_dir"
        if not kept:
            given.append(arg)
    return given


def _calibrate(
    run: Any, base: Path, corpus: Path, name: str, out: Path, seed: int, overrides: Sequence[str]
) -> tuple[Path, dict[str, tuple[float, float]], dict[str, float], dict[str, Any]]:
    """Calibrate ``name`` to the base run (``run``, its `StoredRun`) on their training windows in
    ``corpus`` and write the run ``out/calibrated``. Returns the run, the base speakers' test L1 before and
    after, the seconds taken and what was fitted."""
    import numpy as np

    from cospeech.continual.calibration import fit_calibration, write_calibrated_run
    from cospeech.data.datamodule import PatsDataModule
    from cospeech.inference.export import pretrained_from

    started = time.perf_counter()
    spec, hparams = run.metadata.data, run.datamodule_hparams
    known = run.metadata.speakers
    normalization = inherited_config(run)["data"]["normalization"]
    speakers = [list(source_speakers(run)), [*known, name]]
    data = PatsDataModule(
        str(corpus), speakers, format=spec.format, pose_key=spec.pose_key, audio_key=spec.audio_key,
        window_seconds=spec.window_seconds, window_hop=int(hparams.get("window_hop") or 5),
        audio_rate_mode=spec.audio_rate_mode, audio_level=spec.audio_level, normalization=normalization,
        representation=spec.representation, cache_dir=override_value(overrides, "--data.cache_dir"),
    )  # fmt: skip
    data.setup()
    train, person = data.datasets["train"], len(known)
    items = np.flatnonzero(
        (train.windows >= train.offsets[person]) & (train.windows < train.offsets[person + 1])
    )
    batch = train.__getitems__(items.tolist())
    stats = data.normalizer
    generator = pretrained_from(run).build_generator()  # the base as read once, by read_mix_stage
    calibration = fit_calibration(
        generator,
        {"pose": batch["pose"], "audio": batch["audio"]},
        stats.mean["pose"][person],
        stats.std["pose"][person],
        person,
        seed=seed,
    )
    rows = {k: (stats.mean[k][person], stats.std[k][person]) for k in stats.mean}
    rows["pose"] = (calibration.mean, calibration.std)
    folder = out / CALIBRATED_DIR
    hparams = {**hparams, "root": str(corpus), "speakers": speakers, "normalization": normalization}
    data_pose = (stats.mean["pose"][person], stats.std["pose"][person])
    write_calibrated_run(base, folder, name, calibration.style, rows, data_pose, hparams, normalization)
    seconds = {"train": time.perf_counter() - started}
    before, after = score(base, "base", known), score(folder, "calibrated", known)
    seconds["evaluate"] = before.seconds["evaluate"] + after.seconds["evaluate"]
    base_l1 = {s: (before.scores[s]["L1"], after.scores[s]["L1"]) for s in known if s in before.scores}
    fitted = {
        "start_style": known[calibration.start],
        "train_L1": calibration.train_l1,
        "windows": len(items),
    }
    return folder, base_l1, seconds, fitted


def training_windows(report: dict[str, Any], hop: int) -> int:
    """Training windows of the imported person at ``hop`` (window starts in range(0, T − 64, hop))."""
    window = int(WINDOW_SECONDS * POSE_FPS)
    frames = [round(i["seconds"] * POSE_FPS) for i in report["intervals"] if i["split"] == "train"]
    return sum(len(range(0, t - window, max(hop, 1))) for t in frames)


def adaptation_epochs(preset: Preset, windows: int, speakers: int, overrides: Sequence[str] = ()) -> int:
    """Epochs of the adaptation task: ``--trainer.max_epochs`` if ``overrides`` set it, else enough for the
    person's rows (``train_batches`` × C-DiffGAN's newest share of ``batch_size`` among ``speakers``, the
    person included; `newest_share`) to see each of their ``windows`` `PASSES` times, between the preset's
    task epochs ``E`` and `MAX_EPOCHS_FACTOR` · ``E``. Values from ``overrides`` win over the preset's.
    Raises ``ConfigError`` if the task's settings lack ``train_batches``, ``batch_size`` or ``max_epochs``."""
    given = override_value(overrides, "--trainer.max_epochs")
    if given is not None:
        return int(given)
    task = preset.task
    values = {}
    for section, key in (("data", "train_batches"), ("data", "batch_size"), ("trainer", "max_epochs")):
        value = override_value(overrides, f"--{section}.{key}") or task.get(section, {}).get(key)
        if value is None:
            raise ConfigError(f"preset {preset.name}: the task sets no {section}.{key}; personalise needs it")
        values[key] = int(value)
    _, newest_rows = newest_share(values["batch_size"], speakers)
    wanted = math.ceil(PASSES * windows / (values["train_batches"] * newest_rows))
    least = values["max_epochs"]
    return min(max(wanted, least), MAX_EPOCHS_FACTOR * least)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as printed lines: data used, time taken, test table, base speakers before/after."""
    data, seconds = summary["data"], summary["seconds"]
    asked = data.get("minutes_asked")
    adapted = summary.get("mode", "adapt") == "adapt"
    done = f"{summary['epochs']} epochs" if adapted else "calibrated: no training"
    step = "adaptation" if adapted else "calibration"
    lines = [
        f"data: {data['train_seconds'] / 60:.1f} min of training ({data['train_windows']} windows, {done}), "
        f"{data['test_seconds']:.0f} s held out for test"
        + (
            f" (--minutes {asked:g} asked: the recording has no more)"
            if asked and data.get("all_train_used") and asked * 60 > data["train_seconds"]
            else ""
        ),
        f"time: import {seconds['import']:.0f} s, {step} {seconds['train']:.0f} s, evaluation "
        f"{seconds['evaluate']:.0f} s, total {seconds['total']:.0f} s"
        + (
            " (this run only: it carried on from an earlier run in this --out)"
            if summary.get("resumed")
            else ""
        ),
    ]
    if data["train_seconds"] < LITTLE_DATA_SECONDS:
        known = len(summary["base_speakers_L1"] or {})
        lines.append(
            f"under {LITTLE_DATA_SECONDS / 60:g} min of data: how far the model gets beyond the person's "
            f"mean pose depends on how many speakers the base learnt from (this one: {known}); with 30 s, a "
            "base of 4 or 12 closed 0.11 of the gap to the ideal, one of 48 closed 0.30 (BENCHMARKS.md)"
        )
    lines.append(f"{summary['speaker']}'s test windows (L1 lower is better, PCK higher):")
    for model_name, scores in summary["test"].items():
        if scores:
            l1, pck = scores.get("L1", float("nan")), scores.get("PCK", float("nan"))
            lines.append(f"  {model_name:20s} L1 {l1:.4g}  PCK {pck:.4g}")
    base = summary["base_speakers_L1"]
    if base and len(base) <= LISTED_SPEAKERS:
        shown = ", ".join(f"{s} {v['before']:.4g} → {v['after']:.4g}" for s, v in base.items())
        lines.append(f"base speakers' test L1 before → after: {shown}")
    elif base:  # a line per speaker is unreadable for a base of many: the mean and the largest change
        before, after = (sum(v[k] for v in base.values()) / len(base) for k in ("before", "after"))
        most = max(base, key=lambda s: base[s]["after"] - base[s]["before"])
        lines.append(
            f"base speakers' test L1 before → after ({len(base)} speakers): mean {before:.4g} → {after:.4g}, "
            f"largest increase {most} {base[most]['before']:.4g} → {base[most]['after']:.4g} "
            f"(all in {SUMMARY})"
        )
    lines.append(
        f"model: {summary['model']} (cospeech generate talk.wav --checkpoint {summary['model']} "
        f"--speaker {summary['speaker']})"
    )
    return lines


def _link_speakers(source: Path, corpus: Path, speakers: Sequence[str]) -> None:
    """A PATS root at ``corpus`` whose ``speakers`` are symbolic links to those of ``source``."""
    from cospeech.data.pats import PatsCorpus

    base = PatsCorpus(source)
    base.check_speakers(list(speakers))
    corpus.mkdir(parents=True, exist_ok=True)
    for speaker in speakers:
        for folder in (Path(PROCESSED_DIR) / speaker, Path(RAW_DIR) / f"{speaker}_cropped"):
            target = (source / folder).resolve()
            link = corpus / folder
            if target.is_dir() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(target, target_is_directory=True)
    records = [r for r in read_intervals_table(source) if r.speaker in speakers]
    write_intervals_table(corpus, records)


def _task_run(folder: Path, name: str) -> Path:
    """The run of the chain's task that added ``name`` (its ``done.json`` names it)."""
    (task,) = [p for p in folder.glob(f"t*_{name}") if (p / "done.json").is_file()]
    record = json.loads((task / "done.json").read_text())
    return (task / record["run"]).resolve()
