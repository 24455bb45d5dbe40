"""Task sequences: speaker after speaker, each task a normal run trained in-process by the fit engine, scored
after each task on every speaker seen, resumable at the task it stopped in (``docs/continual.md``).

The protocol is the C-DiffGAN reference's (``pats_data_and_cdiffgan_evaluation.md`` §5.1,
``cdiffgan_models_and_training.md`` §7): task 1 trains Mix-StAGE on the first speaker's full data; task t ≥ 2
starts from task t−1's model (``init_from``, which is also the frozen teacher) and adds speaker t from k
windows, with speakers ``[[first], [first … speaker t]]`` (style ids stable, source normalisation and pose
clusters from the first speaker) and the method's replay. Unlike the reference, every task's checkpoint is
self-contained, so nothing rebuilds earlier tasks.

Folder layout of ``cospeech continual --out DIR`` (one chain per method, k and seed, each an independent job):

* ``DIR/t1_<first>/``: the first task, shared by every chain of DIR (trained once, under a file lock):
  ``settings.json``, ``first_task.yaml``, ``version_0/`` (the run), ``done.json`` (its scores);
* ``DIR/<method>/k<k>/seed<s>/``: ``settings.json``, ``task.yaml`` (the preset's task config with what the
  first model fixes: its data features and architecture), ``t<t>_<speaker>/`` per task (the run and
  ``done.json``) and ``results/`` (``cospeech.continual.results``).

A task is finished when its ``done.json`` exists: it is written atomically after the task's evaluation, so a
run is never retrained once scored. An unfinished task whose run has ``final_metrics.json`` finished training
and is only scored; one with ``checkpoints/last.ckpt`` resumes from it (``--ckpt_path``); otherwise it starts
afresh.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cospeech.continual.methods import Method
from cospeech.continual.results import RESULTS_DIRNAME, ChainResults, task_matrices
from cospeech.errors import ConfigError
from cospeech.files import atomic_write

PRESETS_DIR = Path(__file__).resolve().parent.parent / "configs" / "continual"
DONE_FILE = "done.json"
SETTINGS_FILE = "settings.json"
TASK_CONFIG = "task.yaml"
FIRST_TASK_CONFIG = "first_task.yaml"
MIX_STAGE = "mix_stage"
RUNNER_ARGS = (
    "--config",
    "--ckpt_path",
    "--seed_everything",
    "--run.root",
    "--run.name",
    "--data.speakers",
    "--data.k_shot",
    "--data.fewshot_seed",
    "--model.init_args.init_from",
)
"""Fit arguments the runner sets for every task; a user override of one of them is refused."""
INHERITED_DATA = (
    "root",
    "format",
    "pose_key",
    "audio_key",
    "text_key",
    "repeat_text",
    "pose_clusters",
    "window_seconds",
    "audio_rate_mode",
    "audio_level",
    "seed",
)
"""Data-module arguments every task takes from the first model: the features it was built for, and the seed
its pose clusters were fitted with (so cluster labels mean the same in every task)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Preset:
    """A continual protocol (``configs/continual/<name>.yaml``): the speaker order, default k and seeds, the
    fit config every task starts from, and the overrides of the first task and of the later ones."""

    name: str
    speakers: tuple[str, ...]
    k_shot: int
    seeds: tuple[int, ...]
    config: str
    """Built-in config name (``mix_stage``) or path; a relative path is first looked up next to the
    preset."""
    first_task: dict[str, Any]
    task: dict[str, Any]


PRESET_KEYS = ("speakers", "k_shot", "seeds", "config", "first_task", "task")


