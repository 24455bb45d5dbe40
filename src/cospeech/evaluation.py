"""Score a trained generator on a split, per speaker, next to baselines and the oracle.

Every number gets context: with ``baselines=True`` the same held-out windows are scored for

* every registered baseline (``cospeech models list``): ``mean_pose``, each speaker's mean training pose
  on every frame; ``nearest_neighbour``, the pose of the speaker's training window with the nearest
  audio; ``random_window``, a random training window of the speaker (seeded);
* ``oracle`` (built-in corpus only): the noise-free gesture the corpus generator intended.

Baselines are fitted per speaker on that speaker's training windows, in the same normalised space the
model sees. A speaker with no windows in the split (every interval shorter than a window) is reported with
0 windows, no scores and a note, and left out of the mean; only a split with no windows at all is an error.

The data settings (root, keys, text key and its form, windows, normalisation) default to those the run was
trained with and the normaliser is the checkpoint's own, so numbers are comparable to the run's dev metrics.
A speaker added by calibration (``cospeech.continual.calibration``), whose ``pose`` row was fitted rather
than computed from data, is scored in the row of their data instead (``RunMetadata.calibrated``; the model's
output mapped there from its own row, the baselines and oracle fitted there), so their L1 compares with a
trained speaker's and with the mean pose; a note under the table says so.
The model gets every input it declares that the held-out windows have (``audio``, ``style`` and, for a run
with words, ``text`` and ``token_duration``); training-only inputs (``pose``, ``cluster``) stay out, so
evaluation sees what inference sees. Windows are gathered per batch as the data loader does, so one-row-per-
word text (``repeat_text: false``) is padded per batch. Baselines are fitted on poses and audio only.

PCK comes in two boxes, labelled under the table (``METRIC_LEGEND``): ``PCK``, cospeech's, over the predicted
joints and the neck; and, when the corpus stores the joints the reference's box also spans (PATS: nose and
eyes, handed over as the batches' ``box_joints``), ``PCK_ref``, the reference's box over all 52 GT joints,
which is what published PATS numbers report. A corpus format without them has no ``PCK_ref`` column.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cospeech.data.datamodule import BOX_JOINTS, PatsDataModule, WindowDataset
from cospeech.data.normalize import Normalizer
from cospeech.data.representation import make_representation
from cospeech.errors import ConfigError, DataError
from cospeech.files import atomic_write
from cospeech.inference.export import read_checkpoint
from cospeech.metrics import GestureMetricSuite, table_metrics
from cospeech.models import Generator, list_models, model_entry, run_generator
from cospeech.training.autoencoder import load_autoencoder

ORACLE = "oracle"
METRIC_LEGEND = {
    "PCK": "threshold box over the predicted joints and the neck (cospeech's PCK)",
    "PCK_ref": "threshold box over every stored GT joint, nose and eyes included (the reference's PCK, "
    "comparable with published PATS numbers)",
}
"""One line under the table (and ``legend`` in the JSON) for each shown metric whose name alone could
mislead: the two PCK boxes (``docs/metrics.md``)."""
ROW_LEGEND = {
    "mean_pose": "baseline: each speaker's mean training pose on every frame",
    "nearest_neighbour": "baseline: the poses of the speaker's training window with the nearest audio",
    "random_window": "baseline: a random training window of the speaker",
    ORACLE: "the noise-free gesture the built-in corpus generator intended",
}
"""What each baseline row and the oracle are, for pages that show them (the gallery's legend)."""


@dataclass
class EvaluationResult:
    """``scores[model][speaker][metric]``; ``speaker`` includes ``"mean"`` (unweighted over the speakers that
    had windows). A speaker with ``windows[speaker] == 0`` has no scores and a line in ``notes``."""

    checkpoint: str
    split: str
    speakers: list[str]
    windows: dict[str, int]
    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    seconds: float = 0.0
    extractor: str | None = None
    """``name@hash`` of the FGD feature extractor, when FGD was computed."""
    notes: list[str] = field(default_factory=list)
    """One line per thing the scores leave out (a speaker without windows), printed under the table."""
    legend: dict[str, str] = field(default_factory=dict)
    """What a shown metric measures, where its name alone could mislead (``METRIC_LEGEND``)."""

    def to_json(self) -> dict[str, Any]:
        def clean(value: float) -> float | None:
            return value if np.isfinite(value) else None

        return {
            "checkpoint": self.checkpoint,
            "split": self.split,
            "speakers": self.speakers,
            "windows": self.windows,
            "fgd_extractor": self.extractor,
            "notes": self.notes,
            "legend": self.legend,
            "scores": {
                m: {s: {k: clean(v) for k, v in row.items()} for s, row in rows.items()}
                for m, rows in self.scores.items()
            },
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(self.to_json(), indent=1))
        return path

    def summary(self) -> dict[str, dict[str, float]]:
        """The mean-over-speakers row of every model (finite values only), e.g. for a gallery page."""
        return {
            m: {k: v for k, v in rows["mean"].items() if np.isfinite(v)} for m, rows in self.scores.items()
        }

    def table(self) -> str:
        """Rows per model and speaker, then the mean; "-" for a speaker without windows; the legend and the
        notes below."""
        metrics = list(next(iter(self.scores.values()))["mean"])
        header = ["model", "speaker", *metrics]
        rows = [
            [model, speaker, *(f"{per_speaker[speaker][m]:.3f}" if speaker in per_speaker else "-"
                               for m in metrics)]
            for model, per_speaker in self.scores.items()
            for speaker in [*self.speakers, "mean"]
        ]  # fmt: skip
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        legend = [f"{metric}: {text}" for metric, text in self.legend.items()]
        rule = "  ".join("-" * w for w in widths)
        return "\n".join([line(header), rule, *map(line, rows), *legend, *self.notes])


def evaluate(
    checkpoint: str | Path,
    *,
    data_root: str | Path | None = None,
    speakers: Sequence[str] | None = None,
    split: str = "test",
    baselines: bool = False,
    batch_size: int = 64,
    cache_dir: str | None = None,
    seed: int = 0,
    fgd_extractor: str | Path | None = None,
) -> EvaluationResult:
    """Score ``checkpoint`` (run directory or .ckpt) on ``split`` windows, per speaker. With
    ``fgd_extractor`` (a pose auto-encoder run) FGD is added, tagged with the extractor's name and hash; the
    extractor must encode this run's model-space poses (same skeleton, representation and window), else a
    ``ConfigError`` (``load_autoencoder``). ``cache_dir``: the window cache; by default the one the run was
    trained with (its ``--data.cache_dir``, where it still exists), else ``<root>/.cospeech_cache`` (the
    cache's directories are keyed by the files' fingerprints, so one cache serves any root)."""
    started = time.perf_counter()
    pretrained = read_checkpoint(checkpoint)  # the loader GestureGenerator uses: one path, one set of checks
    generator = pretrained.build_generator()
    spec = pretrained.metadata.data
    data_hparams = pretrained.datamodule_hparams
    trained = list(spec.speakers)
    chosen = list(speakers) if speakers else trained
    unknown = [s for s in chosen if s not in trained]
    if unknown:
        raise ConfigError(f"speaker(s) {unknown} not known to this checkpoint; known: {trained}")
    if split not in ("train", "dev", "test"):
        raise ConfigError(f"split={split!r}; expected train, dev or test")
    recorded = data_hparams.get("cache_dir")
    if cache_dir is None and recorded and Path(recorded).is_dir():
        cache_dir = str(recorded)
    root = str(data_root or data_hparams.get("root") or "")
    if not root:
        raise ConfigError("the checkpoint does not record its data root; pass --data")
    # all trained speakers, so style ids stay those the model was trained with; no pose_clusters: cluster
    # labels are a training-only input, so fitting (or loading) the k-means here would be wasted
    datamodule = PatsDataModule(
        root,
        trained,
        format=spec.format,
        pose_key=spec.pose_key,
        audio_key=spec.audio_key,
        window_seconds=spec.window_seconds,
        audio_rate_mode=spec.audio_rate_mode,
        audio_level=spec.audio_level,
        representation=spec.representation,
        text_key=spec.text_key,
        repeat_text=spec.repeat_text,
        batch_size=batch_size,
        cache_dir=cache_dir,
    )
    datamodule.setup()
    pretrained.metadata.check_data(datamodule.spec, pretrained.source)  # the same features, levelled alike
    # a calibrated speaker is scored in their data's row, the model's output mapped there from its own
    datamodule.use_normalizer(pretrained.metadata.scoring_normalizer())
    train, held_out = datamodule.datasets["train"], datamodule.datasets[split]
    normalizer = datamodule.normalizer
    calibrated = pretrained.metadata.calibrated
    counts = {s: len(_speaker_items(held_out, trained.index(s))) for s in chosen}
    scored = [s for s in chosen if counts[s]]
    if not scored:
        raise DataError(
            f"{root}: no {split} windows for any of {chosen} "
            f"({split} intervals shorter than the {spec.window_seconds:g} s window?)"
        )
    result = EvaluationResult(str(pretrained.source), split, chosen, counts)
    result.notes = [
        f"{s}: no {split} windows ({split} intervals shorter than the {spec.window_seconds:g} s window?); "
        "not scored, not in the mean"
        for s in chosen
        if not counts[s]
    ]
    result.notes += [
        f"{s}: calibrated (pose statistics fitted, not trained); scored in the statistics of their data, "
        "as a trained speaker is, so the figures compare"
        for s in scored
        if s in calibrated
    ]
    model_name = pretrained.metadata.model.name
    models: dict[str, dict[str, Generator]] = {model_name: dict.fromkeys(scored, generator)}
    if baselines:
        for speaker in scored:
            train_windows = _speaker_windows(train, trained.index(speaker), names=("pose", "audio"))
            for name in list_models("baseline"):
                fit = model_entry(name).builder.fit
                models.setdefault(name, {})[speaker] = fit(
                    train_windows["pose"], train_windows["audio"], seed=seed
                ).eval()
    with_oracle = baselines and "oracle" in held_out.keys
    for name in [*models, *([ORACLE] if with_oracle else [])]:
        result.scores[name] = {}
    extractor = load_autoencoder(str(fgd_extractor), encodes=spec) if fgd_extractor else None
    reference_pck = BOX_JOINTS in held_out.keys  # the corpus stores the reference box's face joints

    decode = make_representation(spec.representation, spec.skeleton).decode

    def new_suite(style: int) -> GestureMetricSuite:
        mean, std = normalizer.mean["pose"][style], normalizer.std["pose"][style]
        if extractor is None:
            return GestureMetricSuite(
                mean, std, reference_pck=reference_pck, skeleton=spec.skeleton, decode=decode
            )
        model, name = extractor
        suite = GestureMetricSuite(
            mean,
            std,
            extractor=model,
            extractor_features=model.config.latent_dim,
            extractor_name=name,
            reference_pck=reference_pck,
            skeleton=spec.skeleton,
            decode=decode,
        )
        result.extractor = suite.extractor_id
        return suite

    shown = new_suite(0).keys
    metrics = [m for m in (*table_metrics(), "FGD") if m in shown]  # PCK_ref and FGD when available
    result.legend = {m: METRIC_LEGEND[m] for m in metrics if m in METRIC_LEGEND}

    for speaker in scored:
        style = trained.index(speaker)
        items = _speaker_items(held_out, style)
        suites = {name: new_suite(style) for name in models}
        rngs = {name: torch.Generator().manual_seed(seed) for name in models}
        references: list[dict[str, torch.Tensor]] = []  # what the oracle is scored on
        with torch.no_grad():
            for start in range(0, len(items), batch_size):
                # gathered per batch, as the data loader does: token rows are padded per batch
                batch = held_out.__getitems__(items[start : start + batch_size].tolist())
                for name, per_speaker in models.items():
                    # every declared input the batch has (text, token_duration …), none training-only
                    pred = run_generator(per_speaker[speaker], batch, training=False, rng=rngs[name]).poses
                    if name == model_name and speaker in calibrated:
                        pred = _rescaled(pred, pretrained.metadata.normalizer, normalizer, style)
                    suites[name].update(pred, batch["pose"], box_joints=batch.get(BOX_JOINTS))
                if with_oracle:
                    references.append({k: batch[k] for k in ("oracle", "pose", BOX_JOINTS) if k in batch})
        for name, suite in suites.items():
            result.scores[name][speaker] = _picked(suite.compute(), metrics)
        if with_oracle:
            windows = {k: torch.cat([r[k] for r in references]) for k in references[0]}
            suite = new_suite(style)
            suite.update(windows["oracle"], windows["pose"], box_joints=windows.get(BOX_JOINTS))
            result.scores[ORACLE][speaker] = _picked(suite.compute(), metrics)
    for per_speaker in result.scores.values():
        per_speaker["mean"] = {m: float(np.mean([per_speaker[s][m] for s in scored])) for m in metrics}
    result.seconds = time.perf_counter() - started
    return result


def _rescaled(poses: torch.Tensor, own: Normalizer, scoring: Normalizer, style: int) -> torch.Tensor:
    """Model-space ``poses`` (…, 2J) of ``style`` in its own ``pose`` row, expressed in ``scoring``'s row."""
    raw = poses * own.std["pose"][style] + own.mean["pose"][style]
    return (raw - scoring.mean["pose"][style]) / scoring.std["pose"][style]


def _speaker_items(dataset: WindowDataset, style: int) -> np.ndarray:
    """Positions in ``dataset`` of one speaker's windows (counted without reading them)."""
    start, end = dataset.offsets[style], dataset.offsets[style + 1]
    return np.flatnonzero((dataset.windows >= start) & (dataset.windows < end))


def _speaker_windows(dataset: WindowDataset, style: int, *, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Every window of one speaker as one batch of the stored features ``names`` (z-normalised, as the
    model sees them), plus ``style`` and ``index``; nothing else is read (no text, no cluster labels)."""
    items = _speaker_items(dataset, style)
    if len(items) == 0:
        cache = dataset.caches[style]
        raise DataError(f"{cache.directory}: no windows for this speaker and split (intervals too short?)")
    only = WindowDataset(
        dataset.caches, {name: dataset.keys[name] for name in names}, dataset.normalizer, dataset.windows
    )
    return only.__getitems__(items.tolist())


def _picked(values: dict[str, float], metrics: Sequence[str]) -> dict[str, float]:
    return {m: values[m] for m in metrics}


def gap_closed(result: EvaluationResult, metric: str = "L1", model: str | None = None) -> float:
    """``(mean_pose − model) / (mean_pose − oracle)`` on the mean-over-speakers row: 0 is no better than
    the mean pose, 1 reaches the oracle. Needs an evaluation run with ``baselines=True`` on the built-in
    corpus."""
    if ORACLE not in result.scores or "mean_pose" not in result.scores:
        raise ConfigError(
            "gap closed needs the mean-pose baseline and the oracle (baselines=True, built-in corpus)"
        )
    model = model or next(iter(result.scores))
    base, best = result.scores["mean_pose"]["mean"][metric], result.scores[ORACLE]["mean"][metric]
    return (base - result.scores[model]["mean"][metric]) / (base - best)
