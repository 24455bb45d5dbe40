"""Style metric as a torchmetrics class: F1 of gesture-cluster labels (Mix-StAGE ``F1``, ``acc``,
``precision``, ``recall``).

The state is a ``(k, k)`` confusion matrix of counts, so memory is constant and it reduces with ``sum``
across processes. The maths lives in ``cospeech.metrics.functional``; ``docs/metrics.md`` has the definition.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from cospeech.metrics.functional import ArrayLike, _confusion_update, _to_numpy64, f1_from_confusion
from cospeech.metrics.registry import register_metric


@register_metric(
    "F1",
    space="pixels",
    arity="paired",
    needs=("cluster_centres",),
    outputs=("F1", "cluster_acc", "cluster_precision", "cluster_recall"),
    order=90,
)
class GestureClusterF1(Metric):
    """Support-weighted F1 (``F1``), agreement rate (``cluster_acc``) and unweighted mean per-cluster
    precision and recall (``cluster_precision``, ``cluster_recall``) of the gesture clusters of generated and
    GT frames (``f1_from_confusion``).

    Each frame of ``update(preds, target)`` (pixel-space ``(B, T, J, 2)``) is labelled with the nearest
    centre of ``[pose, velocity, speed]`` features; velocity restarts at 0 in every sequence.

    Args:
        centres: ``(k, 5J)`` cluster centres from ``fit_gesture_clusters`` on training poses.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, centres: ArrayLike, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.centres = _to_numpy64(centres)
        if self.centres.ndim != 2:
            raise ValueError(f"centres must be (k, 5J), got shape {self.centres.shape}")
        k = self.centres.shape[0]
        self.add_state("confusion", default=torch.zeros(k, k, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.confusion += _confusion_update(preds, target, self.centres)

    def compute(self) -> dict[str, Tensor]:
        result = f1_from_confusion(self.confusion)
        return {
            k: torch.tensor(v, dtype=torch.float64, device=self.confusion.device) for k, v in result.items()
        }
