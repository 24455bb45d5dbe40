"""``TemplateRecipe``: Speech Drives Templates' Voice2Pose training (SDT-BP, SDT-VAE and its S2G baseline).

The step follows the reference (notes sdt §4.1–§4.2):

* each batch, the generator gets the template of each window: SDT-BP (``templates: learned``) a row of the
  generator's template bank (zeros at the start), learned jointly by back-propagation; SDT-VAE
  (``templates: vae``) the frozen pose VAE's μ of the window's pose, written into the bank once when the run
  is built (identical to encoding on the fly: the encoder is frozen and deterministic in eval mode);
* G loss: ``mean|ŷ − y|`` (``l1_weight``) + ``template_kl_weight`` · the **batch-statistics** KL of the
  batch's templates, ``mean_d ½(−log v_d + m_d² + v_d − 1)`` with m, v the per-dimension mean and unbiased
  variance over the batch, skipped while any v_d is 0 (the zero-initialised bank's first steps; SDT-VAE's
  is a constant and logged only); plus, with a discriminator (the S2G baseline), ``adversarial_weight`` ·
  LSGAN on frame differences;
* every batch updates G (and the bank, a parameter group at ``lr · template_lr_scale``: Adam per parameter,
  so this is the reference's second Adam), **then** D, as the reference orders them;
* Adam (1e-4), ``lr_schedule: multistep`` = MultiStepLR at epochs [E − 10, E − 2], γ 0.1 (E =
  ``trainer.max_epochs``), stepped per epoch.

The bank lives in the generator (``SDTGenerator.templates``), so checkpoints, resume and exports carry it.
An SDT-VAE run records its VAE (path and SHA-256 of the weights) in the run metadata's ``provenance``
(``TEMPLATE_VAE``), so checkpoints and exports carry it; a resume with another VAE is refused, since the
bank would mean something else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch
from lightning.pytorch.utilities import rank_zero_info

from cospeech.data.poses import velocity
from cospeech.data.spec import DataSpec
from cospeech.errors import CheckpointError, ConfigError
from cospeech.models.interface import GeneratorOutput
from cospeech.training.adversarial import ADVERSARIAL_LOSSES, AdversarialRecipe
from cospeech.training.autoencoder import pose_space_differences
from cospeech.training.base import checked_choice
from cospeech.training.continual import weights_sha256
from cospeech.training.losses import reconstruction_l1
from cospeech.training.metadata import METADATA_KEY, Component, RunMetadata, read_run
from cospeech.training.optim import adam

TEMPLATE_VAE = "template_vae"
"""Role of an SDT-VAE run's pose VAE in ``RunMetadata.provenance``: ``{"path": …, "sha256": …}``."""

ENCODE_BATCH = 256
"""Training windows encoded per VAE forward pass when the bank is filled."""


def template_kl(templates: torch.Tensor) -> torch.Tensor | None:
    """SDT's template KL (notes sdt §4.1): ``templates (B, D)`` → ``mean_d ½(−log v_d + m_d² + v_d − 1)``
    with m, v the per-dimension mean and unbiased variance over the batch; ``None`` when B < 2 or any
    ``v_d`` is 0 (the reference skips the term then)."""
    if len(templates) < 2:
        return None
    m, v = templates.mean(0), templates.var(0)
    if bool((v == 0).any()):
        return None
    return (0.5 * (-v.log() + m.pow(2) + v - 1)).mean()


