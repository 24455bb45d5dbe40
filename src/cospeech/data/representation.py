"""``PoseRepresentation``: how poses in pixels become what models predict, and back.

Pixel space is ``(…, T, J, 2)`` neck-relative offsets in pixels (PATS ``pose/normalize``, y down), what
metrics, renders and outputs use. Model space is ``(…, T, 2J)`` in the ``[x…, y…]`` layout, z-normalised
per feature with one row of statistics per speaker style. The conversion lives here and nowhere else, so a
later representation (a hierarchical hand layout, say) is one class that every caller already goes
through; its ``name`` is saved with each run.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

import numpy as np
import torch

from cospeech.data.normalize import Normalizer
from cospeech.data.poses import flat_to_joints, joints_to_flat
from cospeech.skeletons import Skeleton, get_skeleton

Array = TypeVar("Array", np.ndarray, torch.Tensor)


class PoseRepresentation:
    """z-normalised flat joints (``z_flat``): ``model = (flat(pixels) − μ_s) / σ_s`` for style s.

    Parameters
    ----------
    skeleton : name of the model skeleton (J joints).
    normalizer : statistics with ``pose`` rows ``(S, 2J)``, one per style.
    """

    name: ClassVar[str] = "z_flat"

    def __init__(self, skeleton: str, normalizer: Normalizer) -> None:
        self.skeleton: Skeleton = get_skeleton(skeleton)
        self.normalizer = normalizer
        width = normalizer.mean["pose"].shape[-1]
        if width != 2 * self.skeleton.num_joints:
            raise ValueError(
                f"pose statistics have {width} features; {self.skeleton.name} needs "
                f"{2 * self.skeleton.num_joints}"
            )

    def to_pixels(self, model: Array, style: Array | int) -> Array:
        """``(B, T, 2J)`` model space → ``(B, T, J, 2)`` pixels; ``style`` is ``(B,)`` or one id."""
        return flat_to_joints(self.normalizer.denormalize("pose", model, _styles(style, model)))

    def to_model(self, pixels: Array, style: Array | int) -> Array:
        """``(B, T, J, 2)`` pixels → ``(B, T, 2J)`` model space; ``style`` is ``(B,)`` or one id."""
        return self.normalizer.normalize("pose", joints_to_flat(pixels), _styles(style, pixels))


def _styles(style: Array | int, like: Array) -> Array:
    """One style id per batch row, in the array library of ``like``."""
    if isinstance(style, int):
        if isinstance(like, torch.Tensor):
            return torch.full((like.shape[0],), style, dtype=torch.long, device=like.device)
        return np.full(like.shape[0], style, dtype=np.int64)
    return style
