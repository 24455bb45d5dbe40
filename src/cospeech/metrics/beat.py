"""Beat alignment as a torchmetrics class: do motion beats fall on audio beats?

States are the running score sum and audio-beat count, reduced with ``sum`` across processes. The maths
lives in ``cospeech.metrics.functional``; ``docs/metrics.md`` has the definition and its variants.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from cospeech.metrics.functional import BEAT_MIN_DROP, BEAT_SIGMA, POSE_FPS, ArrayLike, _beat_align_update
from cospeech.metrics.registry import register_metric


@register_metric("BeatAlign", space="pixels", arity="single", needs=("beats",), order=100)
class BeatAlign(Metric):
    """Beat alignment score of one pose set: mean over audio beats of ``exp(−d²/2σ²)``, d the distance
    (seconds) to the nearest kinematic beat (mean-joint-speed minimum) of the same sequence.

    ``update(poses, beats)``: pixel-space poses ``(B, T, J, 2)`` and, per sequence, audio beat times in
    seconds from its first frame (``audio_beats`` detects them from a waveform).

    Args:
        fps: pose frame rate.
        sigma: Gaussian width in seconds.
        min_drop: minimum depth of a speed minimum, pixels/frame.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        fps: float = POSE_FPS,
        sigma: float = BEAT_SIGMA,
        min_drop: float = BEAT_MIN_DROP,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.fps, self.sigma, self.min_drop = fps, sigma, min_drop
        self.add_state("score_sum", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("num_beats", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, poses: Tensor, beats: Sequence[ArrayLike]) -> None:
        total, count = _beat_align_update(
            poses, beats, fps=self.fps, sigma=self.sigma, min_drop=self.min_drop
        )
        self.score_sum += total
        self.num_beats += count

    def compute(self) -> Tensor:
        """NaN (warned) when no audio beat was seen."""
        if self.num_beats == 0:
            warnings.warn(
                "BeatAlign not computed: no audio beats; returning NaN", RuntimeWarning, stacklevel=2
            )
        return self.score_sum / self.num_beats
