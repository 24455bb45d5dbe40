"""Figures of a run folder: training and dev curves, the evaluation table as bars, continual heatmaps.

``plot_run`` reads what a run folder holds and draws what it can, each figure as PNG and SVG (matplotlib's
object API, no pyplot state), every file written atomically:

* ``curves``: from ``metrics.json`` (``training.callbacks.MetricsJson``, one entry per epoch): the training
  losses (``train/*``) and each dev metric the table shows (``metrics.table_metrics``), one line per
  speaker (``dev/<speaker>/<metric>``) and their mean (``dev/<metric>``), against the epoch;
* ``evaluation_<split>``: from each ``evaluation_<split>.json`` (``cospeech evaluate``): per metric, the
  mean over speakers of the run's model next to the baselines (``mean_pose`` …) and the oracle, with the
  metric's direction in the title;
* ``forgetting_<metric>``: for a continual chain (its folder, holding ``results/results.json``), the
  ``a[t][i]`` heatmaps of ``continual.results.write_heatmap`` for the headline metrics.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cospeech.continual.results import HEADLINE_METRICS, higher_is_better, read_results, write_heatmap
from cospeech.errors import DataError
from cospeech.files import atomic_write
from cospeech.metrics.registry import GT_SUFFIX
from cospeech.training.callbacks import EPOCH_METRICS_FILE

FORMATS = ("png", "svg")
"""Formats every figure is written in."""
EVALUATION_PREFIX = "evaluation_"
_DIRECTION = {True: "higher is better", False: "lower is better", None: "compare with the ground truth"}


def plot_run(run: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> list[Path]:
    """Every figure ``run``'s folder allows, into ``out`` (default ``<run>/plots``); returns the files.
    A run name folder (``runs/<name>``, holding ``version_<n>`` folders) stands for its newest version.

    Raises
    ------
    DataError : ``run`` is not a directory, or holds neither ``metrics.json``, an ``evaluation_*.json`` nor
        continual results (the continual chains below it are named).
    """
    run = Path(run)
    if not run.is_dir():
        raise DataError(f"{run}: not a run folder (expected runs/<name>/version_<n> or a continual chain)")
    versions = sorted(
        (p for p in run.glob("version_*") if p.name[8:].isdigit()), key=lambda p: int(p.name[8:])
    )
    if versions and not (run / EPOCH_METRICS_FILE).is_file():
        run = versions[-1]  # a run name (runs/<name>): its newest version, as `evaluate` takes it
    out = Path(out) if out is not None else run / "plots"
    written: list[Path] = []
    history = run / EPOCH_METRICS_FILE
    evaluations = sorted(run.glob(f"{EVALUATION_PREFIX}*.json"))
    chain = (run / "results" / "results.json").is_file()
    if not (history.is_file() or evaluations or chain):
        found = (p for depth in ("*", "*/*", "*/*/*") for p in run.glob(f"{depth}/results/results.json"))
        chains = sorted(str(p.parent.parent.relative_to(run)) for p in found)  # <out>/<method>/k<k>/seed<n>
        hint = f"; continual chains inside: {', '.join(chains[:3])}{' …' if len(chains) > 3 else ''}"
        raise DataError(
            f"{run}: nothing to plot: no {EPOCH_METRICS_FILE}, {EVALUATION_PREFIX}<split>.json or "
            f"results/results.json{hint if chains else ''}"
        )
    out.mkdir(parents=True, exist_ok=True)
    if history.is_file():
        title = f"{run.parent.name}/{run.name}"
        written += _save(curves_figure(_read_json(history), title), out / "curves")
    for path in evaluations:
        figure = evaluation_figure(_read_json(path), path.stem.removeprefix(EVALUATION_PREFIX))
        written += _save(figure, out / path.stem)
    if chain:
        results = read_results(run)
        for metric in HEADLINE_METRICS:
            if metric in results.matrices:
                stem = out / f"forgetting_{metric.replace('@', '_at_')}"
                written += [
                    write_heatmap(results.matrices[metric], stem.with_suffix(f".{f}")) for f in FORMATS
                ]
    return written


def curves_figure(history: list[dict[str, Any]], title: str) -> Any:
    """Training losses and dev metrics per speaker against the epoch (``metrics.json`` entries)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from cospeech.metrics import table_metrics

    if not isinstance(history, list) or not all(isinstance(h, dict) and "epoch" in h for h in history):
        raise DataError(f"{title}: {EPOCH_METRICS_FILE} is not a list of per-epoch entries")
    keys = list(dict.fromkeys(k for entry in history for k in entry))
    losses = [k for k in keys if k.startswith("train/")]
    shown = [m for m in table_metrics() if f"dev/{m}" in keys]
    panels = ([("training losses", losses)] if losses else []) + [(m, _dev_keys(keys, m)) for m in shown]
    if not panels:
        raise DataError(f"{title}: {EPOCH_METRICS_FILE} holds no train/ or dev/ metrics")
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows), layout="constrained")
    figure.suptitle(f"{title}: training and dev curves")
    epochs = [entry["epoch"] for entry in history]
    for k, (name, series) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, k + 1)
        for key in series:
            values = [math.nan if entry.get(key) is None else entry[key] for entry in history]
            mean = key == f"dev/{name}"
            label = key.removeprefix("train/") if name == "training losses" else _speaker(key, name)
            axes.plot(epochs, values, marker="o", markersize=3, linewidth=2.2 if mean else 1.0, label=label,
                      color="black" if mean else None)  # fmt: skip
        direction = "" if name == "training losses" else f" ({_DIRECTION[higher_is_better(name)]})"
        axes.set_title(f"{name}{direction}", fontsize=9)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if min(epochs) == max(epochs):  # one epoch: whole-numbered ticks around it, not ±0.05
            axes.set_xlim(epochs[0] - 1, epochs[0] + 1)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    return figure


