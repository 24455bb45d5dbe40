"""``GestureModule``: what every gesture training recipe shares, so a recipe is only its optimisers and step.

Like Lightning's GAN example, networks are plain registered ``nn.Module``s composed here. The base owns:

* **building from the data** (``configure_model``, after the data module's ``setup`` and before optimisers
  or checkpoint restore): the generator's ``from_data`` config fields come from the ``DataSpec``; a recipe
  adds its own networks in ``build_components``;
* **pretrain-from** (``init_from``: weights only, through the one weight loader);
* **dev/test metrics** per speaker (``cospeech.metrics.GestureMetricSuite``, each speaker with its own
  normalisation statistics), logged as ``<split>/<metric>`` (mean over the speakers that had windows to
  score) and ``<split>/<speaker>/<metric>`` (not logged for a speaker with nothing to score, which is
  warned about once), and one example window per split for ``SkeletonImages``; ``PCK_ref`` (the
  reference's PCK box, next to cospeech's ``PCK``) when the data spec has ``box_joints``;
* **checkpoint metadata** (``RunMetadata``): generator, components, data spec, normaliser, recipe.

A recipe subclasses it, takes its own hyperparameters in ``__init__`` (they reach ``--help`` and the YAML),
and implements ``configure_optimizers`` and ``training_step``. Recipes are named in YAML by class path, like
``cospeech.training.adversarial.AdversarialRecipe``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

from cospeech.data.clusters import PoseClusters
from cospeech.data.normalize import Normalizer
from cospeech.data.representation import make_representation
from cospeech.data.spec import DataSpec
from cospeech.errors import CheckpointError, ConfigError
from cospeech.metrics import GestureMetricSuite, logged_metrics
from cospeech.models.interface import Generator, GeneratorOutput, run_generator
from cospeech.models.registry import check_kind, model_config
from cospeech.training.losses import reconstruction_l1
from cospeech.training.metadata import METADATA_KEY, Component, RunMetadata, load_weights, read_run


class GestureModule(L.LightningModule):
    """Shared base of speech → gesture recipes (not trainable on its own: no step).

    Args:
        generator: registered generator name (``cospeech models list``).
        generator_config: overrides of the generator's config (``cospeech models show NAME``); fields that
            come from the data (pose width, styles …) are filled from it and must not disagree.
        init_from: a run directory or checkpoint whose weights (only) initialise the model (pretrain-from).
        seed: seed of the recipe's own random choices and of sampled generator inputs in evaluation.
    """

    ddp_find_unused_parameters: bool = False
    """Whether a training step can leave parameters without gradients (a GAN's discriminator turn), which
    DDP must be told; the engine then picks ``ddp_find_unused_parameters_true``."""

    def __init__(
        self,
        generator: str = "speech2gesture",
        generator_config: dict[str, Any] | None = None,
        init_from: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.check_config(self.hparams)
        self.generator: Generator | None = None
        self.components: dict[str, Component] = {}
        self.data_spec: DataSpec | None = None
        self.normalizer: Normalizer | None = None
        self.pose_clusters: PoseClusters | None = None
        self.suites = nn.ModuleDict()
        self.examples: dict[str, dict[str, torch.Tensor]] = {}
        self._unscored: set[tuple[str, str]] = set()  # (split, speaker) pairs already warned about

    @classmethod
    def check_config(cls, init_args: Any) -> None:
        """Raise one ``ConfigError`` for an unknown generator or config key before anything is built (the
        CLI calls this first, so ``--print_config`` and ``fit`` fail alike). Recipes extend it."""
        if cls.training_step is L.LightningModule.training_step:
            raise ConfigError(
                f"{cls.__qualname__} is the base of training recipes and has no training step; name a "
                "recipe such as cospeech.training.adversarial.AdversarialRecipe"
            )
        generator = init_args.get("generator", "speech2gesture")
        check_kind(generator, "generator")
        model_config(generator, **(init_args.get("generator_config") or {}))

    @property
    def speakers(self) -> tuple[str, ...]:
        return self.data_spec.speakers if self.data_spec is not None else ()

    # ------------------------------------------------------------------------------------------ building

    def configure_model(self) -> None:
        """Lightning's hook after data set-up: build the networks for the trainer's data module."""
        if self.generator is None:
            datamodule = self.trainer.datamodule
            self.build(datamodule.spec, datamodule.normalizer, datamodule.pose_clusters)

    def build(
        self, spec: DataSpec, normalizer: Normalizer, pose_clusters: PoseClusters | None = None
    ) -> None:
        """Build the generator, the recipe's components and the metric suites for ``spec``; then load the
        ``init_from`` weights. ``pose_clusters``: the data's cluster centers (saved with the run). Called
        once (by ``configure_model`` or directly, without a trainer)."""
        self.data_spec, self.normalizer, self.pose_clusters = spec, normalizer, pose_clusters
        hp = self.hparams
        self.components = {
            "generator": self.build_component("generator", hp.generator, "generator", hp.generator_config)
        }
        self.components.update(self.build_components(spec))
        reference_pck = bool(spec.box_joints)  # dev/test batches then carry box_joints
        decode = make_representation(spec.representation, spec.skeleton).decode
        for split in ("dev", "test"):
            self.suites[split] = nn.ModuleList(
                GestureMetricSuite(
                    normalizer.mean["pose"][s],
                    normalizer.std["pose"][s],
                    reference_pck=reference_pck,
                    skeleton=spec.skeleton,
                    decode=decode,
                )
                for s in range(spec.num_styles)
            )
        if self.hparams.init_from:
            self._initialise_from(self.hparams.init_from)

    def _initialise_from(self, source: str) -> None:
        """Pretrain-from: the generator's weights, and those of each registered component both runs have
        under the same role and name; others start fresh (said once). Optimiser, epoch and any recipe
        state outside registered networks are not copied."""
        run = read_run(source)
        run.metadata.refuse_calibrated(run.path, "init_from")
        stored = {"generator": run.metadata.model, **run.metadata.components}
        if stored["generator"].name != self.hparams.generator:
            raise CheckpointError(
                f"{run.path}: init_from holds a {stored['generator'].name} ({stored['generator'].kind}); "
                f"this run trains {self.hparams.generator}"
            )
        fresh = []
        for role, component in self.components.items():
            if role not in stored or stored[role].name != component.name:
                fresh.append(role)
                continue
            weights = stored[role].weights(run.state_dict)
            load_weights(
                getattr(self, role), weights, source=run.path, what=f"init_from {role} {component.name}"
            )
        if fresh:
            rank_zero_warn(
                f"cospeech: init_from {run.path}: {', '.join(fresh)} start(s) fresh (not in that run)"
            )

    def build_components(self, spec: DataSpec) -> dict[str, Component]:
        """Recipe hook: create the recipe's own networks as attributes (e.g. ``self.discriminator``) and
        return them by role with their registry name, resolved config and state-dict prefix."""
        return {}

    def build_component(self, role: str, name: str, kind: str, overrides: dict[str, Any] | None) -> Component:
        """Build registered model ``name`` (of ``kind``) for the data as attribute ``role``."""
        component, model = Component.create(role, name, kind, self.data_spec.model_fields(), overrides)
        setattr(self, role, model)
        return component

    def run_metadata(self) -> RunMetadata:
        """The metadata a checkpoint of this run carries."""
        return RunMetadata(
            model=self.components["generator"],
            components={role: c for role, c in self.components.items() if role != "generator"},
            data=self.data_spec,
            normalizer=self.normalizer,
            recipe=f"{type(self).__module__}.{type(self).__qualname__}",
            pose_clusters=self.pose_clusters,
        )

    # ------------------------------------------------------------------------------------------ steps

    def forward(self, batch: dict[str, torch.Tensor]) -> GeneratorOutput:
        """The generator on a training batch (every input it declares, ground truth included)."""
        return run_generator(self.generator, batch, training=True)

    def log_auxiliary_losses(self, output: GeneratorOutput, batch_size: int) -> torch.Tensor:
        """Log each named auxiliary loss of ``output`` and return their sum (0 without any)."""
        for name, value in output.losses.items():
            self.log(f"train/{name}", value, batch_size=batch_size)
        return sum(output.losses.values(), torch.zeros((), device=output.poses.device))

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, batch_idx, "dev")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, batch_idx, "test")

    def _evaluation_step(self, batch: dict[str, torch.Tensor], batch_idx: int, split: str) -> None:
        """Scores what inference would produce: no ground-truth inputs, sampled inputs seeded per batch."""
        rng = torch.Generator(device=batch["audio"].device).manual_seed(self.hparams.seed + batch_idx)
        pred = run_generator(self.generator, batch, training=False, rng=rng).poses
        self.log(
            f"{split}/loss", reconstruction_l1(pred, batch["pose"]), batch_size=len(pred), sync_dist=True
        )
        box = batch.get("box_joints")  # (B, T, K, 2) GT pixels for PCK_ref, when the corpus has them
        for s, suite in enumerate(self.suites[split]):
            rows = batch["style"] == s
            if rows.any():
                suite.update(pred[rows], batch["pose"][rows], box_joints=None if box is None else box[rows])
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
        """Log each speaker's metrics and their mean over the speakers that had windows to score.

        A speaker without any (every interval shorter than a window) is left out of the mean: otherwise
        its NaNs would make the mean, and so the monitored ``dev/L1``, NaN for the whole run. It is warned
        about once per run, not during Lightning's sanity check (which sees only the first dev batches).
        If no speaker was scored the mean is logged as NaN, so the monitor stays defined and
        ``MonitorCheck`` can say what that means for the checkpoints.

        The suites are already synchronised across processes (torchmetrics; ``windows`` too, so every
        process skips the same speakers); ``sync_dist`` only averages identical values, which keeps
        Lightning's epoch-level logging consistent under DDP."""
        per_speaker = []
        logged = [name for name in logged_metrics() if name in self.suites[split][0].keys]  # PCK_ref: if any
        for speaker, suite in zip(self.speakers, self.suites[split], strict=True):
            if suite.windows == 0:
                suite.reset()
                self._warn_unscored(split, speaker)
                continue
            values = suite.compute()
            suite.reset()
            per_speaker.append(values)
            for name in logged:
                self.log(f"{split}/{speaker}/{name}", values[name], sync_dist=True)
        for name in logged:
            mean = sum(v[name] for v in per_speaker) / len(per_speaker) if per_speaker else float("nan")
            self.log(f"{split}/{name}", mean, prog_bar=name in ("L1", "PCK"), sync_dist=True)

    def _warn_unscored(self, split: str, speaker: str) -> None:
        """One line per (split, speaker) and run: which speaker is missing from the mean, and why."""
        if self.trainer.sanity_checking or (split, speaker) in self._unscored:
            return
        self._unscored.add((split, speaker))
        limit = "limit_val_batches" if split == "dev" else "limit_test_batches"
        rank_zero_warn(
            f"cospeech: speaker {speaker!r} has no {split} windows to score (its {split} intervals are "
            f"shorter than the {self.data_spec.window_seconds:g} s window, or {limit} stops before them); "
            f"{split}/<metric> is the mean over the other speakers and {split}/{speaker}/* is not logged",
            category=UserWarning,
        )

    # ------------------------------------------------------------------------------------------ checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Everything needed to rebuild and use the model without the training config."""
        if self.generator is not None:
            checkpoint[METADATA_KEY] = self.run_metadata().to_dict(tensors=True)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resume, test and validate only on the data the model was trained for (speakers in the same
        order, skeleton, features, window, pose cluster centers) and without calibrated speakers: otherwise
        style ids, statistics and cluster labels would silently mean something else."""
        if self.data_spec is not None and checkpoint.get(METADATA_KEY) is not None:
            source = (self._trainer.ckpt_path if self._trainer is not None else None) or "checkpoint"
            stored = RunMetadata.from_dict(checkpoint[METADATA_KEY], source)
            stored.refuse_calibrated(source, "--ckpt_path", loaded=True)
            stored.check_data(self.data_spec, source)
            stored.check_pose_clusters(self.pose_clusters, source)


def checked_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """Raise ``ConfigError`` unless ``value`` is one of ``allowed`` (for recipes' ``check_config``)."""
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}; expected one of {', '.join(map(str, allowed))}")
