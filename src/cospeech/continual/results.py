"""Continual-learning results of a task sequence: the matrices a[t][i], accuracy, forgetting, heatmaps and a
method × k comparison over seeds.

``a[t][i]`` is a metric on speaker ``i``'s test windows after task ``t`` (rows: tasks in training order,
columns: speakers in sequence order; NaN where speaker ``i`` was not seen yet, or had no test windows). The
C-DiffGAN reference reports Accuracy and Forgetting but its repository holds neither formula
(``pats_data_and_cdiffgan_evaluation.md`` §5.5), so these are the standard continual-learning ones
(``docs/continual.md``), with ``T`` the last task and ``t(i)`` the task that learnt speaker ``i``:

* average accuracy (Chaudhry et al. 2018, "Riemannian Walk", eq. 1): ``A = mean_i a[T][i]`` over every
  speaker seen;
* forgetting (Chaudhry et al. 2018, eq. 2-3): ``F = mean_{i: t(i) < T} (best_{t(i) ≤ t < T} a[t][i] −
  a[T][i])``, "best" being the max for higher-is-better metrics and the min for lower-is-better ones, with
  the sign turned so that positive ``F`` always means worse now than at the speaker's best;
* backward transfer (Lopez-Paz & Ranzato 2017, GEM, §4): ``BWT = mean_{i: t(i) < T} (a[T][i] −
  a[t(i)][i])``, sign-turned likewise so that positive means later tasks improved earlier speakers.

A metric's direction is its registered ``higher_is_better`` (``cospeech.metrics``); metrics without one
(diversity) get matrices but no accuracy, forgetting or transfer.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cospeech.errors import ConfigError, DataError
from cospeech.files import atomic_write
from cospeech.metrics.registry import metric_specs

RESULTS_DIRNAME = "results"
RESULTS_FILE = "results.json"
HEADLINE_METRICS = ("L1", "PCK", "FID")
"""Metrics of the comparison table and of every chain's summary line (the issue's "L1, PCK, FID")."""


def higher_is_better(metric: str) -> bool | None:
    """Direction of a reported metric key (``"L1"`` → False, ``"PCK"`` → True, ``"diversity"`` → None),
    from the metric registry; None for a key no registered metric reports."""
    for spec in metric_specs():
        if metric in spec.outputs:
            return spec.higher_is_better
    return None


@dataclass(frozen=True)
class TaskMatrix:
    """``values[t][i]``: ``metric`` on speaker ``speakers[i]`` after task ``tasks[t]``; NaN where not
    scored. ``higher_is_better`` None: no direction, so no accuracy, forgetting or transfer."""

    metric: str
    tasks: tuple[str, ...]
    speakers: tuple[str, ...]
    values: np.ndarray
    """(T, N) float64."""
    higher_is_better: bool | None

    def __post_init__(self) -> None:
        shape = (len(self.tasks), len(self.speakers))
        if self.values.shape != shape:
            raise ValueError(
                f"{self.metric}: values are {self.values.shape}, expected {shape} (tasks, speakers)"
            )

    def learnt_at(self) -> list[int | None]:
        """Per speaker, the first task after which it has a score (None: never scored)."""
        out: list[int | None] = []
        for column in self.values.T:
            scored = np.flatnonzero(np.isfinite(column))
            out.append(int(scored[0]) if scored.size else None)
        return out

    def _sign(self) -> float:
        return 1.0 if self.higher_is_better else -1.0

    def average_accuracy(self) -> float:
        """``mean_i a[T][i]`` over the speakers scored after the last task; NaN without a direction or a
        score."""
        last = self.values[-1]
        if self.higher_is_better is None or not np.isfinite(last).any():
            return math.nan
        return float(np.nanmean(last))

    def forgetting_per_speaker(self) -> dict[str, float]:
        """``best_{t(i) ≤ t < T} a[t][i] − a[T][i]`` (sign-turned: positive = worse now) for each speaker
        learnt before the last task and scored after it."""
        if self.higher_is_better is None:
            return {}
        sign, last = self._sign(), len(self.tasks) - 1
        out = {}
        for i, start in enumerate(self.learnt_at()):
            if start is None or start >= last or not np.isfinite(self.values[last, i]):
                continue
            earlier = self.values[start:last, i]
            best = sign * np.nanmax(sign * earlier)
            out[self.speakers[i]] = float(sign * (best - self.values[last, i]))
        return out

    def forgetting(self) -> float:
        """Mean of `forgetting_per_speaker`; NaN when no speaker was learnt before the last task."""
        values = list(self.forgetting_per_speaker().values())
        return float(np.mean(values)) if values else math.nan

    def backward_transfer(self) -> float:
        """``mean_{t(i) < T} (a[T][i] − a[t(i)][i])``, sign-turned: positive = later tasks helped."""
        if self.higher_is_better is None:
            return math.nan
        sign, last = self._sign(), len(self.tasks) - 1
        gains = [
            sign * (self.values[last, i] - self.values[start, i])
            for i, start in enumerate(self.learnt_at())
            if start is not None and start < last and np.isfinite(self.values[last, i])
        ]
        return float(np.mean(gains)) if gains else math.nan

    def summary(self) -> dict[str, Any]:
        return {
            "higher_is_better": self.higher_is_better,
            "average_accuracy": _finite_or_none(self.average_accuracy()),
            "forgetting": _finite_or_none(self.forgetting()),
            "backward_transfer": _finite_or_none(self.backward_transfer()),
            "forgetting_per_speaker": self.forgetting_per_speaker(),
        }

    def to_csv(self) -> str:
        """Rows ``task, <speaker>…``; empty cells where not scored."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["task", *self.speakers])
        for task, row in zip(self.tasks, self.values, strict=True):
            writer.writerow([task, *("" if not np.isfinite(v) else f"{v:.6g}" for v in row)])
        return buffer.getvalue()


