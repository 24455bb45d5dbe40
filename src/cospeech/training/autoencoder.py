"""``PoseAutoencoderModule``: trains the pose auto-encoder (pose → code → pose, SDT's pose2pose).

Its encoder is the feature extractor of the FGD metric, and its codes are SDT-VAE's templates. Loss: L1
reconstruction, plus ``kl_weight`` · KL(q(z|x) ‖ N(0, I)) for the variational variant (SDT's
``POSE2POSE.LAMBDA_KL`` = 0.1). Dev metric ``dev/L1`` is the reconstruction L1 in model space.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from cospeech.data.spec import DataSpec
from cospeech.errors import CheckpointError, ConfigError
from cospeech.models.registry import check_kind, model_config
from cospeech.training.losses import reconstruction_l1
from cospeech.training.metadata import METADATA_KEY, Component, RunMetadata, read_run
from cospeech.training.optim import adam


class PoseAutoencoderModule(L.LightningModule):
    """Trains a registered auto-encoder on pose windows.

    Args:
        autoencoder: registered auto-encoder name.
        autoencoder_config: overrides of its config (e.g. ``{variational: true}``).
        lr: Adam learning rate.
        kl_weight: weight of the KL term for variational models (SDT: 0.1).
    """

    def __init__(
        self,
        autoencoder: str = "pose_autoencoder",
        autoencoder_config: dict[str, Any] | None = None,
        lr: float = 1e-4,
        kl_weight: float = 0.1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.check_config(self.hparams)
        self.autoencoder: torch.nn.Module | None = None
        self.metadata: RunMetadata | None = None

    @staticmethod
    def check_config(init_args: Any) -> None:
        name = init_args.get("autoencoder", "pose_autoencoder")
        check_kind(name, "autoencoder")
        model_config(name, **(init_args.get("autoencoder_config") or {}))
        if init_args.get("kl_weight", 0.1) < 0:
            raise ConfigError(f"kl_weight={init_args.get('kl_weight')} must be ≥ 0")

    def configure_model(self) -> None:
        """Build the auto-encoder for the data (pose width and window come from the data spec)."""
        if self.autoencoder is not None:
            return
        hp, datamodule = self.hparams, self.trainer.datamodule
        spec = datamodule.spec
        component, self.autoencoder = Component.create(
            "autoencoder", hp.autoencoder, "autoencoder", spec.model_fields(), hp.autoencoder_config
        )
        self.metadata = RunMetadata(
            model=component,
            data=spec,
            normalizer=datamodule.normalizer,
            recipe=f"{type(self).__module__}.{type(self).__qualname__}",
            pose_clusters=datamodule.pose_clusters,
        )

    def configure_optimizers(self):
        return adam(self.autoencoder.parameters(), self.hparams.lr)

    def _losses(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.autoencoder(pose)
        l1 = reconstruction_l1(out.reconstruction, pose)
        if out.logvar is None:
            return l1, l1
        kl = -0.5 * torch.mean(1 + out.logvar - out.mu.pow(2) - out.logvar.exp())
        return l1 + self.hparams.kl_weight * kl, l1

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, l1 = self._losses(batch["pose"])
        self.log("train/l1", l1, prog_bar=True, batch_size=len(batch["pose"]))
        self.log("train/loss", loss, batch_size=len(batch["pose"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log(
            "dev/L1",
            self._losses(batch["pose"])[1],
            prog_bar=True,
            batch_size=len(batch["pose"]),
            sync_dist=True,
        )

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("test/L1", self._losses(batch["pose"])[1], batch_size=len(batch["pose"]), sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.metadata is not None:
            checkpoint[METADATA_KEY] = self.metadata.to_dict(tensors=True)


def load_autoencoder(source: str, *, encodes: DataSpec | None = None) -> tuple[torch.nn.Module, str]:
    """(trained auto-encoder in eval mode, name) from a ``PoseAutoencoderModule`` run or checkpoint, e.g.
    to serve as the FGD feature extractor. With ``encodes`` (a run's data spec) the auto-encoder must read
    that run's model-space poses (`pose_space_differences`), else a `ConfigError`: FGD on poses of another
    representation would be a number without meaning."""
    run = read_run(source)
    if run.metadata.model.kind != "autoencoder":
        raise CheckpointError(f"{run.path}: not a pose auto-encoder checkpoint ({run.metadata.model.name})")
    model = run.metadata.model.build(run.state_dict, run.path)
    if encodes is not None:
        differ = pose_space_differences(model, run.metadata, encodes)
        if differ:
            raise ConfigError(
                f"{run.path}: the pose auto-encoder does not encode this run's poses ({'; '.join(differ)}); "
                "train one on the run's data and representation (configs/pose_vae_sdt.yaml)"
            )
    return model, run.metadata.model.name


def pose_space_differences(autoencoder: torch.nn.Module, trained: RunMetadata, spec: DataSpec) -> list[str]:
    """What differs between the model-space poses ``autoencoder`` (trained with metadata ``trained``) reads
    and those of a run with ``spec``: skeleton, representation, window. Empty when they agree."""
    return [
        f"{what}: auto-encoder {theirs}, this run {ours}"
        for what, theirs, ours in (
            ("skeleton", trained.data.skeleton, spec.skeleton),
            ("representation", trained.data.representation, spec.representation),
            ("window", autoencoder.config.window, spec.window_frames),
        )
        if theirs != ours
    ]