class TemplateRecipe(AdversarialRecipe):
    """Trains SDT's generator (``sdt``) with per-window templates, optionally against SDT's discriminator.

    Args:
        generator: registered generator with a template bank (``sdt``).
        generator_config: overrides of its config (``template_dim: 0`` = no template: the S2G baseline).
        templates: ``learned`` (SDT-BP: the bank learned by back-propagation) or ``vae`` (SDT-VAE: the
            frozen pose VAE's μ of each training window).
        pose_vae: the pose VAE run (``configs/pose_vae_sdt.yaml``) for ``templates: vae``.
        template_lr_scale: the bank's learning rate is ``lr ·`` this (``CLIP_CODE.LR_SCALING``, 1;
            ``configs/sdt_bp.yaml`` ships 100 so that short runs spread the bank, BENCHMARKS.md).
        template_kl_weight: weight of the batch-statistics template KL (``LAMBDA_CLIP_KL``, 0.1).
        l1_weight: weight of the L1 reconstruction (``LAMBDA_REG``, 1).
        discriminator: registered discriminator (``pose_sequence_discriminator`` for the S2G baseline) or
            null (SDT-BP, SDT-VAE).
        discriminator_config: overrides of its config.
        adversarial_loss: ``lsgan`` (SDT) or ``l1_gan``.
        adversarial_weight: weight of G's and D's adversarial terms (``LAMBDA_GAN``: 0.1 in the S2G config).
        lr: Adam learning rate of G (1e-4).
        discriminator_lr: Adam learning rate of D (1e-4).
        lr_schedule: ``multistep`` (SDT: ×0.1 at epochs E − 10 and E − 2), ``exponential`` (× ``lr_decay``
            per epoch) or ``constant``.
        lr_decay: gamma of the ``exponential`` schedule.
        grad_clip_norm: global gradient-norm clip (SDT: 0 = off).
        init_from: a run whose weights (only) initialise the model (pretrain-from).
        seed: seed of sampled templates in evaluation.
    """

    def __init__(
        self,
        generator: str = "sdt",
        generator_config: dict[str, Any] | None = None,
        templates: Literal["learned", "vae"] = "learned",
        pose_vae: str | None = None,
        template_lr_scale: float = 1.0,
        template_kl_weight: float = 0.1,
        l1_weight: float = 1.0,
        discriminator: str | None = None,
        discriminator_config: dict[str, Any] | None = None,
        adversarial_loss: Literal["l1_gan", "lsgan"] = "lsgan",
        adversarial_weight: float = 0.1,
        lr: float = 1e-4,
        discriminator_lr: float = 1e-4,
        lr_schedule: Literal["multistep", "exponential", "constant"] = "multistep",
        lr_decay: float = 0.99,
        grad_clip_norm: float = 0.0,
        init_from: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            generator,
            generator_config,
            discriminator,
            discriminator_config,
            adversarial_loss,
            adversarial_weight,
            lr,
            discriminator_lr,
            lr_decay,
            grad_clip_norm,
            adversarial_schedule="alternate",
            dg_iter_ratio=1,
            adversarial_ramp=False,
            init_from=init_from,
            seed=seed,
        )
        self.vae_record: dict[str, str] | None = None
        """``{"path", "sha256"}`` of an SDT-VAE run's pose VAE, saved in checkpoints."""

    @classmethod
    def check_config(cls, init_args: Any) -> None:
        super().check_config(init_args)
        checked_choice("templates", init_args.get("templates", "learned"), ("learned", "vae"))
        checked_choice(
            "lr_schedule", init_args.get("lr_schedule", "multistep"), ("multistep", "exponential", "constant")
        )
        if init_args.get("templates", "learned") == "vae" and not init_args.get("pose_vae"):
            raise ConfigError("templates=vae takes its templates from a pose VAE: set pose_vae to its run")
        for name in ("template_lr_scale", "template_kl_weight", "l1_weight"):
            if init_args.get(name, 0) < 0:
                raise ConfigError(f"{name}={init_args.get(name)} must be ≥ 0")

    @property
    def uses_templates(self) -> bool:
        """Whether the generator takes a template (false for the S2G baseline)."""
        return "template" in self.generator.inputs

    # ------------------------------------------------------------------------------------------ building

    def build_components(self, spec: DataSpec) -> dict[str, Component]:
        """The discriminator (if any); the generator must have a template bank of one row per window."""
        if "template" in self.generator.inputs and not hasattr(self.generator, "template_from"):
            raise ConfigError(
                "TemplateRecipe needs a generator with a template bank (sdt); "
                f"{self.hparams.generator} has none"
            )
        return super().build_components(spec)

    def configure_model(self) -> None:
        """Build for the data, then fill an SDT-VAE run's bank with its VAE's μ of every training window."""
        built = self.generator is not None
        super().configure_model()
        if not built and self.hparams.templates == "vae" and self.uses_templates:
            self.fill_bank_from_vae(self.trainer.datamodule.datasets["train"])

    @torch.no_grad()
    def fill_bank_from_vae(self, train_set: Any) -> None:
        """Write the pose VAE's μ of each training window (``WindowDataset``, batches give ``pose`` and the
        global ``index``) into the generator's bank, freeze the bank and record the VAE.

        Raises ``ConfigError`` unless the VAE is variational and encodes this run's model space: the same
        skeleton, representation, window and pose statistics (train it on the same data), into
        ``template_dim`` values."""
        source = self.hparams.pose_vae
        run = read_run(source)
        vae = run.metadata.model.build(run.state_dict, run.path)
        config, trained = vae.config, run.metadata
        if run.metadata.model.kind != "autoencoder" or not getattr(config, "variational", False):
            raise ConfigError(
                f"pose_vae {run.path}: not a variational pose auto-encoder run (variational: true)"
            )
        bank = self.generator.templates
        differ = pose_space_differences(vae, trained, self.data_spec)
        if config.latent_dim != bank.shape[1]:
            differ.append(f"code size: VAE {config.latent_dim}, this run {bank.shape[1]}")
        mine, theirs = self.normalizer.state_dict(), trained.normalizer.state_dict()
        if not differ and not all(
            mine[k].shape == theirs[k].shape and torch.allclose(mine[k], theirs[k], rtol=1e-4, atol=1e-4)
            for k in mine
            if "pose" in k
        ):
            differ.append("pose statistics (another speaker set or data)")
        if differ:
            raise ConfigError(
                f"pose_vae {run.path} does not encode this run's poses ({'; '.join(differ)}); train it on "
                "the same data (configs/pose_vae_sdt.yaml)"
            )
        vae = vae.to(bank.device)
        for first in range(0, len(train_set), ENCODE_BATCH):
            batch = train_set.__getitems__(range(first, min(first + ENCODE_BATCH, len(train_set))))
            index = batch["index"].to(bank.device)
            self._check_index(index)
            bank[index] = vae.encode(batch["pose"].to(bank.device))
        bank.requires_grad_(False)
        self.vae_record = {"path": str(run.path), "sha256": weights_sha256(vae)}
        rank_zero_info(f"cospeech: SDT-VAE templates: μ of {len(train_set)} windows from {run.path}")

    def _check_index(self, index: torch.Tensor) -> None:
        N = len(self.generator.templates)
        if len(index) and int(index.max()) >= N:
            raise ConfigError(
                f"training window {int(index.max())} has no row in the template bank of {N} windows "
                "(a few-shot subset of the training set is not supported by TemplateRecipe)"
            )

    def configure_optimizers(self):
        """Adam over G with the bank as a second parameter group at ``lr · template_lr_scale``
        (BP only), Adam over D; one scheduler per optimiser (``lr_schedule``)."""
        hp = self.hparams
        bank = self.generator.templates if self.uses_templates else None
        network = [p for p in self.generator.parameters() if p.requires_grad and p is not bank]
        groups = [{"params": network}]
        if bank is not None and bank.requires_grad:
            groups.append({"params": [bank], "lr": hp.lr * hp.template_lr_scale})
        optimizers = [adam(groups, hp.lr)]
        if self.discriminator is not None:
            optimizers.append(adam(self.discriminator.parameters(), hp.discriminator_lr))
        return optimizers, [self._scheduler(o) for o in optimizers]

    def _scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        hp = self.hparams
        if hp.lr_schedule == "exponential":
            return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=hp.lr_decay)
        if hp.lr_schedule == "constant":
            return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
        epochs = self.trainer.max_epochs
        if epochs is None or epochs < 1:
            raise ConfigError("lr_schedule=multistep needs trainer.max_epochs (milestones E − 10, E − 2)")
        milestones = [m for m in (epochs - 10, epochs - 2) if m > 0]  # a milestone ≤ 0 never comes
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)

    # ------------------------------------------------------------------------------------------ step

    def training_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch with each window's ``template`` (B, D): its row of the bank."""
        if not self.uses_templates:
            return batch
        self._check_index(batch["index"])
        return {**batch, "template": self.generator.templates[batch["index"]]}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """G (and bank) update, then D's on the same prediction (the reference's order)."""
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        batch = self.training_batch(batch)
        with self.toggled_optimizer(optimizers[0]):  # D's weights out of G's graph: no gradients for D
            output = self(batch)
            loss = self.generator_terms(batch, output, self.discriminator_rows(batch), 1.0)
            self._step(optimizers[0], loss, self.generator)
        self.log("train/g_loss", loss, batch_size=len(batch["pose"]))
        if self.discriminator is not None:
            d_loss_fn, _ = ADVERSARIAL_LOSSES[self.hparams.adversarial_loss]
            real = self.discriminator(velocity(batch["pose"]))
            fake = self.discriminator(velocity(output.poses.detach()))
            d_loss = self.hparams.adversarial_weight * d_loss_fn(
                real, fake, 1.0
            )  # λ (MSE(real, 1) + MSE(fake, 0))
            self._step(optimizers[1], d_loss, self.discriminator)
            self.log("train/d_loss", d_loss, prog_bar=True, batch_size=len(batch["pose"]))

    def generator_terms(
        self, batch: dict[str, torch.Tensor], output: GeneratorOutput, rows: torch.Tensor, weight: float
    ) -> torch.Tensor:
        """``l1_weight · mean|ŷ − y|`` + template KL + auxiliary losses + ``adversarial_weight ·`` LSGAN."""
        hp = self.hparams
        batch_size = len(batch["pose"])
        l1 = reconstruction_l1(output.poses, batch["pose"])
        loss = hp.l1_weight * l1 + self.log_auxiliary_losses(output, batch_size)
        if self.uses_templates:
            kl = template_kl(batch["template"])
            if kl is not None:
                self.log("train/template_kl", kl, batch_size=batch_size)
                if batch["template"].requires_grad:
                    loss = loss + hp.template_kl_weight * kl
        if self.discriminator is not None:
            _, g_loss_fn = ADVERSARIAL_LOSSES[hp.adversarial_loss]
            adversarial = g_loss_fn(self.discriminator(velocity(output.poses)))
            loss = loss + hp.adversarial_weight * adversarial
            self.log("train/g_adversarial", adversarial, batch_size=batch_size)
        self.log("train/l1", l1, prog_bar=True, batch_size=batch_size)
        return loss

    # ------------------------------------------------------------------------------------------ checkpoints

    def run_metadata(self) -> RunMetadata:
        """The base's metadata, with an SDT-VAE run's pose VAE in ``provenance``."""
        metadata = super().run_metadata()
        if self.vae_record is None:
            return metadata
        return dataclasses.replace(
            metadata, provenance={**metadata.provenance, TEMPLATE_VAE: self.vae_record}
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a resume whose pose VAE differs from the one the bank was filled from."""
        super().on_load_checkpoint(checkpoint)
        stored = ((checkpoint.get(METADATA_KEY) or {}).get("provenance") or {}).get(TEMPLATE_VAE)
        current = self.vae_record
        if self.data_spec is None or (stored or {}).get("sha256") == (current or {}).get("sha256"):
            return
        source = (self._trainer.ckpt_path if self._trainer is not None else None) or "checkpoint"
        described = [f"{r['path']} (sha256 {r['sha256'][:12]})" if r else "none" for r in (stored, current)]
        raise CheckpointError(
            f"{source}: its templates come from pose VAE {described[0]}, but this run's pose_vae is "
            f"{described[1]}; resume with the pose_vae the run started with"
        )