def load_preset(name_or_path: str | Path) -> Preset:
    """A preset by built-in name (``synth_small``, ``pats_paper``) or YAML path. Raises ``ConfigError``
    naming the preset and every problem."""
    path = Path(name_or_path)
    if not path.is_file():
        builtin = PRESETS_DIR / f"{name_or_path}.yaml"
        if not builtin.is_file():
            known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
            raise ConfigError(
                f"preset {str(name_or_path)!r}: no such file or built-in preset; built-in: {known}"
            )
        path = builtin
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset is a mapping of {', '.join(PRESET_KEYS)}")
    problems = [f"unknown key {k!r}" for k in data if k not in PRESET_KEYS]
    problems += [f"missing key {k!r}" for k in PRESET_KEYS if k not in data]
    speakers, seeds = data.get("speakers"), data.get("seeds")
    if not _names(speakers) or len(set(speakers)) != len(speakers) or len(speakers) < 2:
        problems.append(f"speakers={speakers!r} must be at least two distinct names")
    if type(data.get("k_shot")) is not int or data["k_shot"] < 1:
        problems.append(f"k_shot={data.get('k_shot')!r} must be an integer ≥ 1")
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds):
        problems.append(f"seeds={seeds!r} must be a non-empty list of integers")
    if not isinstance(data.get("config"), str):
        problems.append(f"config={data.get('config')!r} must be a config name or path")
    problems += [f"{k} must be a mapping (fit config overrides)" for k in ("first_task", "task")
                 if not isinstance(data.get(k, {}), dict)]  # fmt: skip
    if problems:
        raise ConfigError(f"{path}: {'; '.join(problems)}")
    beside = path.parent / data["config"]  # a config file next to the preset, else a built-in name or path
    config = str(beside.resolve()) if beside.is_file() else data["config"]
    return Preset(
        path.stem, tuple(speakers), data["k_shot"], tuple(seeds), config, data["first_task"], data["task"]
    )


@dataclass(frozen=True)
class Chain:
    """One task sequence of one method, k and seed, and where it lives.

    ``speakers`` is the whole order. Without ``base`` the first task trains Mix-StAGE on ``speakers[0]`` in
    ``first_folder`` (shared by chains); with it, that trained Mix-StAGE run stands for the first task, and
    its speakers must start the order."""

    folder: Path
    preset: Preset
    method: Method
    k_shot: int
    seed: int
    speakers: tuple[str, ...]
    base: Path | None = None
    first_folder: Path | None = None
    overrides: tuple[str, ...] = ()
    """Fit arguments added to every task (``--trainer.max_epochs 2``), after the runner's own."""

    def __post_init__(self) -> None:
        if type(self.k_shot) is not int or self.k_shot < 1:
            raise ConfigError(f"k-shot {self.k_shot!r}: must be an integer ≥ 1 (windows per new speaker)")
        if len(set(self.speakers)) != len(self.speakers):
            raise ConfigError(f"speakers {list(self.speakers)}: a speaker appears twice")
        if (self.base is None) == (self.first_folder is None):
            raise ValueError("a chain has either a base run or a first-task folder")
        check_overrides(self.overrides)

    @property
    def label(self) -> str:
        return f"{self.method.name} k{self.k_shot} seed{self.seed}"

    def settings(self) -> dict[str, Any]:
        """What the chain folder was started with; another chain with other settings may not reuse it."""
        return {
            "method": self.method.name,
            "k_shot": self.k_shot,
            "seed": self.seed,
            "speakers": list(self.speakers),
            "preset": self.preset.name,
            "config": self.preset.config,
            "task": self.preset.task,
            "base": None if self.base is None else str(self.base.resolve()),
            "first_task": None if self.first_folder is None else self.preset.first_task,
            "overrides": list(self.overrides),
        }


def check_overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """``overrides``, unless they hold fit arguments the runner sets itself (`RUNNER_ARGS`): then a
    ``ConfigError`` naming them."""
    taken = sorted({a.partition("=")[0] for a in overrides if a.partition("=")[0] in RUNNER_ARGS})
    if taken:
        raise ConfigError(f"{', '.join(taken)}: set by the continual runner for every task; leave it out")
    return tuple(overrides)


