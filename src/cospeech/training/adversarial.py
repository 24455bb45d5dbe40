"""``AdversarialRecipe``: reconstruction L1 plus an optional motion GAN, the PATS/C-DiffGAN recipe.

The step follows the reference (notes cdiffgan §5, §8):

* each batch is **either** a discriminator step **or** a generator step: a coin flip with probability
  ``r / (r + 1)`` for D (``dg_iter_ratio`` r = 1 → 0.5), or strict alternation;
* D: ``mean|D(v(y)) − 1| + λ · mean|D(v(ŷ))|`` on pose velocities, ŷ from G in eval mode without grad;
* G: ``mean|ŷ − y| + λ · mean|D(v(ŷ)) − 1|`` plus the generator's own auxiliary losses (gradient flows
  through D into G);
* λ ramps 1 → 2 (+0.1 every 301 steps), global grad-norm clip 1, Adam lr 1e-4, lr × 0.99 per epoch.

``adversarial_loss: lsgan`` swaps the absolute penalties for squares (SDT's Speech2Gesture baseline, with
``adversarial_weight: 0.1`` and no ramp). Without a discriminator the same loop trains G on L1 (and its
auxiliary losses) alone. The coin flip uses a generator seeded from (seed, step), so every DDP process takes
the same branch and a resumed run repeats the same choices.

The step is a few small hooks (``training_batch``, ``discriminator_rows``, ``discriminator_loss``,
``generator_loss``, ``generator_terms``) that ``ContinualRecipe`` overrides for replay and DiffGAN's shift.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from cospeech.data.poses import velocity
from cospeech.data.spec import DataSpec
from cospeech.errors import ConfigError
from cospeech.models.interface import GeneratorOutput
from cospeech.models.registry import check_kind, model_config
from cospeech.training.base import GestureModule, checked_choice
from cospeech.training.losses import (
    adversarial_weight,
    discriminator_l1_gan,
    discriminator_lsgan,
    generator_l1_gan,
    generator_lsgan,
    reconstruction_l1,
)
from cospeech.training.metadata import Component
from cospeech.training.optim import adam

ADVERSARIAL_LOSSES = {
    "l1_gan": (discriminator_l1_gan, generator_l1_gan),
    "lsgan": (discriminator_lsgan, generator_lsgan),
}


class AdversarialRecipe(GestureModule):
    """Trains a registered generator (and optional discriminator) on speech → pose windows.

    Args:
        generator: registered generator name (``cospeech models list``).
        generator_config: overrides of the generator's config (``cospeech models show NAME``).
        discriminator: registered discriminator name, or null for L1-only training.
        discriminator_config: overrides of the discriminator's config.
        adversarial_loss: ``l1_gan`` (PATS reference) or ``lsgan`` (SDT's S2G baseline).
        adversarial_weight: weight of G's adversarial term (1 in PATS; SDT's S2G uses 0.1).
        lr: generator Adam learning rate (reference 1e-4).
        discriminator_lr: discriminator Adam learning rate (reference 1e-4).
        lr_decay: ExponentialLR gamma per epoch (reference 0.99).
        grad_clip_norm: global gradient-norm clip of the updated network (reference 1; 0 = off).
        adversarial_schedule: ``coin_flip`` (reference) or ``alternate`` between D and G steps.
        dg_iter_ratio: r: D steps per G step on average (coin flip probability r / (r + 1)).
        adversarial_ramp: ramp λ from 1 to 2 as the reference does (multiplies ``adversarial_weight``).
        init_from: a run directory or checkpoint whose weights (only) initialise the model (pretrain-from).
        seed: seed of the D/G coin flips.
    """

    def __init__(
        self,
        generator: str = "speech2gesture",
        generator_config: dict[str, Any] | None = None,
        discriminator: str | None = "motion_discriminator",
        discriminator_config: dict[str, Any] | None = None,
        adversarial_loss: Literal["l1_gan", "lsgan"] = "l1_gan",
        adversarial_weight: float = 1.0,
        lr: float = 1e-4,
        discriminator_lr: float = 1e-4,
        lr_decay: float = 0.99,
        grad_clip_norm: float = 1.0,
        adversarial_schedule: Literal["coin_flip", "alternate"] = "coin_flip",
        dg_iter_ratio: int = 1,
        adversarial_ramp: bool = True,
        init_from: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(generator, generator_config, init_from, seed)
        self.automatic_optimization = False
        self.discriminator: nn.Module | None = None

    @property
    def ddp_find_unused_parameters(self) -> bool:
        """A discriminator turn updates D alone: the generator gets no gradients."""
        return self.hparams.discriminator is not None

    @classmethod
    def check_config(cls, init_args: Any) -> None:
        super().check_config(init_args)
        discriminator = init_args.get("discriminator", "motion_discriminator")
        if discriminator is not None:
            check_kind(discriminator, "discriminator")
            model_config(discriminator, **(init_args.get("discriminator_config") or {}))
        checked_choice(
            "adversarial_loss", init_args.get("adversarial_loss", "l1_gan"), tuple(ADVERSARIAL_LOSSES)
        )
        checked_choice(
            "adversarial_schedule",
            init_args.get("adversarial_schedule", "coin_flip"),
            ("coin_flip", "alternate"),
        )
        if init_args.get("dg_iter_ratio", 1) < 1:
            raise ConfigError(f"dg_iter_ratio={init_args.get('dg_iter_ratio')} must be ≥ 1")

    def build_components(self, spec: DataSpec) -> dict[str, Component]:
        hp = self.hparams
        if hp.discriminator is None:
            return {}
        return {
            "discriminator": self.build_component(
                "discriminator", hp.discriminator, "discriminator", hp.discriminator_config
            )
        }

    def configure_optimizers(self):
        hp = self.hparams
        trainable = [p for p in self.generator.parameters() if p.requires_grad]
        optimizers = [adam(trainable, hp.lr)]
        if self.discriminator is not None:
            optimizers.append(adam(self.discriminator.parameters(), hp.discriminator_lr))
        schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=hp.lr_decay) for o in optimizers]
        return optimizers, schedulers

    def step_generator(
        self, step: int, stream: int = 0, device: torch.device | str = "cpu"
    ) -> torch.Generator:
        """A generator on ``device`` seeded from (``seed``, ``step``, ``stream``): the same draws on every
        process and again on resume. Stream 0 is the D/G coin flip; recipes use other streams."""
        seed = self.hparams.seed * 1_000_003 + step + stream * 2**32
        return torch.Generator(device=device).manual_seed(seed)

    def discriminator_turn(self, step: int) -> bool:
        """Whether batch ``step`` updates D (True) or G (False); identical on every process."""
        if self.hparams.discriminator is None:
            return False
        ratio = self.hparams.dg_iter_ratio
        if self.hparams.adversarial_schedule == "alternate":
            return step % (ratio + 1) < ratio
        return bool(torch.rand((), generator=self.step_generator(step)) < ratio / (ratio + 1))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """One D or G update. A D turn whose batch has no rows for D (``discriminator_rows``) updates G."""
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        weight = adversarial_weight(self.global_step, self.hparams.adversarial_ramp)
        batch = self.training_batch(batch)
        rows = self.discriminator_rows(batch)
        if self.discriminator_turn(self.global_step) and rows.any():
            loss = self.discriminator_loss(select_rows(batch, rows), weight)
            self._step(optimizers[1], loss, self.discriminator)
            self.log("train/d_loss", loss, prog_bar=True, batch_size=int(rows.sum()))
            return
        with self.toggled_optimizer(optimizers[0]):  # D's weights out of the graph: no gradients for D
            loss = self.generator_loss(batch, rows, weight)
            self._step(optimizers[0], loss, self.generator)
        self.log("train/g_loss", loss, batch_size=len(batch["pose"]))

    # ------------------------------------------------------------------ hooks of the step (ContinualRecipe)

    def training_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch this step trains on (hook; the data module's batch here)."""
        return batch

    def discriminator_rows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B,)`` bool: the rows D and G's adversarial term see (hook; every row here)."""
        return torch.ones(len(batch["pose"]), dtype=torch.bool, device=batch["pose"].device)

    def discriminator_loss(self, batch: dict[str, torch.Tensor], weight: float) -> torch.Tensor:
        """D's loss on ``batch`` (its rows only), ŷ from G in eval mode without grad."""
        d_loss_fn, _ = ADVERSARIAL_LOSSES[self.hparams.adversarial_loss]
        self.generator.eval()
        with torch.no_grad():
            fake = self(batch).poses
        self.train()  # back to training mode as the recipe defines it (a recipe may keep parts in eval)
        return d_loss_fn(
            self.discriminator(velocity(batch["pose"])), self.discriminator(velocity(fake)), weight
        )

    def generator_loss(
        self, batch: dict[str, torch.Tensor], rows: torch.Tensor, weight: float
    ) -> torch.Tensor:
        """G's loss on ``batch``: one forward, then ``generator_terms``."""
        return self.generator_terms(batch, self(batch), rows, weight)

    def generator_terms(
        self, batch: dict[str, torch.Tensor], output: GeneratorOutput, rows: torch.Tensor, weight: float
    ) -> torch.Tensor:
        """``mean|ŷ − y|`` + the generator's auxiliary losses + ``adversarial_weight · λ ·`` G's adversarial
        term on ``rows`` (none when no row or no discriminator); logs each term."""
        batch_size = len(batch["pose"])
        l1 = reconstruction_l1(output.poses, batch["pose"])
        loss = l1 + self.log_auxiliary_losses(output, batch_size)
        if self.discriminator is not None and rows.any():
            _, g_loss_fn = ADVERSARIAL_LOSSES[self.hparams.adversarial_loss]
            adversarial = g_loss_fn(self.discriminator(velocity(output.poses[rows])))
            loss = loss + self.hparams.adversarial_weight * weight * adversarial
            self.log("train/g_adversarial", adversarial, batch_size=int(rows.sum()))
        self.log("train/l1", l1, prog_bar=True, batch_size=batch_size)
        return loss

    def _step(self, optimizer, loss: torch.Tensor, network: nn.Module) -> None:
        """Backward, clip and step one network (the other's weights are out of the graph: a G step
        backpropagates through D's activations to G, but computes no gradients for D's weights)."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.hparams.grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(network.parameters(), self.hparams.grad_clip_norm)
        optimizer.step()

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()


def select_rows(batch: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """The ``rows`` (``(B,)`` bool) of every entry of a training batch (all are ``(B, …)`` tensors)."""
    return {name: value[rows] for name, value in batch.items()}
