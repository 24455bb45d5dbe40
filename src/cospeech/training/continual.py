"""``ContinualRecipe``: one few-shot task of a continual sequence (DiffGAN, C-DiffGAN, replay baselines).

A task starts from the previous task's model (``init_from``) and learns the newest speaker (the last of the
data's speakers, style id ``S − 1``) from a few windows, without forgetting the earlier ones. On top of
``AdversarialRecipe``'s step (notes cdiffgan §5, §8) it adds (notes cdiffgan §6, §7; pats §5):

* **trainable subset** (``trainable``): only these generator submodules learn (DiffGAN/C-DiffGAN:
  ``decoder, pose_style_encoder, logits, cluster_classifier, style_embedding``, §6.1); the others get
  ``requires_grad = False``, stay out of the optimiser and, with ``freeze_batchnorm``, stay in eval mode;
* **timing shift** (``latent_shift``, §6.3, ``cospeech.training.latent_shift``) on the generator's latent
  split, added to the G loss as ``shift_weight · L_shift`` (logged ``train/shift``); the style ("output
  domain") shift is the usual reconstruction, adversarial and speaker-id terms;
* **replay** (the data module's ``replay`` strategy, ``cospeech.data.replay``): MeRGAN's style redraw,
  the frozen **teacher**'s poses as targets of the earlier speakers' rows (pseudo replay, "reminiscences"),
  and the rows the discriminator sees (C-DiffGAN: the newest speaker's only, §6.4).

The teacher is a frozen copy of the ``init_from`` generator, held outside the module's state dict (a task's
checkpoint is one model, not two). The checkpoint records where it came from and the SHA-256 of its weights;
a resume whose ``init_from`` holds other weights is refused, since the pseudo targets would change.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Any, Literal

import torch
from torch import nn

from cospeech.data.clusters import PoseClusters
from cospeech.data.normalize import Normalizer
from cospeech.data.replay import ReplayStrategy, newest_share
from cospeech.data.spec import DataSpec
from cospeech.errors import CheckpointError, ConfigError
from cospeech.models.interface import Generator, generator_inputs, run_generator
from cospeech.models.registry import check_kind
from cospeech.training.adversarial import AdversarialRecipe
from cospeech.training.base import checked_choice
from cospeech.training.latent_shift import fit_latent, latent_shift_loss, shift_mask
from cospeech.training.metadata import read_run

TEACHER_KEY = "cospeech_teacher"
"""Checkpoint key of the teacher's record: ``{"path": …, "sha256": …}``."""

DIFFGAN_TRAINABLE = ("decoder", "pose_style_encoder", "logits", "cluster_classifier", "style_embedding")
"""Mix-StAGE's submodules that DiffGAN and C-DiffGAN train after task 1 (the reference's ``decoder,
pose_style_encoder, logits, classify_cluster, style_emb``; notes cdiffgan §6.1)."""

REDRAW_STREAM, TEACHER_STREAM = 1, 2
"""``step_generator`` streams of the style redraw and of the teacher's sampled inputs."""