def plan_chains(
    preset: Preset,
    method: Method,
    out: str | Path,
    *,
    k_shot: int | None = None,
    seeds: Sequence[int] | None = None,
    speakers: Sequence[str] | None = None,
    base: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> list[Chain]:
    """The chains of ``cospeech continual``: one per seed in ``out/<method>/k<k>/seed<s>``, sharing the
    first task in ``out/t1_<first speaker>`` (or starting from ``base``). Defaults from the preset."""
    out = Path(out)
    k = preset.k_shot if k_shot is None else k_shot
    order = tuple(speakers or preset.speakers)
    if len(order) < 2:
        raise ConfigError(f"speakers {list(order)}: a sequence needs at least two speakers")
    return [
        Chain(
            out / method.name / f"k{k}" / f"seed{seed}",
            preset,
            method,
            k,
            seed,
            order,
            base=None if base is None else Path(base),
            first_folder=None if base is not None else first_task_folder(out, order),
            overrides=tuple(overrides),
        )
        for seed in (preset.seeds if seeds is None else seeds)
    ]


@dataclass(frozen=True)
class TaskRecord:
    """A finished task (its ``done.json``): the run, the speakers it was scored on and their test scores."""

    name: str
    run: Path
    seen: tuple[str, ...]
    scores: dict[str, dict[str, float]]
    """``{speaker: {metric: value}}`` on the test split; a speaker without test windows is absent."""
    windows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    """``train`` and ``evaluate`` wall-clock seconds of this process (0 where it did not do that step)."""

    def write(self, path: Path, extra: Mapping[str, Any] | None = None) -> None:
        run = _relative(self.run, path.parent)
        payload = {
            "task": self.name,
            "run": str(run),
            "seen": list(self.seen),
            "scores": self.scores,
            "windows": self.windows,
            "seconds": self.seconds,
            **(extra or {}),
        }
        with atomic_write(path) as temporary:
            temporary.write_text(json.dumps(payload, indent=1))

    @classmethod
    def read(cls, path: Path) -> TaskRecord:
        data = json.loads(path.read_text())
        return cls(
            data["task"],
            (path.parent / data["run"]).resolve(),
            tuple(data["seen"]),
            data["scores"],
            data.get("windows", {}),
            data.get("seconds", {}),
        )


def run_chain(chain: Chain, progress: Progress | None = None) -> ChainResults:
    """Run (or resume) ``chain`` to its last task, writing ``results/`` after every task; returns the
    results. Raises ``ConfigError`` when the folder holds a chain started with other settings or the base
    is not a Mix-StAGE run, and whatever training or evaluation raises (the chain then resumes where it
    stopped)."""
    say = progress or (lambda _: None)
    base = None if chain.base is None else read_mix_stage(chain.base, "--base")  # read once: it has weights
    check_speakers_early(chain, base)
    if base is not None:
        learnt = base.metadata.speakers
        if tuple(chain.speakers[: len(learnt)]) != learnt or len(chain.speakers) == len(learnt):
            raise ConfigError(
                f"--base {chain.base}: knows speakers {list(learnt)}, which must start the order "
                f"{list(chain.speakers)} and leave at least one speaker to learn"
            )
    chain.folder.mkdir(parents=True, exist_ok=True)
    claim(chain.folder, chain.settings())
    first = _first_task(chain, base, say)
    start = base if base is not None else read_mix_stage(first.run, "first task")
    source = source_speakers(start)
    known = len(first.seen)
    task_config = chain.folder / TASK_CONFIG
    _write_yaml(task_config, _deep_merge(chain.preset.task, inherited_config(start)))
    records = [first]
    results = _write_results(chain, records)
    for index in range(known, len(chain.speakers)):
        speaker, seen = chain.speakers[index], chain.speakers[: index + 1]
        name = f"t{index - known + 2}_{speaker}"
        args = [
            "--config", chain.preset.config,
            "--config", str(task_config),
            "--config", str(chain.method.config),
            "--data.speakers", json.dumps([list(source), list(seen)]),
            "--data.k_shot", str(chain.k_shot),
            "--data.fewshot_seed", str(chain.seed),
            "--seed_everything", str(chain.seed),
            "--model.init_args.init_from", str(records[-1].run),
            *chain.overrides,
        ]  # fmt: skip
        records.append(
            run_task(chain.folder, name, args, seen, lambda m, n=name: say(f"[{chain.label}] {n}: {m}"))
        )
        results = _write_results(chain, records)
    say(f"[{chain.label}] done: {chain.folder / RESULTS_DIRNAME}")
    return results


def check_speakers_early(chain: Chain, base: Any | None = None) -> None:
    """Refuse a speaker the corpus lacks before the first task trains (minutes to hours), not at the task
    that needs it. The corpus is the one the fit arguments name (``--data.root``), else the preset's first
    task's, else the base run's (``base``, the `StoredRun` of ``chain.base``); one that cannot be found here
    is left to the fit engine to report."""
    from cospeech.data.corpus import open_corpus

    root = override_value(chain.overrides, "--data.root")
    if root is None and chain.base is None:
        root = chain.preset.first_task.get("data", {}).get("root")
    if root is None and base is not None:
        root = base.datamodule_hparams.get("root")
    if root is not None and Path(root).is_dir():
        open_corpus(root).check_speakers(chain.speakers)


def override_value(overrides: Sequence[str], name: str) -> str | None:
    """The value of fit argument ``name`` (``--name value`` or ``--name=value``) in ``overrides``, if any."""
    for i, arg in enumerate(overrides):
        key, sep, value = arg.partition("=")
        if key == name:
            return value if sep else (overrides[i + 1] if i + 1 < len(overrides) else None)
    return None


def chain_results(chain: Chain, records: Sequence[TaskRecord]) -> ChainResults:
    """The matrices of the tasks finished so far."""
    tasks = tuple(r.name for r in records)
    known = len(records[0].seen)
    identity = {
        "method": chain.method.name,
        "reference": chain.method.reference,
        "label": chain.method.label,
        "k_shot": chain.k_shot,
        "seed": chain.seed,
        "preset": chain.preset.name,
        "base": None if chain.base is None else str(chain.base),
        "overrides": list(chain.overrides),
        "runs": [str(_relative(r.run, chain.folder)) for r in records],
    }
    matrices = task_matrices(tasks, chain.speakers, [r.scores for r in records])
    complete = len(records) == 1 + len(chain.speakers) - known
    return ChainResults(identity, complete, matrices, tasks, tuple(chain.speakers))


def _write_results(chain: Chain, records: Sequence[TaskRecord]) -> ChainResults:
    results = chain_results(chain, records)
    results.write(chain.folder / RESULTS_DIRNAME)
    return results


def run_task(
    root: Path,
    name: str,
    args: Sequence[str],
    seen: Sequence[str],
    say: Progress,
    extra: Mapping[str, Any] | None = None,
) -> TaskRecord:
    """Train (or resume, or only score) the run ``root/name`` with fit ``args`` and score it on the test
    windows of ``seen``; ``root/name/done.json`` marks it finished. ``extra``: more fields for that file."""
    from cospeech.training.callbacks import FINAL_METRICS_FILE
    from cospeech.training.engine import run_cli

    folder = root / name
    done = folder / DONE_FILE
    if done.is_file():
        return TaskRecord.read(done)
    seconds = {"train": 0.0, "evaluate": 0.0}
    run = _newest_run(folder, FINAL_METRICS_FILE)
    if run is None:
        resume = _newest_run(folder, "checkpoints/last.ckpt")
        fit = ["fit", *args, "--run.root", str(root), "--run.name", name]
        if resume is not None:
            fit += ["--ckpt_path", str(resume / "checkpoints" / "last.ckpt")]
        say(f"{'resuming' if resume is not None else 'training'} on {', '.join(seen)} …")
        started = time.perf_counter()
        cli = run_cli(fit)
        seconds["train"] = time.perf_counter() - started
        run = Path(cli.trainer.logger.log_dir)
    say(f"scoring {run} on the test windows of {', '.join(seen)} …")
    record = score(run, name, seen, seconds)
    record.write(done, extra)
    return record


def score(run: Path, name: str, seen: Sequence[str], seconds: dict[str, float] | None = None) -> TaskRecord:
    """Test scores of ``run`` on each of ``seen`` (``cospeech.evaluation.evaluate``, the run's own data
    cache), as a `TaskRecord` called ``name``."""
    from cospeech.evaluation import evaluate
    from cospeech.training.metadata import read_run

    seconds = dict(seconds or {"train": 0.0})
    started = time.perf_counter()
    cache_dir = read_run(run).datamodule_hparams.get("cache_dir")
    result = evaluate(run, speakers=list(seen), split="test", cache_dir=cache_dir)
    (rows,) = result.scores.values()  # no baselines: the model's rows only
    scores = {
        speaker: {metric: float(v) for metric, v in rows[speaker].items() if np.isfinite(v)}
        for speaker in seen
        if speaker in rows
    }
    seconds["evaluate"] = time.perf_counter() - started
    return TaskRecord(name, run.resolve(), tuple(seen), scores, dict(result.windows), seconds)


def first_task_folder(out: str | Path, speakers: Sequence[str]) -> Path:
    """Where chains under ``out`` share their first task: ``out/t1_<first speaker>``."""
    return Path(out) / f"t1_{speakers[0]}"


def run_first_task(
    preset: Preset,
    speaker: str,
    folder: Path,
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
) -> TaskRecord:
    """Train and score the shared first task, Mix-StAGE on ``speaker``'s full training data (``preset``'s
    ``first_task`` over its ``config``, then ``overrides``), in ``folder`` unless done; under a lock on the
    folder, so that concurrent chains train it once."""
    say = progress or (lambda _: None)
    check_overrides(overrides)
    check_first_task_overrides(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "speaker": speaker,
        "preset": preset.name,
        "config": preset.config,
        "first_task": preset.first_task,
        "overrides": list(overrides),
    }
    with _locked(folder / ".lock"):
        claim(folder, settings)
        config = folder / FIRST_TASK_CONFIG
        _write_yaml(config, preset.first_task)
        args = ["--config", preset.config, "--config", str(config), "--data.speakers", json.dumps([speaker])]
        args += overrides
        return run_task(folder.parent, folder.name, args, (speaker,), lambda m: say(f"[{folder.name}] {m}"))


def check_first_task_overrides(overrides: Sequence[str]) -> None:
    """Fit arguments go to every task, task 1 included, whose recipe (``AdversarialRecipe``) lacks the
    options of ``ContinualRecipe``: name them and where they belong instead of the parser's message."""
    import inspect

    from cospeech.training.adversarial import AdversarialRecipe
    from cospeech.training.continual import ContinualRecipe

    prefix = "--model.init_args."
    first = inspect.signature(AdversarialRecipe).parameters
    later = inspect.signature(ContinualRecipe).parameters
    names = [a.partition("=")[0].removeprefix(prefix) for a in overrides if a.startswith(prefix)]
    task_only = sorted({n for n in names if n in later and n not in first})
    if task_only:
        raise ConfigError(
            f"{', '.join(prefix + n for n in task_only)}: an option of the later tasks' recipe "
            "(ContinualRecipe), not of task 1's; command-line fit arguments reach every task, so put it "
            "under `task: model: init_args:` in a copy of the preset and pass that with --preset "
            "(docs/continual.md, Presets)"
        )


def _first_task(chain: Chain, base: Any | None, say: Progress) -> TaskRecord:
    """The shared first task (trained once), or the scores of ``base`` (the `StoredRun` of ``chain.base``)."""
    if chain.first_folder is not None:
        return run_first_task(chain.preset, chain.speakers[0], chain.first_folder, chain.overrides, say)
    done = chain.folder / "t1_base" / DONE_FILE
    if done.is_file():
        return TaskRecord.read(done)
    speakers = base.metadata.speakers
    say(f"[{chain.label}] t1_base: scoring {chain.base} on the test windows of {', '.join(speakers)} …")
    record = score(chain.base, "t1_base", speakers)
    done.parent.mkdir(parents=True, exist_ok=True)
    record.write(done)
    return record


def claim(folder: Path, settings: Mapping[str, Any]) -> None:
    """Record ``settings`` in ``folder/settings.json``, or check them against those recorded: a folder holds
    one chain (or first task). A folder that holds no task yet (a command that failed before training) takes
    the new settings. Raises ``ConfigError`` naming the settings that differ."""
    path = folder / SETTINGS_FILE
    wanted = json.loads(json.dumps(settings))
    started = any(child.is_dir() for child in folder.iterdir())  # a task (or its run) exists
    if path.is_file() and started:
        recorded = json.loads(path.read_text())
        differ = sorted(k for k in {*recorded, *wanted} if recorded.get(k) != wanted.get(k))
        if differ:
            shown = "; ".join(f"{k}: {recorded.get(k)!r} there, {wanted.get(k)!r} now" for k in differ)
            raise ConfigError(
                f"{folder}: started with other settings ({shown}); use another --out, or remove it"
            )
        return
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(wanted, indent=1))