def task_matrices(
    tasks: Sequence[str], speakers: Sequence[str], scores: Sequence[Mapping[str, Mapping[str, float]]]
) -> dict[str, TaskMatrix]:
    """One `TaskMatrix` per metric found in ``scores``.

    Args:
        tasks: row labels, in training order (``t1_ava``, ``t2_ben`` …).
        speakers: column labels, in sequence order.
        scores: per task, ``{speaker: {metric: value}}`` on that task's test windows (speakers not seen or
            without windows absent; non-finite values count as not scored).
    """
    if len(tasks) != len(scores):
        raise ValueError(f"{len(tasks)} task labels for {len(scores)} score rows")
    metrics = list(dict.fromkeys(m for row in scores for per in row.values() for m in per))
    matrices = {}
    for metric in metrics:
        values = np.full((len(tasks), len(speakers)), np.nan)
        for t, row in enumerate(scores):
            for i, speaker in enumerate(speakers):
                value = row.get(speaker, {}).get(metric)
                if value is not None:
                    values[t, i] = float(value)
        matrices[metric] = TaskMatrix(metric, tuple(tasks), tuple(speakers), values, higher_is_better(metric))
    return matrices


@dataclass(frozen=True)
class ChainResults:
    """Everything one chain's ``results/`` folder holds: who it is (``identity``: method, k_shot, seed …),
    whether every task of its sequence is done, and its matrices."""

    identity: dict[str, Any]
    complete: bool
    matrices: dict[str, TaskMatrix]
    tasks: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.identity,
            "complete": self.complete,
            "tasks": list(self.tasks),
            "speakers": list(self.speakers),
            "metrics": {
                name: {
                    **m.summary(),
                    "matrix": [[_finite_or_none(v) for v in row] for row in m.values.tolist()],
                }
                for name, m in self.matrices.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str | Path) -> ChainResults:
        """Read what `to_json` wrote. Raises ``DataError`` naming ``source`` for anything else."""
        try:
            tasks, speakers = tuple(data["tasks"]), tuple(data["speakers"])
            matrices = {
                name: TaskMatrix(
                    name,
                    tasks,
                    speakers,
                    np.array([[math.nan if v is None else v for v in row] for row in entry["matrix"]], float)
                    .reshape(len(tasks), len(speakers)),
                    entry["higher_is_better"],
                )
                for name, entry in data["metrics"].items()
            }  # fmt: skip
            identity = {
                k: v for k, v in data.items() if k not in ("complete", "tasks", "speakers", "metrics")
            }
            return cls(identity, bool(data["complete"]), matrices, tasks, speakers)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{source}: not a continual results file ({type(err).__name__}: {err})") from None

    def write(self, folder: str | Path, *, heatmaps: Iterable[str] = HEADLINE_METRICS) -> Path:
        """Write ``folder/results.json``, ``folder/<metric>.csv`` for every metric and a heatmap
        ``folder/<metric>.png`` for each of ``heatmaps`` that the chain has, each atomically. Returns
        ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_text(folder / RESULTS_FILE, json.dumps(self.to_json(), indent=1))
        for name, matrix in self.matrices.items():
            _write_text(folder / f"{_file_stem(name)}.csv", matrix.to_csv())
        for name in heatmaps:
            if name in self.matrices:
                write_heatmap(self.matrices[name], folder / f"{_file_stem(name)}.png")
        return folder


def read_results(path: str | Path) -> ChainResults:
    """A chain's results from its folder, its ``results/`` folder or its ``results.json``."""
    path = Path(path)
    for candidate in (path, path / RESULTS_FILE, path / RESULTS_DIRNAME / RESULTS_FILE):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise DataError(f"{candidate}: cannot read continual results: {err}") from None
            return ChainResults.from_json(data, candidate)
    raise DataError(f"{path}: no {RESULTS_DIRNAME}/{RESULTS_FILE} (not a finished continual chain folder?)")


