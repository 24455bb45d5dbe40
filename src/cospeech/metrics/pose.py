"""Frame-wise pose metrics as torchmetrics classes: L1 and VelL1 (z space), PCK, diversity and L1div (pixels).

States are sums, so memory is constant, and every state reduces with ``sum`` across processes. The maths
lives in ``cospeech.metrics.functional``; ``docs/metrics.md`` has the definitions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from cospeech.metrics.functional import (
    PCK_ALPHAS,
    ArrayLike,
    _diversity_update,
    _l1_div_update,
    _l1_update,
    _pck_result,
    _pck_update,
    _to_numpy64,
)
from cospeech.metrics.registry import register_metric


def _zero() -> Tensor:
    return torch.zeros((), dtype=torch.float64)


@register_metric("L1", space="z", arity="paired", logged=True, table=True, order=10)
class L1(Metric):
    """Mean absolute error in z space over joints × coordinates × frames (Mix-StAGE ``L1``).

    Batches are weighted by their size B, as the reference's running average is.
    ``update(preds, target)`` takes model-space poses ``(B, T, 2J)``.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    _order = 0

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.add_state("weighted_sum", default=_zero(), dist_reduce_fx="sum")
        self.add_state("count", default=_zero(), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        total, count = _l1_update(preds, target, order=self._order)
        self.weighted_sum += total
        self.count += count

    def compute(self) -> Tensor:
        return self.weighted_sum / self.count


@register_metric("VelL1", space="z", arity="paired", logged=True, table=True, order=20)
class VelL1(L1):
    """Mean absolute error of first temporal differences in z space (Mix-StAGE ``VelL1``); ``(B, T, 2J)``."""

    _order = 1


@register_metric(
    "PCK",
    space="pixels",
    arity="paired",
    outputs=("PCK", *(f"PCK@{alpha:g}" for alpha in PCK_ALPHAS)),
    logged=True,
    table=("PCK",),
    order=30,
)
class PCK(Metric):
    """Percentage of correct keypoints in pixel space, per alpha and their mean (Mix-StAGE ``pck``).

    A joint is correct when its error is below α · max(width, height) of the frame's GT bounding box, taken
    over the GT joints and the neck at the origin. ``update(preds, target)`` takes ``(B, T, J, 2)``;
    ``compute()`` returns ``{"PCK", "PCK@0.1", "PCK@0.2"}``.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, alphas: Sequence[float] = PCK_ALPHAS, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.alphas = tuple(alphas)
        self.add_state(
            "correct", default=torch.zeros(len(self.alphas), dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state("count", default=_zero(), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        correct, count = _pck_update(preds, target, self.alphas)
        self.correct += correct
        self.count += count

    def compute(self) -> dict[str, Tensor]:
        return _pck_result(self.correct, self.count, self.alphas)


@register_metric(
    "diversity",
    space="pixels",
    arity="single",
    needs=("mean_pose",),
    logged=("diversity",),
    table=True,
    order=60,
)
class Diversity(Metric):
    """Mix-StAGE diversity: mean ``|p − μ|`` in pixels to the training mean pose μ, for one pose set.

    Neither direction is better; compare generated with GT (the suite reports both). ``update(poses)`` takes
    ``(B, T, J, 2)``.

    Args:
        mean_pose: ``(J, 2)`` training mean pose, neck-relative pixels (the normaliser's mean).
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, mean_pose: ArrayLike, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.mean_pose = _to_numpy64(mean_pose)
        if self.mean_pose.ndim != 2 or self.mean_pose.shape[-1] != 2:
            raise ValueError(f"mean_pose must be (J, 2), got shape {self.mean_pose.shape}")
        self.add_state("abs_sum", default=_zero(), dist_reduce_fx="sum")
        self.add_state("count", default=_zero(), dist_reduce_fx="sum")

    def update(self, poses: Tensor) -> None:
        total, count = _diversity_update(poses, self.mean_pose)
        self.abs_sum += total
        self.count += count

    def compute(self) -> Tensor:
        return self.abs_sum / self.count


@register_metric("L1div", space="pixels", arity="single", order=70)
class L1Div(Metric):
    """BEAT/EMAGE L1div: per frame, the summed ``|p − p̄|`` over joints and coordinates (pixels) to the mean
    pose of its own sequence (each batch row), averaged over frames. ``update(poses)`` takes ``(B, T, J, 2)``.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.add_state("abs_sum", default=_zero(), dist_reduce_fx="sum")
        self.add_state("frames", default=_zero(), dist_reduce_fx="sum")

    def update(self, poses: Tensor) -> None:
        total, frames = _l1_div_update(poses)
        self.abs_sum += total
        self.frames += frames

    def compute(self) -> Tensor:
        return self.abs_sum / self.frames