def inherited_config(run: Any) -> dict[str, Any]:
    """The fit-config part a task takes from the model the sequence starts from (a ``StoredRun``): the
    generator and discriminator (or none) with their configs (``init_from`` needs the same architecture),
    the data features of `INHERITED_DATA`, and the normalisation: ``per_speaker`` if it had that, else
    ``source`` (the first model's speakers' statistics, as the reference does)."""
    from cospeech.models.registry import data_fields, model_entry

    metadata = run.metadata

    def own_fields(component: Any) -> dict[str, Any]:
        derived = set(data_fields(model_entry(component.name).config))
        return json.loads(json.dumps({k: v for k, v in component.config.items() if k not in derived}))

    model: dict[str, Any] = {"generator": metadata.model.name, "generator_config": own_fields(metadata.model)}
    discriminator = metadata.components.get("discriminator")
    if discriminator is None:  # trained without one (L1 only): the tasks too, not with a fresh one
        model["discriminator"] = None
    else:
        model |= {"discriminator": discriminator.name, "discriminator_config": own_fields(discriminator)}
    data = {k: run.datamodule_hparams[k] for k in INHERITED_DATA if k in run.datamodule_hparams}
    data["normalization"] = "per_speaker" if metadata.data.normalization == "per_speaker" else "source"
    return {"model": {"init_args": model}, "data": data}