def write_heatmap(matrix: TaskMatrix, path: str | Path) -> Path:
    """A figure of ``matrix`` in the format of ``path``'s suffix (``.png``, ``.svg`` …): tasks down, speakers
    across, each cell annotated; green = better whatever the metric's direction; the title gives accuracy
    and forgetting. Written atomically."""
    from matplotlib.figure import Figure  # imported when drawing only (no pyplot: no global state)

    values = np.ma.masked_invalid(matrix.values)
    rows, columns = matrix.values.shape
    figure = Figure(figsize=(1.2 + 0.9 * columns, 1.0 + 0.55 * rows), layout="constrained")
    axes = figure.add_subplot()
    colormap = "RdYlGn" if matrix.higher_is_better is not False else "RdYlGn_r"
    image = axes.imshow(values, cmap=colormap, aspect="auto")
    figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_xticks(range(columns), matrix.speakers, rotation=30, ha="right")
    axes.set_yticks(range(rows), matrix.tasks)
    axes.set_xlabel("speaker (test windows)")
    axes.set_ylabel("after task")
    for t in range(rows):
        for i in range(columns):
            if np.isfinite(matrix.values[t, i]):
                axes.text(i, t, f"{matrix.values[t, i]:.3g}", ha="center", va="center", fontsize=8)
    direction = {True: "higher is better", False: "lower is better", None: "no direction"}
    title = f"{matrix.metric} ({direction[matrix.higher_is_better]})"
    if matrix.higher_is_better is not None:
        title += f"\nACC {matrix.average_accuracy():.3g}, forgetting {matrix.forgetting():.3g}"
    axes.set_title(title, fontsize=9)
    path = Path(path)
    with atomic_write(path) as temporary:
        figure.savefig(temporary, format=path.suffix.lstrip(".").lower() or "png", dpi=100)
    return path


@dataclass(frozen=True)
class ComparisonRow:
    method: str
    k_shot: int
    seeds: tuple[int, ...]
    protocol: str
    """``P1``, ``P2`` …: which protocol (preset, speaker order, base, fit overrides) the chains ran; seeds
    are pooled only within one (`Comparison.protocols` says what each is)."""
    values: dict[str, tuple[float, float]]
    """``"<metric> ACC"`` / ``"<metric> FGT"`` → (mean, sample std over seeds; NaN for one seed)."""


@dataclass(frozen=True)
class Comparison:
    """Method × k table of accuracy and forgetting, mean ± std over seeds (`compare`)."""

    rows: list[ComparisonRow]
    columns: list[str]
    notes: list[str] = field(default_factory=list)
    protocols: dict[str, str] = field(default_factory=dict)
    """``P1`` → its description (preset, speakers, base, overrides)."""

    def table(self) -> str:
        header = ["protocol", "method", "k", "seeds", *self.columns]
        lines = [
            [
                r.protocol,
                r.method,
                str(r.k_shot),
                ",".join(map(str, r.seeds)),
                *(_mean_std(*r.values[c]) for c in self.columns),
            ]
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i < 4 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        text = [line(r) for r in [header, ["-" * w for w in widths], *lines]]
        legend = "ACC: average accuracy over speakers after the last task; FGT: forgetting (positive = worse)"
        described = [f"{name}: {what}" for name, what in self.protocols.items()]
        return "\n".join([*text, legend, *described, *self.notes])

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            [
                "protocol",
                "method",
                "k_shot",
                "seeds",
                *(f"{c} {s}" for c in self.columns for s in ("mean", "std")),
            ]
        )
        for r in self.rows:
            cells = [f"{v:.6g}" if np.isfinite(v) else "" for c in self.columns for v in r.values[c]]
            writer.writerow(
                [self.protocols[r.protocol], r.method, r.k_shot, " ".join(map(str, r.seeds)), *cells]
            )
        return buffer.getvalue()

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "notes": self.notes,
            "protocols": self.protocols,
            "rows": [
                {
                    "protocol": r.protocol,
                    "method": r.method,
                    "k_shot": r.k_shot,
                    "seeds": list(r.seeds),
                    **{
                        c: {"mean": _finite_or_none(m), "std": _finite_or_none(s)}
                        for c, (m, s) in r.values.items()
                    },
                }
                for r in self.rows
            ],
        }

    def write(self, folder: str | Path) -> list[Path]:
        """``folder/comparison.csv`` and ``folder/comparison.json``, atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = folder / "comparison.csv", folder / "comparison.json"
        _write_text(csv_path, self.to_csv())
        _write_text(json_path, json.dumps(self.to_json(), indent=1))
        return [csv_path, json_path]


def find_chains(folders: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """Every ``results/results.json`` under ``folders`` (a chain folder or any folder above chains), sorted,
    and the chain folders (``<method>/k<k>/seed<s>`` with a ``settings.json``) that have none yet. Raises
    ``DataError`` naming a folder that does not exist or holds neither."""
    found: list[Path] = []
    unfinished: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise DataError(f"{folder}: no such directory")
        hits = sorted(p for p in folder.rglob(RESULTS_FILE) if p.parent.name == RESULTS_DIRNAME)
        empty = [
            s.parent
            for s in folder.rglob("settings.json")
            if s.parent.name.startswith("seed") and not (s.parent / RESULTS_DIRNAME / RESULTS_FILE).is_file()
        ]
        if not hits and not empty:
            raise DataError(f"{folder}: holds no continual chain ({RESULTS_DIRNAME}/{RESULTS_FILE})")
        found += hits
        unfinished += empty
    return sorted(set(found)), sorted(set(unfinished))


def protocol_of(chain: ChainResults) -> str:
    """What must be equal for two chains' seeds to be pooled: preset, speaker order, base, fit overrides."""
    identity = chain.identity
    parts = [f"preset {identity.get('preset')}", "speakers " + "→".join(chain.speakers)]
    if identity.get("base"):
        parts.append(f"base {identity['base']}")
    if identity.get("overrides"):
        parts.append("overrides " + " ".join(identity["overrides"]))
    return ", ".join(parts)


