"""Frame-wise pose metrics as torchmetrics classes: L1 and VelL1 (z space); PCK (cospeech and reference
boxes, per joint), diversity, L1div, expressiveness and SDT's lip-opening error (pixels).

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
    _expressiveness_result,
    _expressiveness_update,
    _l1_div_update,
    _l1_update,
    _lip_sync_update,
    _pck_correct,
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
    "PCK_ref",
    space="pixels",
    arity="paired",
    needs=("box_joints",),
    outputs=("PCK_ref", *(f"PCK_ref@{alpha:g}" for alpha in PCK_ALPHAS)),
    logged=True,
    table=("PCK_ref",),
    order=32,
)
class PCKReference(PCK):
    """PCK with the reference's (Mix-StAGE) threshold box: the box also spans GT joints the model does not
    predict, given with every batch. With the PATS nose and eyes it is the box over all 52 GT joints (neck at
    the origin) that published PATS numbers use; scored joints are still the model's J.

    ``update(preds, target, box_joints)``: pixel-space ``(B, T, J, 2)`` poses and ``(B, T, K, 2)``
    neck-relative GT pixels of the extra joints. ``compute()`` returns ``{"PCK_ref", "PCK_ref@0.1",
    "PCK_ref@0.2"}``, so a table always says which box it shows (``PCK`` is cospeech's box).
    """

    def update(self, preds: Tensor, target: Tensor, box_joints: Tensor) -> None:
        correct, count = _pck_update(preds, target, self.alphas, box_joints)
        self.correct += correct
        self.count += count

    def compute(self) -> dict[str, Tensor]:
        return _pck_result(self.correct, self.count, self.alphas, prefix="PCK_ref")


@register_metric(
    "PCK_joint",
    space="pixels",
    arity="paired",
    needs=("num_features",),
    outputs=tuple(f"PCK@{alpha:g}" for alpha in PCK_ALPHAS),
    per_joint=True,
    order=34,
)
class PCKPerJoint(Metric):
    """PCK of each joint (Mix-StAGE ``pck_<α>_<j>``): per alpha, the fraction of frames in which joint j is
    within α · the box size of its GT, with ``PCK``'s box (model joints and the neck).

    ``update(preds, target)`` takes pixel-space ``(B, T, J, 2)``; ``compute()`` returns
    ``{"PCK@0.1": (J,), "PCK@0.2": (J,)}``, which the suite reports as ``PCK@0.1_joint<j>``.

    Args:
        num_features: 2J, the model-space frame size (so the per-joint state has its size up front).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_features: int, alphas: Sequence[float] = PCK_ALPHAS, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.alphas = tuple(alphas)
        self.num_joints = num_features // 2
        self.add_state(
            "correct",
            default=torch.zeros(len(self.alphas), self.num_joints, dtype=torch.float64),
            dist_reduce_fx="sum",
        )
        self.add_state("frames", default=_zero(), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        if preds.shape[-2] != self.num_joints:
            raise ValueError(
                f"PCKPerJoint was built for {self.num_joints} joints, got poses of shape {tuple(preds.shape)}"
            )
        correct, frames = _pck_correct(preds, target, self.alphas)
        self.correct += correct
        self.frames += frames

    def compute(self) -> dict[str, Tensor]:
        per_joint = self.correct / self.frames
        return {f"PCK@{alpha:g}": row for alpha, row in zip(self.alphas, per_joint, strict=True)}


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


@register_metric(
    "expressiveness",
    space="pixels",
    arity="paired",
    needs=("mean_pose",),
    outputs=("spatial", "spatialNorm", "energy", "power"),
    order=75,
)
class Expressiveness(Metric):
    """Mix-StAGE ``Expressiveness``: RMS over frames of the generated-minus-GT difference of the mean joint
    distance to the training mean pose (``spatial``, pixels; ``spatialNorm`` = spatial / RMS of the GT's own
    distance), of the mean joint speed (``energy``, pixels/frame) and of the mean acceleration magnitude
    (``power``, pixels/frame²). Lower is closer to the GT.

    As in the reference, each ``update`` is one RMS over its frames and batches are averaged weighted by
    their frame counts, so values depend on the batching (``docs/metrics.md``). Speeds are taken inside each
    sequence (batch row); the ``spatialNorm`` denominator is reset with the rest. ``update(preds, target)``
    takes pixel-space ``(B, T, J, 2)`` with ``T ≥ 3``.

    Args:
        mean_pose: ``(J, 2)`` training mean pose, neck-relative pixels (the normaliser's mean).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    _sums = ("spatial_sum", "gt_spread_sum", "energy_sum", "power_sum", "frames", "vel_frames", "acc_frames")

    def __init__(self, mean_pose: ArrayLike, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.mean_pose = _to_numpy64(mean_pose)
        if self.mean_pose.ndim != 2 or self.mean_pose.shape[-1] != 2:
            raise ValueError(f"mean_pose must be (J, 2), got shape {self.mean_pose.shape}")
        for name in self._sums:
            self.add_state(name, default=_zero(), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        sums = _expressiveness_update(preds, target, self.mean_pose)
        for name in self._sums:
            setattr(self, name, getattr(self, name) + sums[name].to(getattr(self, name).device))

    def compute(self) -> dict[str, Tensor]:
        return _expressiveness_result({name: getattr(self, name) for name in self._sums})


@register_metric(
    "lip_sync_error_n", space="pixels", arity="paired", needs=("lips",), logged=True, table=True, order=55
)
class LipSyncError(Metric):
    """SDT's normalised lip-opening error ``lip_sync_error_n`` (``functional.lip_sync_error``, notes SDT §5):
    per clip, generated and GT inner-lip openings over the clip's largest GT opening, mean absolute
    difference over every frame. Only for skeletons with a face (``sdt121``); ``update(preds, target)``
    takes pixel-space ``(B, T, J, 2)``, one clip per batch row.

    Args:
        upper, lower: joint indices of the upper and lower inner-lip middle points (``Face62``,
            ``Face66``: ``sdt121`` 71 and 75).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, upper: int, lower: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.upper, self.lower = upper, lower
        self.add_state("error_sum", default=_zero(), dist_reduce_fx="sum")
        self.add_state("frames", default=_zero(), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        total, count = _lip_sync_update(preds, target, self.upper, self.lower)
        self.error_sum += total.to(self.error_sum.device)
        self.frames += count

    def compute(self) -> Tensor:
        return self.error_sum / self.frames
