"""DiffGAN's timing ("crossmodal grounding") shift on a latent layer l (Ahuja et al., CVPR 2022).

Given ``z_l`` (the output of layer l) and the layers after it (``decode``), the step (notes cdiffgan §6.3):

1. ``fit_latent``: ``z*`` = a copy of ``z_l`` after ``steps`` plain gradient-descent steps (reference: 100,
   lr 1000) on ``mean|decode(z*) − y|``; only ``z*`` gets gradients (no parameter does);
2. ``shift_mask``: ``m (B, 1, T')`` = 1 at the ``top_k`` frames (reference 10 of 64) where the channel
   mean of ``|z_l − z*|`` is largest;
3. ``latent_shift_loss``: ``L_shift = mean((z* − ẑ_l)² · m)`` over all ``B · channels · T'`` elements, where
   ``ẑ_l`` = layer l applied to ``z_{l−1}`` detached, so that only layer l learns from it.

The generator provides the split (``MixStageGenerator.features_before_shift``, ``shift_layer``,
``poses_after_shift``); ``ContinualRecipe`` runs the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class LatentFit:
    """The result of ``fit_latent``."""

    latent: Tensor
    """z*: the fitted latent, same shape as the input, without grad."""
    first_l1: Tensor
    """``mean|decode(z_l) − y|`` before the first step (scalar, without grad)."""
    last_l1: Tensor
    """``mean|decode(z) − y|`` at the last step, before its update (the reference logs this one)."""


def fit_latent(
    z: Tensor, decode: Callable[[Tensor], Tensor], target: Tensor, *, steps: int, lr: float
) -> LatentFit:
    """``steps`` (≥ 1) SGD steps ``z ← z − lr · ∂/∂z mean|decode(z) − target|`` from a copy of ``z``.

    ``z``: ``(B, channels, T')`` latent; ``decode`` maps it to ``target``'s shape (e.g. poses ``(B, T, 2J)``);
    gradients are taken with ``torch.autograd.grad`` with respect to the latent only, so no parameter's
    ``.grad`` is touched (``decode``'s inputs other than ``z`` should be detached to keep the graph small).
    """
    latent = z.detach().clone()
    target = target.detach()
    losses = []
    with torch.enable_grad():
        for _ in range(steps):
            latent.requires_grad_(True)
            l1 = (decode(latent) - target).abs().mean()
            (gradient,) = torch.autograd.grad(l1, latent)
            latent = (latent - lr * gradient).detach()
            losses.append(l1.detach())
    return LatentFit(latent, losses[0], losses[-1])


def shift_mask(z: Tensor, fitted: Tensor, top_k: int) -> Tensor:
    """``(B, 1, T')`` float mask: 1 at the ``min(top_k, T')`` frames of each row where
    ``mean_channels |z − fitted|`` is largest, 0 elsewhere. ``z``, ``fitted``: ``(B, channels, T')``."""
    change = (z - fitted).abs().mean(dim=1)  # (B, T')
    frames = change.topk(min(top_k, change.shape[-1]), dim=-1).indices
    return torch.zeros_like(change).scatter_(1, frames, 1.0)[:, None]


def latent_shift_loss(fitted: Tensor, predicted: Tensor, mask: Tensor) -> Tensor:
    """``mean((fitted − predicted)² · mask)`` over every element (the reference's λ_diff = 1).
    ``fitted``, ``predicted``: ``(B, channels, T')``; ``mask``: ``(B, 1, T')``."""
    return ((fitted - predicted).square() * mask).mean()
