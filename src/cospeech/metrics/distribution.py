"""Distribution metrics as torchmetrics classes: FID on raw poses, FGD on extractor features, W1 of speeds.

Gaussians are fitted from running sums (count, sum, sum of outer products) in float64 and histograms are
counts, so memory is constant and every state reduces with ``sum`` across processes. The maths lives in
``cospeech.metrics.functional``; ``docs/metrics.md`` has the definitions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from cospeech.metrics.functional import (
    W1_BIN_EDGES,
    _check_flat,
    _check_pair,
    _encode,
    _frechet_from_moments,
    _moments_update,
    _w1_update,
    extractor_fingerprint,
    wasserstein_1,
)
from cospeech.metrics.registry import register_metric
from cospeech.skeletons import PATS48


class _FrechetMetric(Metric):
    """Running Gaussian fits of real and generated ``(N, D)`` features and their Fréchet distance."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, num_features: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.num_features = num_features
        for side in ("real", "fake"):
            self.add_state(
                f"{side}_count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum"
            )
            self.add_state(
                f"{side}_sum", default=torch.zeros(num_features, dtype=torch.float64), dist_reduce_fx="sum"
            )
            self.add_state(
                f"{side}_outer",
                default=torch.zeros(num_features, num_features, dtype=torch.float64),
                dist_reduce_fx="sum",
            )

    def _accumulate(self, fake: Tensor, real: Tensor) -> None:
        """Add ``(…, D)`` generated and real features to the running sums."""
        if fake.shape[-1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__} was built for {self.num_features} features, got features of shape "
                f"{tuple(fake.shape)}"
            )
        for side, features in (("fake", fake), ("real", real)):
            count, total, outer = _moments_update(features)
            setattr(self, f"{side}_count", getattr(self, f"{side}_count") + count)
            setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + total)
            setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + outer)

    def _distance(self) -> Tensor:
        value = _frechet_from_moments(
            (int(self.real_count), self.real_sum, self.real_outer),
            (int(self.fake_count), self.fake_sum, self.fake_outer),
        )
        return torch.tensor(value, dtype=torch.float64, device=self.real_sum.device)


@register_metric("FID", space="z", arity="paired", needs=("num_features",), logged=True, table=True, order=40)
class FID(_FrechetMetric):
    """Mix-StAGE "FID": Fréchet distance between Gaussians fitted to raw z-space pose frames (no embedding).

    Each frame of ``update(preds, target)`` (model-space ``(B, T, 2J)``) is one 2J-dim sample; covariances
    divide by N−1. A failed computation is NaN with a warning, never a stand-in number.

    Args:
        num_features: 2J, the frame size (default: the ``pats48`` model joints).
    """

    def __init__(self, num_features: int = 2 * PATS48.num_joints, **kwargs: object) -> None:
        super().__init__(num_features, **kwargs)

    def update(self, preds: Tensor, target: Tensor) -> None:
        preds, target = _check_pair(preds, target, _check_flat)
        self._accumulate(preds, target)

    def compute(self) -> Tensor:
        return self._distance()


@register_metric("FGD", space="z", arity="paired", needs=("extractor",), order=80)
class FGD(_FrechetMetric):
    """Fréchet Gesture Distance: the Fréchet distance on features of a pose-sequence extractor.

    FGD values are only comparable for the same extractor weights, so the metric records which it used:
    ``extractor_id`` is ``"<name>@<first 12 hex of sha256(safetensors(state_dict))>"`` and ``compute()``
    returns it next to the value: ``{"FGD": value, "extractor": extractor_id}``. The extractor is kept in
    eval mode.

    Args:
        extractor: ``nn.Module`` with ``encode(poses (B, T, 2J)) -> (B, C)`` on model-space poses.
        num_features: C, the feature size.
        name: a readable name for the extractor (default: its class name).
    """

    def __init__(
        self, extractor: nn.Module, num_features: int, name: str | None = None, **kwargs: object
    ) -> None:
        super().__init__(num_features, **kwargs)
        if not callable(getattr(extractor, "encode", None)):
            raise TypeError(
                f"FGD needs an extractor with encode(poses) -> (B, C); {type(extractor).__name__} has none"
            )
        self.extractor = extractor.eval()
        self.extractor_name = name or type(extractor).__name__
        self.extractor_hash = extractor_fingerprint(extractor)
        self.extractor_id = f"{self.extractor_name}@{self.extractor_hash}"

    def train(self, mode: bool = True) -> FGD:
        """Keep the extractor in eval mode when a parent module switches to training (dropout or batch
        norm in train mode would change the features)."""
        super().train(mode)
        self.extractor.eval()
        return self

    def update(self, preds: Tensor, target: Tensor) -> None:
        preds, target = _check_pair(preds, target, _check_flat)
        self._accumulate(_encode(self.extractor, preds), _encode(self.extractor, target))

    def compute(self) -> dict[str, Tensor | str]:
        return {"FGD": self._distance(), "extractor": self.extractor_id}


@register_metric(
    "W1", space="pixels", arity="paired", outputs=("W1_vel", "W1_acc"), logged=True, table=True, order=50
)
class W1(Metric):
    """Mix-StAGE W1: Wasserstein-1 between generated and GT histograms of per-frame mean joint speed
    (``W1_vel``, pixels/frame) and acceleration magnitude (``W1_acc``, pixels/frame²).

    Histograms use the bins of ``W1_BIN_EDGES`` and accumulate over batches. ``update(preds, target)`` takes
    pixel-space ``(B, T, J, 2)`` with ``T ≥ 3``.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        for name in ("vel_pred", "vel_gt", "acc_pred", "acc_gt"):
            self.add_state(
                name, default=torch.zeros(len(W1_BIN_EDGES) - 1, dtype=torch.long), dist_reduce_fx="sum"
            )

    def update(self, preds: Tensor, target: Tensor) -> None:
        vel_pred, vel_gt, acc_pred, acc_gt = _w1_update(preds, target)
        self.vel_pred += vel_pred
        self.vel_gt += vel_gt
        self.acc_pred += acc_pred
        self.acc_gt += acc_gt

    def compute(self) -> dict[str, Tensor]:
        device = self.vel_pred.device
        return {
            "W1_vel": torch.tensor(
                wasserstein_1(self.vel_pred, self.vel_gt), dtype=torch.float64, device=device
            ),
            "W1_acc": torch.tensor(
                wasserstein_1(self.acc_pred, self.acc_gt), dtype=torch.float64, device=device
            ),
        }
