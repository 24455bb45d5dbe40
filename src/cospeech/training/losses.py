"""Losses of the gesture GANs.

The PATS/C-DiffGAN adversarial loss (reference notes cdiffgan §5) is the "L1-GAN": patch scores without
sigmoid, pulled towards 1 for real and 0 for generated motion with an absolute (L1) penalty. Speech Drives
Templates' Speech2Gesture baseline uses the least-squares GAN instead (SDT notes §4.1).
"""

from __future__ import annotations

import torch

ADVERSARIAL_WEIGHT_START = 1.0
ADVERSARIAL_WEIGHT_STEP = 0.1
ADVERSARIAL_WEIGHT_EVERY = 301  # training calls between increments (pycasper LambdaScheduler)
ADVERSARIAL_WEIGHT_MAX = 2.0


def reconstruction_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over all elements of (B, T, 2J) poses."""
    return (pred - target).abs().mean()


def discriminator_l1_gan(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, fake_weight: float
) -> torch.Tensor:
    """``mean|D(real) − 1| + fake_weight · mean|D(fake)|``."""
    return (real_scores - 1).abs().mean() + fake_weight * fake_scores.abs().mean()


def generator_l1_gan(fake_scores: torch.Tensor) -> torch.Tensor:
    """``mean|D(fake) − 1|``: the generator wants its motion scored as real."""
    return (fake_scores - 1).abs().mean()


def adversarial_weight(step: int, ramp: bool) -> float:
    """The reference ramps both λ_D and λ_G from 1 by 0.1 every 301 training calls, capped at 2. A
    function of the step (not a stateful scheduler), so a resumed run continues the same schedule."""
    if not ramp:
        return ADVERSARIAL_WEIGHT_START
    raised = ADVERSARIAL_WEIGHT_START + ADVERSARIAL_WEIGHT_STEP * (step // ADVERSARIAL_WEIGHT_EVERY)
    return min(raised, ADVERSARIAL_WEIGHT_MAX)


def discriminator_lsgan(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, fake_weight: float
) -> torch.Tensor:
    """Least-squares GAN (Mao et al. 2017), as Speech Drives Templates' S2G baseline:
    ``mean (D(real) − 1)² + fake_weight · mean D(fake)²``."""
    return (real_scores - 1).pow(2).mean() + fake_weight * fake_scores.pow(2).mean()


def generator_lsgan(fake_scores: torch.Tensor) -> torch.Tensor:
    """``mean (D(fake) − 1)²``."""
    return (fake_scores - 1).pow(2).mean()