def compare(
    folders: Iterable[str | Path], metrics: Sequence[str] | None = None, *, order: Sequence[str] = ()
) -> Comparison:
    """Gather the complete chains under ``folders`` into a method × k table per protocol: per metric its
    average accuracy (``ACC``) and forgetting (``FGT``), mean and sample standard deviation over the seeds
    of one method, k and protocol (`protocol_of`), never across protocols. ``order``: method names in the
    order to list them (others follow, alphabetically). Incomplete chains, and chain folders without any
    finished task, are left out, each named in a note.

    ``metrics`` None: those of `HEADLINE_METRICS` the chains have. Raises ``ConfigError`` for a metric
    named in ``metrics`` that no chain has."""
    groups: dict[tuple[str, str, int], list[ChainResults]] = {}
    chains, unfinished = find_chains(folders)
    notes = [f"left out (no task finished): {folder}" for folder in unfinished]
    protocols: dict[str, str] = {}
    for path in chains:
        chain = read_results(path)
        if not chain.complete:
            notes.append(f"left out (not finished): {path.parent.parent}")
            continue
        described = protocol_of(chain)
        name = next((k for k, v in protocols.items() if v == described), f"P{len(protocols) + 1}")
        protocols[name] = described
        key = (name, str(chain.identity.get("method")), int(chain.identity.get("k_shot", 0)))
        groups.setdefault(key, []).append(chain)
    scored = {m for cs in groups.values() for c in cs for m in c.matrices}
    missing = [m for m in metrics or () if m not in scored]
    metrics = HEADLINE_METRICS if metrics is None else metrics
    if missing and groups:
        raise ConfigError(
            f"metric(s) {', '.join(missing)}: no chain has them; the chains have {', '.join(sorted(scored))}"
        )
    present = [m for m in metrics if m in scored]
    columns = [f"{m} {what}" for m in present for what in ("ACC", "FGT")]
    rank = {name: i for i, name in enumerate(order)}
    rows = []
    for (protocol, method, k_shot), grouped in sorted(
        groups.items(), key=lambda g: (g[0][0], rank.get(g[0][1], len(rank)), g[0][1], g[0][2])
    ):
        values = {}
        for metric in present:
            matrices = [c.matrices[metric] for c in grouped if metric in c.matrices]
            values[f"{metric} ACC"] = _mean_and_std([m.average_accuracy() for m in matrices])
            values[f"{metric} FGT"] = _mean_and_std([m.forgetting() for m in matrices])
        seeds = tuple(sorted(int(c.identity.get("seed", 0)) for c in grouped))
        rows.append(ComparisonRow(method, k_shot, seeds, protocol, values))
    return Comparison(rows, columns, notes, protocols)


def _mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    finite = np.array([v for v in values if np.isfinite(v)], float)
    if not finite.size:
        return math.nan, math.nan
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else math.nan


def _mean_std(mean: float, std: float) -> str:
    if not np.isfinite(mean):
        return "-"
    return f"{mean:.3g}" if not np.isfinite(std) else f"{mean:.3g} ± {std:.2g}"


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _file_stem(metric: str) -> str:
    """A metric key as a file name (``PCK@0.1`` → ``PCK@0.1``; path separators would not be)."""
    return metric.replace("/", "_")


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as temporary:
        temporary.write_text(text)
