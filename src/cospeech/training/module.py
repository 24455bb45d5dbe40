"""``GestureModule``: speech → gesture training for any registered generator, with an optional motion GAN.

The step follows the PATS/C-DiffGAN recipe (reference notes cdiffgan §5, §8):

* each batch is **either** a discriminator step **or** a generator step: a coin flip with probability
  ``r / (r + 1)`` for D (``dg_iter_ratio`` r = 1 → 0.5), or strict alternation;
* D: ``mean|D(v(y)) − 1| + λ · mean|D(v(ŷ))|`` on pose velocities, ŷ from G in eval mode without grad;
* G: ``mean|ŷ − y| + λ · mean|D(v(ŷ)) − 1|`` (gradient flows through D into G);
* λ ramps 1 → 2 (+0.1 every 301 steps), global grad-norm clip 1, Adam lr 1e-4, lr × 0.99 per epoch.

Without a discriminator the same loop trains G on the L1 loss alone. The coin flip uses a generator seeded
from (seed, step), so every DDP process takes the same branch and a resumed run repeats the same choices.

Dev/test metrics (``cospeech.metrics.GestureMetricSuite``) are computed per speaker, each with its own
normalisation statistics, and logged as ``dev/<metric>`` (the mean over speakers) and
``dev/<speaker>/<metric>``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import lightning as L
import torch
from torch import nn

from cospeech import __version__
from cospeech.data.normalize import Normalizer
from cospeech.data.poses import velocity
from cospeech.errors import CheckpointError, ConfigError
from cospeech.metrics import GestureMetricSuite, logged_metrics
from cospeech.models.registry import build_model, model_config, model_entry
from cospeech.training.checkpoints import CHECKPOINT_KEY, load_checkpoint
from cospeech.training.losses import (
    adversarial_weight,
    discriminator_l1_gan,
    generator_l1_gan,
    reconstruction_l1,
)

REPORTED_METRICS = logged_metrics()


class GestureModule(L.LightningModule):
    """Trains a registered generator (and optional discriminator) on speech → pose windows.

    Args:
        generator: registered generator name (``cospeech.models.list_models("generator")``).
        generator_config: overrides of the generator's config dataclass.
        discriminator: registered discriminator name, or null for L1-only training.
        discriminator_config: overrides of the discriminator's config.
        lr: generator Adam learning rate (reference 1e-4).
        discriminator_lr: discriminator Adam learning rate (reference 1e-4).
        lr_decay: ExponentialLR gamma per epoch (reference 0.99).
        grad_clip_norm: global gradient-norm clip of the updated network (reference 1).
        adversarial_schedule: ``coin_flip`` (reference) or ``alternate`` between D and G steps.
        dg_iter_ratio: r: D steps per G step on average (coin flip probability r / (r + 1)).
        adversarial_ramp: ramp λ_D and λ_G from 1 to 2 as the reference does.
        init_from: a run directory or checkpoint whose weights (only) initialise the model (pretrain-from).
        seed: seed of the D/G coin flips.
    """

    def __init__(
        self,
        generator: str = "speech2gesture",
        generator_config: dict[str, Any] | None = None,
        discriminator: str | None = "motion_discriminator",
        discriminator_config: dict[str, Any] | None = None,
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
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.check_config(self.hparams)
        self.generator_settings = dataclasses.asdict(model_config(generator, **(generator_config or {})))
        self.generator = build_model(generator, **self.generator_settings)
        self.discriminator: nn.Module | None = None
        if discriminator is not None:
            self.discriminator = build_model(discriminator, **(discriminator_config or {}))
        self.normalizer: Normalizer | None = None
        self.speakers: tuple[str, ...] = ()
        self.data_settings: dict[str, Any] = {}
        self.suites = nn.ModuleDict()
        self.examples: dict[str, dict[str, torch.Tensor]] = {}

    @staticmethod
    def check_config(init_args: Any) -> None:
        """Raise one ``ConfigError`` for unknown models, config keys or settings, before anything is built
        (the CLI calls this first so the user sees the message, not a wrapped traceback)."""
        generator = init_args.get("generator", "speech2gesture")
        _check_kind(generator, "generator")
        model_config(generator, **(init_args.get("generator_config") or {}))
        discriminator = init_args.get("discriminator", "motion_discriminator")
        if discriminator is not None:
            _check_kind(discriminator, "discriminator")
            model_config(discriminator, **(init_args.get("discriminator_config") or {}))
        schedule = init_args.get("adversarial_schedule", "coin_flip")
        if schedule not in ("coin_flip", "alternate"):
            raise ConfigError(f"adversarial_schedule={schedule!r}; expected coin_flip or alternate")
        if init_args.get("dg_iter_ratio", 1) < 1:
            raise ConfigError(f"dg_iter_ratio={init_args.get('dg_iter_ratio')} must be ≥ 1")

    # ------------------------------------------------------------------------------------------ set-up

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None and datamodule.normalizer is not None:
            self.normalizer = datamodule.normalizer
            self.speakers = datamodule.speakers
            hp = datamodule.hparams
            self.data_settings = {
                "pose_key": hp.pose_key,
                "audio_key": hp.audio_key,
                "window_seconds": hp.window_seconds,
                "audio_rate_mode": hp.audio_rate_mode,
                "normalization": hp.normalization,
                "skeleton": "pats48",
            }
        if stage == "fit" and self.hparams.init_from:
            self.load_weights_from(self.hparams.init_from)
        if self.normalizer is not None:
            for split in ("dev", "test"):
                self.suites[split] = nn.ModuleList(
                    GestureMetricSuite(self.normalizer.mean["pose"][s], self.normalizer.std["pose"][s])
                    for s in range(len(self.speakers))
                )

    def load_weights_from(self, source: str) -> None:
        """Pretrain-from: copy model weights only (no optimiser, epoch or schedule) from a run/checkpoint."""
        checkpoint = load_checkpoint(source)
        try:
            self.load_state_dict(checkpoint["state_dict"], strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[:3]
            raise CheckpointError(f"{source}: weights do not match this model ({' '.join(first)})") from None

    def configure_optimizers(self):
        hp = self.hparams
        optimizers = [torch.optim.Adam(self.generator.parameters(), lr=hp.lr)]
        if self.discriminator is not None:
            optimizers.append(torch.optim.Adam(self.discriminator.parameters(), lr=hp.discriminator_lr))
        schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=hp.lr_decay) for o in optimizers]
        return optimizers, schedulers

    # ------------------------------------------------------------------------------------------ training

    def forward(self, audio: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """(B, T, F) audio, (B,) style → (B, T, 2J) poses in model space."""
        return self.generator(audio, style)

    def discriminator_turn(self, step: int) -> bool:
        """Whether batch ``step`` updates D (True) or G (False); identical on every process."""
        if self.discriminator is None:
            return False
        ratio = self.hparams.dg_iter_ratio
        if self.hparams.adversarial_schedule == "alternate":
            return step % (ratio + 1) < ratio
        coin = torch.Generator().manual_seed(self.hparams.seed * 1_000_003 + step)
        return bool(torch.rand((), generator=coin) < ratio / (ratio + 1))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        weight = adversarial_weight(self.global_step, self.hparams.adversarial_ramp)
        audio, pose, style = batch["audio"], batch["pose"], batch["style"]
        batch_size = len(pose)
        if self.discriminator_turn(self.global_step):
            opt = optimizers[1]
            self.generator.eval()
            with torch.no_grad():
                fake = self.generator(audio, style)
            self.generator.train()
            loss = discriminator_l1_gan(
                self.discriminator(velocity(pose)), self.discriminator(velocity(fake)), weight
            )
            self._step(opt, loss, self.discriminator)
            self.log("train/d_loss", loss, prog_bar=True, batch_size=batch_size)
            return
        opt = optimizers[0]
        pred = self.generator(audio, style)
        l1 = reconstruction_l1(pred, pose)
        loss = l1
        if self.discriminator is not None:
            adversarial = generator_l1_gan(self.discriminator(velocity(pred)))
            loss = l1 + weight * adversarial
            self.log("train/g_adversarial", adversarial, batch_size=batch_size)
        self._step(opt, loss, self.generator)
        self.log("train/l1", l1, prog_bar=True, batch_size=batch_size)
        self.log("train/g_loss", loss, batch_size=batch_size)

    def _step(self, optimizer, loss: torch.Tensor, network: nn.Module) -> None:
        """Backward, clip and step one network. Zeroing first also drops the gradients a G step leaves
        on D (the adversarial term backpropagates through D)."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.hparams.grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(network.parameters(), self.hparams.grad_clip_norm)
        optimizer.step()

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    # ------------------------------------------------------------------------------------------ evaluation

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, batch_idx, "dev")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, batch_idx, "test")

    def _evaluation_step(self, batch: dict[str, torch.Tensor], batch_idx: int, split: str) -> None:
        pred = self.generator(batch["audio"], batch["style"])
        self.log(
            f"{split}/loss", reconstruction_l1(pred, batch["pose"]), batch_size=len(pred), sync_dist=True
        )
        for s, suite in enumerate(self.suites[split]):
            rows = batch["style"] == s
            if rows.any():
                suite.update(pred[rows], batch["pose"][rows])
        if batch_idx == 0:
            self.examples[split] = {
                "pred": pred[0].detach(),
                "pose": batch["pose"][0],
                "style": batch["style"][0],
            }

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("dev")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def _log_metrics(self, split: str) -> None:
        """The suites are already synchronised across processes (torchmetrics); ``sync_dist`` only averages
        identical values, which keeps Lightning's epoch-level logging consistent under DDP."""
        per_speaker = []
        for speaker, suite in zip(self.speakers, self.suites[split], strict=True):
            values = suite.compute()
            suite.reset()
            per_speaker.append(values)
            for name in REPORTED_METRICS:
                self.log(f"{split}/{speaker}/{name}", values[name], sync_dist=True)
        for name in REPORTED_METRICS:
            mean = sum(v[name] for v in per_speaker) / len(per_speaker)
            self.log(f"{split}/{name}", mean, prog_bar=name in ("L1", "PCK"), sync_dist=True)

    # ------------------------------------------------------------------------------------------ checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Everything needed to rebuild and use the generator without the training config."""
        if self.normalizer is None:
            return
        checkpoint[CHECKPOINT_KEY] = {
            "version": __version__,
            "generator": self.hparams.generator,
            "generator_config": self.generator_settings,
            "speakers": list(self.speakers),
            "normalizer": {k: v.clone() for k, v in self.normalizer.state_dict().items()},
            "data": dict(self.data_settings),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get(CHECKPOINT_KEY)
        if meta is not None and self.normalizer is None:
            self.normalizer = Normalizer.from_state_dict(meta["normalizer"])
            self.speakers = tuple(meta["speakers"])
            self.data_settings = dict(meta["data"])


def _check_kind(name: str, kind: str) -> None:
    entry = model_entry(name)
    if entry.kind != kind:
        raise ConfigError(f"model {name!r} is a {entry.kind}, not a {kind}")