def _dev_keys(keys: list[str], metric: str) -> list[str]:
    """``dev/<speaker>/<metric>`` for every speaker, then the mean ``dev/<metric>`` (left out for one
    speaker, whose line it would hide)."""
    per_speaker = [k for k in keys if k.startswith("dev/") and k.count("/") == 2 and k.endswith(f"/{metric}")]
    return per_speaker if len(per_speaker) == 1 else [*per_speaker, f"dev/{metric}"]


def _speaker(key: str, metric: str) -> str:
    return "mean" if key == f"dev/{metric}" else key.split("/")[1]


def evaluation_figure(document: dict[str, Any], split: str) -> Any:
    """Bars of each metric's mean over speakers: the run's model first, then the baselines and the oracle
    (an ``evaluation_<split>.json`` document). A ground-truth instance (``diversity_gt``) is the dashed
    reference line of its metric's panel, not a panel of its own."""
    from matplotlib.figure import Figure

    try:
        means = {m: rows["mean"] for m, rows in document["scores"].items()}
    except (KeyError, TypeError, AttributeError):
        raise DataError(
            f"evaluation of {split}: not a `cospeech evaluate` JSON (no scores/<model>/mean)"
        ) from None
    if not means:
        raise DataError(f"evaluation of {split}: no scores")
    keys = list(dict.fromkeys(k for row in means.values() for k, v in row.items() if v is not None))
    metrics = [k for k in keys if not (k.endswith(GT_SUFFIX) and k.removesuffix(GT_SUFFIX) in keys)]
    models = list(means)
    columns = min(4, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.8 * rows), layout="constrained")
    figure.suptitle(f"evaluation on {split} (mean over speakers; the run's model first)")
    colours = ["tab:blue"] + ["tab:gray"] * (len(models) - 1)
    colours = [("tab:green" if m == "oracle" else c) for m, c in zip(models, colours, strict=True)]
    for k, metric in enumerate(metrics):
        axes = figure.add_subplot(rows, columns, k + 1)
        values = [math.nan if means[m].get(metric) is None else means[m][metric] for m in models]
        axes.bar(range(len(models)), values, color=colours)
        axes.set_xticks(range(len(models)), models, rotation=35, ha="right", fontsize=7)
        axes.set_title(f"{metric} ({_DIRECTION[higher_is_better(metric)]})", fontsize=9)
        reference = next(
            (means[m][metric + GT_SUFFIX] for m in models if means[m].get(metric + GT_SUFFIX) is not None),
            None,
        )
        if reference is not None:
            axes.axhline(reference, color="tab:green", linestyle="--", label="ground truth")
            axes.legend(fontsize=7)
        axes.grid(axis="y", alpha=0.3)
    return figure


def _save(figure: Any, stem: Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    paths = []
    for extension in formats:
        path = stem.with_suffix(f".{extension}")
        with atomic_write(path) as temporary:
            figure.savefig(temporary, format=extension, dpi=100)
        paths.append(path)
    return paths


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read: {err}") from None