class ContinualRecipe(AdversarialRecipe):
    """``AdversarialRecipe`` for one continual few-shot task (see the module docstring).

    Args (besides ``AdversarialRecipe``'s):
        trainable: names of the generator's submodules that train (``DIFFGAN_TRAINABLE`` for DiffGAN and
            C-DiffGAN); null = the whole generator.
        freeze_batchnorm: keep frozen submodules in eval mode, so their BatchNorm statistics do not move
            and they are bit-identical after the task; false = the reference (frozen encoders' statistics
            still follow the few-shot batches).
        latent_shift: DiffGAN's timing shift on the generator's shift layer (needs a generator with a
            latent split, e.g. ``mix_stage``, and the shift layer among the trainable modules).
        shift_steps: inner gradient steps on z* (reference 100).
        shift_lr: inner step size (reference 1000; the L1 is a mean over ``B·T·2J`` values).
        shift_top_k: frames per window that the shift loss covers (reference 10 of 64).
        shift_weight: weight of L_shift in the G loss (reference 1).
        teacher_mode: ``eval``: the teacher in eval mode with the given (possibly redrawn) style ids;
            ``train``: the reference's G_src, in train mode (BatchNorm batch statistics, never updated here)
            with the ground-truth pose, so a Mix-StAGE teacher takes its style from its pose-style
            encoder's argmax on the stored pose, not from the id.
    """

    def __init__(
        self,
        generator: str = "mix_stage",
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
        trainable: list[str] | None = None,
        freeze_batchnorm: bool = True,
        latent_shift: bool = False,
        shift_steps: int = 100,
        shift_lr: float = 1000.0,
        shift_top_k: int = 10,
        shift_weight: float = 1.0,
        teacher_mode: Literal["eval", "train"] = "eval",
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
            adversarial_schedule,
            dg_iter_ratio,
            adversarial_ramp,
            init_from,
            seed,
        )
        self.frozen: tuple[str, ...] = ()
        """Names of the generator's frozen submodules."""
        self._teacher: tuple[Generator, ...] = ()  # a tuple: nn.Module does not register (or save) it
        self.teacher_record: dict[str, str] | None = None
        """``{"path", "sha256"}`` of the teacher, saved in checkpoints under ``TEACHER_KEY``."""

    @classmethod
    def check_config(cls, init_args: Any) -> None:
        super().check_config(init_args)
        checked_choice("teacher_mode", init_args.get("teacher_mode", "eval"), ("eval", "train"))
        trainable = init_args.get("trainable")
        if trainable is not None and not trainable:
            raise ConfigError("trainable=[] would train nothing; list generator submodules, or null for all")
        for name in ("shift_steps", "shift_top_k"):
            if init_args.get(name, 1) < 1:
                raise ConfigError(f"{name}={init_args.get(name)} must be ≥ 1")
        if init_args.get("latent_shift", False):
            generator = init_args.get("generator", "mix_stage")
            if not hasattr(check_kind(generator, "generator").builder, "features_before_shift"):
                raise ConfigError(
                    f"latent_shift needs a generator with a latent split (features_before_shift, "
                    f"shift_layer, poses_after_shift), such as mix_stage; {generator} has none"
                )

    # ------------------------------------------------------------------------------------------ building

    @property
    def replay(self) -> ReplayStrategy | None:
        """The data module's replay strategy (None: plain fine-tuning, or no trainer attached)."""
        datamodule = self._trainer.datamodule if self._trainer is not None else None
        return getattr(datamodule, "replay", None)

    @property
    def newest_style(self) -> int:
        """Style id of the newest speaker: the last of the data's speakers."""
        return self.data_spec.num_styles - 1

    @property
    def teacher(self) -> Generator | None:
        """The frozen previous-task generator on this module's device (None when no strategy needs it)."""
        if not self._teacher:
            return None
        return self._teacher[0].to(self.device)

    def build(
        self, spec: DataSpec, normalizer: Normalizer, pose_clusters: PoseClusters | None = None
    ) -> None:
        """``GestureModule.build``, then freeze the generator outside ``trainable`` and make the teacher
        when the data module's replay strategy asks for teacher targets. Raises ``ConfigError`` for an
        unknown submodule name, a frozen shift layer, or a teacher without ``init_from``."""
        super().build(spec, normalizer, pose_clusters)
        self._freeze(self.hparams.trainable)
        replay = self.replay
        if replay is not None and replay.old_targets == "teacher":
            self._make_teacher(replay)

    def _freeze(self, trainable: list[str] | None) -> None:
        if trainable is None:
            return
        children = dict(self.generator.named_children())
        unknown = [name for name in trainable if name not in children]
        if unknown:
            raise ConfigError(
                f"trainable names {unknown} are not submodules of {self.hparams.generator}; "
                f"it has {', '.join(children)}"
            )
        self.frozen = tuple(name for name in children if name not in trainable)
        for name in self.frozen:
            children[name].requires_grad_(False)
        for parameter in self.generator.parameters(recurse=False):
            parameter.requires_grad_(False)
        if self.hparams.latent_shift and not any(
            p.requires_grad for p in self.generator.shift_layer.parameters()
        ):
            raise ConfigError(
                f"latent_shift trains the shift layer, which trainable={list(trainable)} freezes; "
                "add its module (decoder for mix_stage)"
            )

    def _make_teacher(self, replay: ReplayStrategy) -> None:
        source = self.hparams.init_from
        if not source:
            raise ConfigError(
                f"replay {replay.name!r} learns earlier speakers from the previous model's poses: set "
                "init_from to the previous task's run"
            )
        teacher = copy.deepcopy(self.generator).requires_grad_(False)  # holds init_from's weights now
        teacher.train(self.hparams.teacher_mode == "train")
        for module in teacher.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.track_running_stats = False  # train mode: batch statistics, never stored
        self._teacher = (teacher,)
        self.teacher_record = {"path": str(read_run(source).path), "sha256": weights_sha256(teacher)}

    def train(self, mode: bool = True) -> ContinualRecipe:
        """``nn.Module.train``, keeping frozen submodules in eval mode with ``freeze_batchnorm``."""
        super().train(mode)
        if mode and self.hparams.freeze_batchnorm and self.generator is not None:
            for name in self.frozen:
                getattr(self.generator, name).eval()
        return self

    def on_train_start(self) -> None:
        super().on_train_start()
        self.train()  # Lightning warns about modules in eval mode before this hook, not after

    # ------------------------------------------------------------------------------------------ step

    def training_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """MeRGAN's style redraw (``style_redraw``), seeded by (seed, step): ``all`` redraws every row over
        the seen ids, ``old_rows`` gives the first ``bs − bs_new`` rows uniform earlier ids."""
        replay = self.replay
        newest = self.newest_style
        if replay is None or replay.style_redraw == "none" or newest == 0:
            return batch
        style = batch["style"]
        rng = self.step_generator(self.global_step, REDRAW_STREAM)
        if replay.style_redraw == "all":
            drawn = torch.randint(newest + 1, (len(style),), generator=rng).to(style)
        else:
            old, _ = newest_share(len(style), newest + 1)
            drawn = torch.cat((torch.randint(newest, (old,), generator=rng).to(style), style[old:]))
        return {**batch, "style": drawn}

    def discriminator_rows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The newest speaker's rows with ``discriminator_rows: newest``, else every row."""
        replay = self.replay
        if replay is None or replay.discriminator_rows == "all":
            return super().discriminator_rows(batch)
        return batch["style"] == self.newest_style

    def with_teacher_targets(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``batch`` with the rows of earlier speakers (style < newest) learning the teacher's poses
        (``old_targets: teacher``); their cluster labels stay those of the stored pose (the reference's)."""
        replay = self.replay
        if replay is None or replay.old_targets == "real":
            return batch
        old = batch["style"] < self.newest_style
        if not old.any():
            return batch
        pseudo = self.teacher_poses(batch)
        return {**batch, "pose": torch.where(old[:, None, None], pseudo, batch["pose"])}

    @torch.no_grad()
    def teacher_poses(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The teacher's poses ``(B, T, 2J)`` for every row of ``batch`` (see ``teacher_mode``)."""
        rng = self.step_generator(self.global_step, TEACHER_STREAM, batch["audio"].device)
        training = self.hparams.teacher_mode == "train"
        return run_generator(self.teacher, batch, training=training, rng=rng).poses

    def discriminator_loss(self, batch: dict[str, torch.Tensor], weight: float) -> torch.Tensor:
        return super().discriminator_loss(self.with_teacher_targets(batch), weight)

    def generator_loss(
        self, batch: dict[str, torch.Tensor], rows: torch.Tensor, weight: float
    ) -> torch.Tensor:
        """``AdversarialRecipe``'s G loss on the teacher targets, plus ``shift_weight · L_shift``."""
        batch = self.with_teacher_targets(batch)
        if not self.hparams.latent_shift:
            return super().generator_loss(batch, rows, weight)
        generator = self.generator
        z_prev, context = generator.features_before_shift(**generator_inputs(generator, batch, training=True))
        z = generator.shift_layer(z_prev)
        output = generator.output_after_shift(z, context)
        shift = self.shift_loss(z_prev, z, context, batch["pose"])
        return self.generator_terms(batch, output, rows, weight) + self.hparams.shift_weight * shift

    def shift_loss(
        self, z_prev: torch.Tensor, z: torch.Tensor, context: Any, target: torch.Tensor
    ) -> torch.Tensor:
        """L_shift (notes cdiffgan §6.3) for ``z_l = shift_layer(z_prev)`` of this batch: z* fitted to
        ``target`` through the layers after the shift layer (cluster probabilities held fixed), the top-k
        mask, and the loss of the shift layer re-applied to ``z_prev`` detached. Logs ``train/shift`` and
        ``train/shift_fit`` (the inner loop's last L1)."""
        hp = self.hparams
        generator = self.generator
        fixed = dataclasses.replace(context, cluster_probs=context.cluster_probs.detach())
        fit = fit_latent(
            z.detach(),
            lambda latent: generator.poses_after_shift(latent, fixed),
            target,
            steps=hp.shift_steps,
            lr=hp.shift_lr,
        )
        mask = shift_mask(z.detach(), fit.latent, hp.shift_top_k)
        shift = latent_shift_loss(fit.latent, generator.shift_layer(z_prev.detach()), mask)
        self.log("train/shift", shift, batch_size=len(z))
        self.log("train/shift_fit", fit.last_l1, batch_size=len(z))
        return shift

    # ------------------------------------------------------------------------------------------ checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.teacher_record is not None:
            checkpoint[TEACHER_KEY] = dict(self.teacher_record)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a resume whose teacher differs from the one the task started with."""
        super().on_load_checkpoint(checkpoint)
        stored, current = checkpoint.get(TEACHER_KEY), self.teacher_record
        if self.data_spec is None or (stored or {}).get("sha256") == (current or {}).get("sha256"):
            return
        source = (self._trainer.ckpt_path if self._trainer is not None else None) or "checkpoint"

        def describe(record: dict[str, str] | None) -> str:
            return f"{record['path']} (sha256 {record['sha256'][:12]})" if record else "no teacher"

        raise CheckpointError(
            f"{source}: trained with teacher {describe(stored)}, but this run's teacher is "
            f"{describe(current)}; resume with the init_from and replay the task started with"
        )


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of ``model``'s state dict: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
