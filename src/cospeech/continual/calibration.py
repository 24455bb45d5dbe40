"""Calibrate a trained multi-speaker Mix-StAGE to a new person without training it: the person's style
vector and pose statistics are fitted to their windows, every weight stays as it was (``docs/personalise.md``,
"Under a minute of data").

With half a minute of a person (about seven independent windows) the few-shot adaptation learns their mean
pose and little more (BENCHMARKS.md, Personalise). Calibration keeps the base model's speech-to-gesture
mapping and fits only what half a minute can pin down, 10 + 2 · 2J numbers:

* the person's **style vector**, a new row of the style table, starting from the known speaker's row whose
  output fits the person best (after a per-feature least-squares gain);
* the person's **pose statistics** (the normaliser's ``pose`` row): per model-space feature an offset and a
  positive gain applied to the model's output, so ``pose = z · std + mean`` maps the base model's output onto
  the person's mean and range of motion.

Both are fitted together by Adam on the L1 loss in model space (the evaluation's L1) over the person's
training windows. The new model is the base's weights with the new style row, the base's statistics for its
speakers with the person's row added: the base speakers' outputs are unchanged (no forgetting).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cospeech.data.normalize import Normalizer
from cospeech.errors import ConfigError, DataError
from cospeech.files import atomic_write
from cospeech.models import run_generator
from cospeech.training.checkpoints import load_checkpoint
from cospeech.training.metadata import METADATA_KEY, RunMetadata

STEPS = 300
"""Adam steps (BENCHMARKS.md, Personalise: 300 steps of 32 windows; 100 left the test L1 0.01 higher)."""
LEARNING_RATE = 0.03
BATCH = 32
MIN_GAIN = 0.05
"""Smallest starting gain: a feature the chosen style moves against the person's starts nearly still."""


@dataclass(frozen=True)
class Calibration:
    """A person's fitted style vector and pose statistics (raw units, e.g. pixels)."""

    style: torch.Tensor
    """(style_dim,) the person's row of the style table."""
    mean: torch.Tensor
    """(2J,) ``pose`` mean row of the normaliser."""
    std: torch.Tensor
    """(2J,) ``pose`` std row, > 0."""
    start: int
    """The known style id the style vector started from."""
    train_l1: float
    """L1 of the last step (a batch of the person's training windows, the known speakers' model space)."""


