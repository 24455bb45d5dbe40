"""Every gesture metric from one ``update`` on model-space tensors.

The suite goes back to pixel space itself (``pixel = z · std + mean`` in the flat ``[x…, y…]`` layout, then
``flat_to_joints``), so a validation step only hands over what the model saw and produced. Optional metrics
exist only when their inputs are given at construction (FGD: an extractor; F1: cluster centres; BeatAlign:
``beat_align=True``), never faked with a default.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from cospeech.data.poses import flat_to_joints
from cospeech.metrics.beat import BeatAlign
from cospeech.metrics.distribution import FGD, FID, W1
from cospeech.metrics.functional import POSE_FPS, ArrayLike, _check_flat, _check_pair, _to_numpy64
from cospeech.metrics.pose import L1, PCK, Diversity, L1Div, VelL1
from cospeech.metrics.style import GestureClusterF1

# Metrics compared on z-space tensors; all others see pixels. Pairs take (preds, target); the "_gt" twins of
# single-set metrics see the target alone.
_Z_SPACE = ("L1", "VelL1", "FID", "FGD")
_PAIRED_PIXELS = ("PCK", "W1", "F1")
_SINGLE_PIXELS = ("diversity", "L1div")


class GestureMetricSuite(nn.Module):
    """L1, VelL1, PCK (@0.1, @0.2, mean), FID, W1_vel/W1_acc, diversity and L1div (generated and GT), plus
    FGD, F1/cluster_acc and BeatAlign (generated and GT) when their inputs are given.

    ``update(preds, target, beats=None)``: model-space ``(B, T, 2J)`` generated and GT poses, and with
    ``beat_align=True`` per-sequence audio beat times in seconds. ``compute()`` returns a flat
    ``dict[str, float]``, e.g. ``{"L1": …, "VelL1": …, "PCK": …, "PCK@0.1": …, "PCK@0.2": …, "FID": …,
    "W1_vel": …, "W1_acc": …, "diversity": …, "diversity_gt": …, "L1div": …, "L1div_gt": …}``.

    Args:
        mean, std: the normaliser's per-feature statistics, 2J values each in the ``[x…, y…]`` layout (any
            shape holding 2J values, e.g. ``(1, 1, 2J)``). The mean is also the diversity reference pose.
        extractor: FGD feature extractor (``encode(poses (B, T, 2J)) -> (B, C)`` on model-space poses).
        extractor_features: C, required with ``extractor``.
        extractor_name: readable extractor name recorded in ``extractor_id``.
        cluster_centres: ``(k, 5J)`` from ``fit_gesture_clusters``, enables ``F1`` and ``cluster_acc``.
        beat_align: enables ``BeatAlign`` and ``BeatAlign_gt``; every update must then pass beats.
        fps: pose frame rate, for beat times.
    """

    def __init__(
        self,
        mean: ArrayLike,
        std: ArrayLike,
        *,
        extractor: nn.Module | None = None,
        extractor_features: int | None = None,
        extractor_name: str | None = None,
        cluster_centres: ArrayLike | None = None,
        beat_align: bool = False,
        fps: float = POSE_FPS,
    ) -> None:
        super().__init__()
        self.mean = _to_numpy64(mean).reshape(-1)
        self.std = _to_numpy64(std).reshape(-1)
        if self.mean.shape != self.std.shape or self.mean.size % 2:
            raise ValueError(
                f"mean and std must hold the same even number (2J) of values, "
                f"got {self.mean.size} and {self.std.size}"
            )
        mean_pose = flat_to_joints(self.mean)  # (J, 2)
        metrics: dict[str, Metric] = {
            "L1": L1(),
            "VelL1": VelL1(),
            "PCK": PCK(),
            "FID": FID(num_features=self.mean.size),
            "W1": W1(),
            "diversity": Diversity(mean_pose),
            "diversity_gt": Diversity(mean_pose),
            "L1div": L1Div(),
            "L1div_gt": L1Div(),
        }
        if extractor is not None:
            if extractor_features is None:
                raise ValueError(
                    "extractor_features (the size C of extractor.encode's output) is required for FGD"
                )
            metrics["FGD"] = FGD(extractor, extractor_features, name=extractor_name)
        if cluster_centres is not None:
            metrics["F1"] = GestureClusterF1(cluster_centres)
        if beat_align:
            metrics["BeatAlign"] = BeatAlign(fps=fps)
            metrics["BeatAlign_gt"] = BeatAlign(fps=fps)
        self.metrics = nn.ModuleDict(metrics)

    @property
    def extractor_id(self) -> str | None:
        """``"<name>@<weights hash>"`` of the FGD extractor, or None without FGD."""
        return self.metrics["FGD"].extractor_id if "FGD" in self.metrics else None

    def to_pixels(self, poses: Tensor) -> Tensor:
        """Model-space ``(B, T, 2J)`` → pixel-space ``(B, T, J, 2)`` float64 on the input's device."""
        mean = torch.as_tensor(self.mean, device=poses.device)
        std = torch.as_tensor(self.std, device=poses.device)
        return flat_to_joints(poses.double() * std + mean)

    def update(self, preds: Tensor, target: Tensor, beats: Sequence[ArrayLike] | None = None) -> None:
        preds, target = _check_pair(preds, target, _check_flat)
        if preds.shape[-1] != self.mean.size:
            raise ValueError(
                f"poses have {preds.shape[-1]} features but the normaliser has {self.mean.size}: "
                f"preds {tuple(preds.shape)}, mean ({self.mean.size},)"
            )
        if ("BeatAlign" in self.metrics) != (beats is not None):
            raise ValueError(
                "audio beats must be given to every update when the suite is built with beat_align=True, "
                "and only then"
            )
        for name in _Z_SPACE:
            if name in self.metrics:
                self.metrics[name].update(preds, target)
        preds_px, target_px = self.to_pixels(preds), self.to_pixels(target)
        for name in _PAIRED_PIXELS:
            if name in self.metrics:
                self.metrics[name].update(preds_px, target_px)
        for name in _SINGLE_PIXELS:
            self.metrics[name].update(preds_px)
            self.metrics[f"{name}_gt"].update(target_px)
        if beats is not None:
            self.metrics["BeatAlign"].update(preds_px, beats)
            self.metrics["BeatAlign_gt"].update(target_px, beats)

    def compute(self) -> dict[str, float]:
        """Every metric's value as a float, synchronised across processes; failed distances are NaN (warned).
        The FGD extractor's identity is ``extractor_id``, kept out of this dict so every value is a number."""
        result: dict[str, float] = {}
        for name, metric in self.metrics.items():
            value = metric.compute()
            if isinstance(value, dict):
                result.update({k: float(v) for k, v in value.items() if isinstance(v, Tensor)})
            else:
                result[name] = float(value)
        return result

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()
