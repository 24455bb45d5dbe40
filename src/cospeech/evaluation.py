"""Score a trained generator on a split, per speaker, next to baselines and the oracle.

Every number gets context: with ``baselines=True`` the same held-out windows are scored for

* ``mean_pose``: each speaker's mean training pose on every frame;
* ``random_window``: a random training window of the speaker (seeded);
* ``nearest_neighbour``: the pose of the speaker's training window with the nearest audio;
* ``oracle`` (built-in corpus only): the noise-free gesture the corpus generator intended.

Baselines are fitted per speaker on that speaker's training windows, in the same normalised space the
model sees. The data settings (root, keys, windows, normalisation) default to those the run was trained
with and the normaliser is the checkpoint's own, so numbers are comparable to the run's dev metrics.
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
from torch import nn

from cospeech.data.datamodule import PatsDataModule, WindowDataset
from cospeech.errors import ConfigError, DataError
from cospeech.files import atomic_write
from cospeech.inference.export import build_generator, read_checkpoint
from cospeech.metrics import GestureMetricSuite, table_metrics
from cospeech.models.baselines import MeanPoseBaseline, NearestNeighbourBaseline, RandomWindowBaseline
from cospeech.training.autoencoder import load_autoencoder
from cospeech.training.checkpoints import load_checkpoint, resolve_checkpoint

TABLE_METRICS = table_metrics()
ORACLE = "oracle"
BASELINES = ("mean_pose", "random_window", "nearest_neighbour")


@dataclass
class EvaluationResult:
    """``scores[model][speaker][metric]``; ``speaker`` includes ``"mean"`` (unweighted over speakers)."""

    checkpoint: str
    split: str
    speakers: list[str]
    windows: dict[str, int]
    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    seconds: float = 0.0
    extractor: str | None = None
    """``name@hash`` of the FGD feature extractor, when FGD was computed."""

    def to_json(self) -> dict[str, Any]:
        def clean(value: float) -> float | None:
            return value if np.isfinite(value) else None

        return {
            "checkpoint": self.checkpoint,
            "split": self.split,
            "speakers": self.speakers,
            "windows": self.windows,
            "fgd_extractor": self.extractor,
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
        metrics = list(next(iter(next(iter(self.scores.values())).values())))
        header = ["model", "speaker", *metrics]
        rows = [
            [model, speaker, *(f"{values[m]:.3f}" for m in metrics)]
            for model, per_speaker in self.scores.items()
            for speaker, values in per_speaker.items()
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


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
    ``fgd_extractor`` (a pose auto-encoder run) FGD is added, tagged with the extractor's name and hash."""
    started = time.perf_counter()
    pretrained = read_checkpoint(checkpoint)  # the loader GestureGenerator uses: one path, one set of checks
    generator = build_generator(pretrained)
    data_hparams = dict(load_checkpoint(pretrained.source).get("datamodule_hyper_parameters") or {})
    trained = list(pretrained.speakers)
    chosen = list(speakers) if speakers else trained
    unknown = [s for s in chosen if s not in trained]
    if unknown:
        raise ConfigError(f"speaker(s) {unknown} not known to this checkpoint; known: {trained}")
    if split not in ("train", "dev", "test"):
        raise ConfigError(f"split={split!r}; expected train, dev or test")
    root = str(data_root or data_hparams.get("root") or "")
    if not root:
        raise ConfigError("the checkpoint does not record its data root; pass --data")
    settings = {
        k: data_hparams[k]
        for k in ("pose_key", "audio_key", "window_seconds", "audio_rate_mode")
        if k in data_hparams
    }
    # all trained speakers, so style ids stay those the model was trained with
    datamodule = PatsDataModule(root, trained, batch_size=batch_size, cache_dir=cache_dir, **settings)
    datamodule.setup()
    datamodule.use_normalizer(pretrained.normalizer)
    train, held_out = datamodule.datasets["train"], datamodule.datasets[split]
    normalizer = datamodule.normalizer
    result = EvaluationResult(str(resolve_checkpoint(checkpoint)), split, chosen, {})
    models: dict[str, dict[str, nn.Module]] = {pretrained.generator: dict.fromkeys(chosen, generator)}
    if baselines:
        for speaker in chosen:
            style = trained.index(speaker)
            train_windows = _speaker_windows(train, style)
            fitted = {
                "mean_pose": MeanPoseBaseline.fit(train_windows["pose"], train_windows["audio"]),
                "random_window": RandomWindowBaseline.fit(
                    train_windows["pose"], train_windows["audio"], seed=seed
                ),
                "nearest_neighbour": NearestNeighbourBaseline.fit(
                    train_windows["pose"], train_windows["audio"]
                ),
            }
            for name, model in fitted.items():
                models.setdefault(name, {})[speaker] = model.eval()
    with_oracle = baselines and "oracle" in held_out.keys
    for name in [*models, *([ORACLE] if with_oracle else [])]:
        result.scores[name] = {}
    extractor = load_autoencoder(str(fgd_extractor)) if fgd_extractor else None
    metrics = (*TABLE_METRICS, "FGD") if extractor else TABLE_METRICS

    def new_suite(style: int) -> GestureMetricSuite:
        mean, std = normalizer.mean["pose"][style], normalizer.std["pose"][style]
        if extractor is None:
            return GestureMetricSuite(mean, std)
        model, name = extractor
        suite = GestureMetricSuite(
            mean, std, extractor=model, extractor_features=model.config.latent_dim, extractor_name=name
        )
        result.extractor = suite.extractor_id
        return suite

    for speaker in chosen:
        style = trained.index(speaker)
        windows = _speaker_windows(held_out, style)
        result.windows[speaker] = len(windows["pose"])
        style_ids = torch.full((len(windows["pose"]),), style, dtype=torch.long)
        for name, per_speaker in models.items():
            suite = new_suite(style)
            with torch.no_grad():
                for start in range(0, len(style_ids), batch_size):
                    rows = slice(start, start + batch_size)
                    pred = per_speaker[speaker](windows["audio"][rows], style_ids[rows])
                    suite.update(pred, windows["pose"][rows])
            result.scores[name][speaker] = _picked(suite.compute(), metrics)
        if with_oracle:
            suite = new_suite(style)
            suite.update(windows["oracle"], windows["pose"])
            result.scores[ORACLE][speaker] = _picked(suite.compute(), metrics)
    for per_speaker in result.scores.values():
        per_speaker["mean"] = {m: float(np.mean([per_speaker[s][m] for s in chosen])) for m in metrics}
    result.seconds = time.perf_counter() - started
    return result


def _speaker_windows(dataset: WindowDataset, style: int) -> dict[str, torch.Tensor]:
    """Every window of one speaker as a batch (z-normalised, as the model sees them)."""
    start, end = dataset.offsets[style], dataset.offsets[style + 1]
    items = np.flatnonzero((dataset.windows >= start) & (dataset.windows < end))
    if len(items) == 0:
        cache = dataset.caches[style]
        raise DataError(f"{cache.directory}: no windows for this speaker and split (intervals too short?)")
    return dataset.__getitems__(items.tolist())


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
