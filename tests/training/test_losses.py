"""The adversarial losses on hand-computed values, and the recipe's choice between them."""

from __future__ import annotations

import pytest
import torch

from cospeech.errors import ConfigError
from cospeech.training.adversarial import ADVERSARIAL_LOSSES, AdversarialRecipe
from cospeech.training.losses import (
    discriminator_l1_gan,
    discriminator_lsgan,
    generator_l1_gan,
    generator_lsgan,
)

REAL = torch.tensor([[1.5, 0.5]])
FAKE = torch.tensor([[-1.0, 2.0]])


def test_l1_gan_on_hand_computed_values():
    # mean|real − 1| = 0.5; mean|fake| = 1.5; generator: mean|fake − 1| = (2 + 1) / 2
    assert discriminator_l1_gan(REAL, FAKE, 2.0).item() == pytest.approx(0.5 + 2.0 * 1.5)
    assert generator_l1_gan(FAKE).item() == pytest.approx(1.5)


def test_lsgan_on_hand_computed_values():
    # mean (real − 1)² = 0.25; mean fake² = (1 + 4) / 2; generator: mean (fake − 1)² = (4 + 1) / 2
    assert discriminator_lsgan(REAL, FAKE, 0.5).item() == pytest.approx(0.25 + 0.5 * 2.5)
    assert generator_lsgan(FAKE).item() == pytest.approx(2.5)


def test_the_recipe_names_its_losses_and_refuses_others():
    assert ADVERSARIAL_LOSSES["lsgan"] == (discriminator_lsgan, generator_lsgan)
    AdversarialRecipe.check_config({"adversarial_loss": "lsgan"})
    with pytest.raises(ConfigError, match="adversarial_loss='hinge'; expected one of l1_gan, lsgan"):
        AdversarialRecipe.check_config({"adversarial_loss": "hinge"})