def fit_calibration(
    generator: torch.nn.Module,
    windows: Mapping[str, torch.Tensor],
    mean: torch.Tensor,
    std: torch.Tensor,
    known: int,
    *,
    steps: int = STEPS,
    seed: int = 0,
) -> Calibration:
    """Fit the style vector and pose statistics of a new person for a frozen Mix-StAGE ``generator``.

    Args:
        generator: a Mix-StAGE generator (``style_embedding`` with more than ``known`` rows); not modified.
        windows: the person's training windows as batches give them: ``pose`` (N, T, 2J) and ``audio``
            (N, T, F), z-normalised with ``mean``/``std``.
        mean, std: (2J,) the pose statistics ``windows`` were normalised with (the known speakers').
        known: the number of known speakers (style ids ``0 … known − 1``); the person gets id ``known``.
        steps: Adam steps of `BATCH` windows drawn with replacement (seeded by ``seed``).

    Returns the `Calibration`. Raises ``DataError`` if ``windows`` holds no window.
    """
    count = len(windows["pose"])
    if count == 0:
        raise DataError("no training windows of the person: nothing to calibrate on")
    model = _frozen_copy(generator)
    table = model.style_embedding.weight
    target = windows["pose"].float()
    features = target.shape[-1]
    with torch.no_grad():
        person_mean = target.reshape(-1, features).mean(0)
        fits = [_least_squares(_outputs(model, windows, s), target, person_mean) for s in range(known)]
    start = min(range(known), key=lambda s: fits[s][0])
    _, centre, gain = fits[start]
    with torch.no_grad():
        table[known] = table[start]
    rows = torch.zeros(len(table), 1)
    rows[known] = 1.0
    table.requires_grad_(True).register_hook(lambda grad: grad * rows)  # the person's row learns alone
    log_gain = gain.clamp(min=MIN_GAIN).log().requires_grad_(True)
    offset = person_mean.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([table, log_gain, offset], lr=LEARNING_RATE)
    draw = torch.Generator().manual_seed(seed)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        chosen = torch.randint(0, count, (min(BATCH, count),), generator=draw)
        batch = {k: v[chosen] for k, v in windows.items()}
        predicted = (_outputs(model, batch, known) - centre) * log_gain.exp() + offset
        loss = (predicted - batch["pose"]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    gain, offset = log_gain.detach().exp(), offset.detach()
    # person's model-space z ↦ (z − centre) · gain + offset in the known speakers' space ↦ raw units
    return Calibration(
        style=table[known].detach().clone(),
        mean=mean + (offset - centre * gain) * std,
        std=gain * std,
        start=start,
        train_l1=float(loss.detach()),
    )


def _frozen_copy(generator: torch.nn.Module) -> torch.nn.Module:
    model = copy.deepcopy(generator).eval()
    return model.requires_grad_(False)


def _outputs(model: torch.nn.Module, windows: Mapping[str, torch.Tensor], style: int) -> torch.Tensor:
    """(N, T, 2J) the model's poses for ``windows``' audio in style ``style`` (evaluation inputs only)."""
    inputs = {"audio": windows["audio"], "style": torch.full((len(windows["audio"]),), style)}
    return run_generator(model, inputs, training=False).poses


def _least_squares(
    output: torch.Tensor, target: torch.Tensor, person_mean: torch.Tensor
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """L1 of the best per-feature gain (least squares) from ``output`` to ``target``, the output's mean and
    that gain."""
    features = output.shape[-1]
    centre = output.reshape(-1, features).mean(0)
    x, y = output - centre, target - person_mean
    gain = (x * y).reshape(-1, features).sum(0) / (x * x).reshape(-1, features).sum(0).clamp(min=1e-8)
    return float((x * gain + person_mean - target).abs().mean()), centre, gain


def write_calibrated_run(
    base: str | Path,
    folder: str | Path,
    name: str,
    style: torch.Tensor,
    statistics: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    datamodule_hparams: Mapping[str, Any],
    normalization: str,
) -> Path:
    """Write ``folder/checkpoints/last.ckpt``: the Mix-StAGE run ``base`` with speaker ``name`` added, whose
    style row is ``style`` and whose normaliser rows are ``statistics`` (``{feature: (mean, std)}`` for every
    feature the base normalises; the ``pose`` row of a `Calibration`). The weights are the base's but for
    the new style row, the base speakers' statistics stay; ``datamodule_hparams`` (root, speakers …) and
    ``normalization`` describe the data with the person. No training state is kept. Returns the file."""
    checkpoint = load_checkpoint(base)
    metadata = RunMetadata.from_dict(checkpoint.get(METADATA_KEY), base)
    stats = metadata.normalizer
    if set(statistics) != set(stats.mean):
        raise ConfigError(f"statistics for {sorted(statistics)}; the base normalises {sorted(stats.mean)}")
    normalizer = Normalizer(
        {k: torch.cat([v, statistics[k][0][None].float()]) for k, v in stats.mean.items()},
        {k: torch.cat([v, statistics[k][1][None].float()]) for k, v in stats.std.items()},
    )
    speakers = (*metadata.speakers, name)
    model = metadata.model
    added = dataclasses.replace(
        metadata,
        model=dataclasses.replace(model, config={**model.config, "num_styles": len(speakers)}),
        data=dataclasses.replace(metadata.data, speakers=speakers, normalization=normalization),
        normalizer=normalizer,
    )
    added.check(folder)
    weights = dict(checkpoint["state_dict"])
    key = f"{model.prefix}style_embedding.weight"
    weights[key] = weights[key].clone()
    weights[key][len(speakers) - 1] = style
    kept = ("pytorch-lightning_version", "epoch", "global_step", "hparams_name", "hyper_parameters")
    written = {k: checkpoint[k] for k in kept if k in checkpoint}
    written |= {
        "state_dict": weights,
        METADATA_KEY: added.to_dict(tensors=True),
        "datamodule_hparams_name": "kwargs",
        "datamodule_hyper_parameters": dict(datamodule_hparams),
    }
    path = Path(folder) / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary:
        torch.save(written, temporary)
    return path