def read_mix_stage(source: str | Path, what: str) -> Any:
    """The stored run at ``source`` (a ``StoredRun``), which must be a Mix-StAGE model."""
    from cospeech.errors import CospeechError
    from cospeech.training.metadata import read_run

    try:
        run = read_run(source)
    except CospeechError as err:
        raise type(err)(f"{what}: {err}") from None
    if run.metadata.model.name != MIX_STAGE:
        raise ConfigError(
            f"{what} {source}: a {run.metadata.model.name} model; continual methods adapt a Mix-StAGE run "
            f"(generator {MIX_STAGE})"
        )
    return run


def source_speakers(run: Any) -> tuple[str, ...]:
    """The speakers whose statistics and pose clusters the model was trained with (its source set)."""
    from cospeech.data.datamodule import SpeakerSet

    speakers = run.datamodule_hparams.get("speakers")
    return SpeakerSet.parse(speakers).source if speakers else tuple(run.metadata.speakers)


def _newest_run(folder: Path, marker: str) -> Path | None:
    """The newest ``folder/version_<n>`` holding ``marker``."""
    runs = [p for p in folder.glob("version_*") if p.name[8:].isdigit() and (p / marker).is_file()]
    return max(runs, key=lambda p: int(p.name[8:]), default=None)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) across processes."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` on top; mappings merge key by key, any other value replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    with atomic_write(path) as temporary:
        temporary.write_text(yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False))


def _relative(path: Path, start: Path) -> Path:
    """``path`` relative to ``start`` when inside it (folders stay movable), else absolute."""
    path, start = path.resolve(), start.resolve()
    return path.relative_to(start) if path.is_relative_to(start) else path


def _names(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
