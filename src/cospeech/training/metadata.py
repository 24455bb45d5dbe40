"""One run-metadata schema, written and read here only, and the one function that loads weights.

Every checkpoint (under ``checkpoint["cospeech"]``) and every export (``config.json``) carries a
``RunMetadata``: which registered model and config, every other trained component with its state-dict
prefix, the training recipe, the data spec (speakers, skeleton, feature, window), the normaliser, the pose
representation, the pose cluster centers when the data had cluster labels, and the cospeech version. Like
diffusers' ``_class_name`` + config next to the weights, it is everything needed to rebuild and use a model
without the training YAML; the reference keeps identity in a pickled side file instead (STYLE.md §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cospeech import __version__
from cospeech.data.clusters import PoseClusters
from cospeech.data.normalize import Normalizer
from cospeech.data.representation import (
    DEFAULT_REPRESENTATION,
    PoseRepresentation,
    make_representation,
)
from cospeech.data.spec import DataSpec
from cospeech.errors import CheckpointError, ConfigError
from cospeech.models.registry import ModelKind, build_model, check_kind, model_config
from cospeech.training.checkpoints import load_checkpoint, resolve_checkpoint

METADATA_KEY = "cospeech"
"""Key of the metadata in a checkpoint dict."""
SCHEMA_VERSION = 2
"""Bumped when the schema changes incompatibly; other versions are refused with a clear message
(schema 1, cospeech ≤ 0.1.0 before the model-family seams, had no version field)."""


@dataclass(frozen=True)
class Component:
    """One trained network of a run."""

    name: str
    """Registered model name."""
    config: dict[str, Any]
    """Its resolved config (every field, data-derived ones included)."""
    prefix: str
    """Prefix of its weights in the run's state dict (``generator.``)."""
    kind: ModelKind = "generator"
    """Registry kind it must have when rebuilt."""

    @classmethod
    def create(
        cls,
        role: str,
        name: str,
        kind: ModelKind,
        data: Mapping[str, Any],
        overrides: Mapping[str, Any] | None = None,
    ) -> tuple[Component, nn.Module]:
        """A new registered network for a run, to be held as attribute ``role`` (state-dict prefix
        ``role.``): its config takes ``overrides`` and the data's fields (``DataSpec.model_fields()``).
        Returns its record and the network. Raises ``ConfigError`` for a wrong kind or a bad config."""
        check_kind(name, kind)
        config = asdict(model_config(name, data, **(overrides or {})))
        return cls(name, config, f"{role}.", kind), build_model(name, **config)

    def build(self, state_dict: Mapping[str, torch.Tensor], source: str | Path) -> nn.Module:
        """Rebuild through the registry and load this component's weights from ``state_dict``, in eval
        mode on the CPU. Raises ``CheckpointError`` naming ``source``."""
        if not isinstance(self.config, Mapping):
            raise CheckpointError(f"{source}: the config of {self.name!r} is not a mapping: {self.config!r}")
        try:
            check_kind(self.name, self.kind)
            config = model_config(self.name, **self.config)
        except ConfigError as exc:
            raise CheckpointError(f"{source}: {exc}") from None
        model = build_model(self.name, **vars(config))
        load_weights(
            model, self.weights(state_dict), source=source, what=f"{self.name} with config {self.config}"
        )
        return model.eval()

    def weights(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This component's weights in a run's ``state_dict``, without the prefix."""
        return {k[len(self.prefix) :]: v for k, v in state_dict.items() if k.startswith(self.prefix)}


@dataclass(frozen=True)
class RunMetadata:
    """What a checkpoint or export says about itself."""

    model: Component
    """The network a run produces (the generator; the auto-encoder of an auto-encoder run)."""
    data: DataSpec
    normalizer: Normalizer
    """Per-style ``pose`` (S, 2J) and ``audio`` (S, F) statistics, rows in ``data.speakers`` order."""
    recipe: str
    """Import path of the LightningModule (recipe) that trained it."""
    components: dict[str, Component] = field(default_factory=dict)
    """Other trained networks by role (``discriminator`` …), for resuming and provenance."""
    pose_clusters: PoseClusters | None = None
    """The k-means centers (K, 5J) behind the batches' ``cluster`` labels when ``data.pose_clusters`` > 0
    (``cospeech.data.clusters``), so the labels a checkpoint was trained with can be reproduced."""
    cospeech_version: str = __version__
    """cospeech version that trained the model."""
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)
    """Runs the model depends on but does not contain, by role, each ``{"path", "sha256"}`` of its weights
    (SDT-VAE: ``template_vae``, the pose VAE its templates come from); exported with the model."""
    calibrated: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    """Speakers whose ``pose`` row of ``normalizer`` was fitted by calibration (``cospeech.continual.
    calibration``), not computed from their data; for each, ``{"mean", "std"}`` (2J,): the row their data
    has under the run's normalisation, the space their scores are reported in (`scoring_normalizer`). Such
    a run cannot start a training task (`refuse_calibrated`): training refits every row from data."""

    @property
    def speakers(self) -> tuple[str, ...]:
        return self.data.speakers

    @property
    def representation(self) -> str:
        """Pose representation name (``cospeech.data.representation``), as the data spec records it."""
        return self.data.representation

    def pose_representation(self) -> PoseRepresentation:
        """The run's pose representation with its statistics (model space ↔ global pixels)."""
        return make_representation(self.data.representation, self.data.skeleton, self.normalizer)

    def to_dict(self, *, tensors: bool) -> dict[str, Any]:
        """Nested plain values; the normaliser and cluster centers as tensors (checkpoints) or lists
        (JSON)."""
        centers = None if self.pose_clusters is None else self.pose_clusters.tensor()
        return {
            "schema": SCHEMA_VERSION,
            "cospeech_version": self.cospeech_version,
            "recipe": self.recipe,
            "model": asdict(self.model),
            "components": {role: asdict(c) for role, c in self.components.items()},
            "data": self.data.to_dict(),
            "normalizer": {
                k: (v.clone() if tensors else v.tolist()) for k, v in self.normalizer.state_dict().items()
            },
            "representation": self.representation,
            "pose_clusters": None if centers is None else (centers if tensors else centers.tolist()),
            "provenance": {role: dict(record) for role, record in self.provenance.items()},
            "calibrated": {
                speaker: {k: (v.clone() if tensors else v.tolist()) for k, v in row.items()}
                for speaker, row in self.calibrated.items()
            },
        }

    @classmethod
    def from_dict(cls, meta: Any, source: str | Path) -> RunMetadata:
        """Parse what ``to_dict`` wrote (either form). Raises one ``CheckpointError`` naming ``source``."""
        if not isinstance(meta, Mapping):
            raise CheckpointError(
                f"{source}: not a cospeech checkpoint (no {METADATA_KEY!r} metadata; was it saved by "
                "`cospeech fit`?)"
            )
        schema = meta.get("schema", 1)
        if type(schema) is not int or schema != SCHEMA_VERSION:
            writer = meta.get("cospeech_version", meta.get("version", "?"))
            raise CheckpointError(
                f"{source}: run metadata schema {schema!r} (cospeech {writer}); "
                f"this cospeech reads schema {SCHEMA_VERSION}: retrain, or use the cospeech that wrote it"
            )
        missing = [k for k in ("model", "data", "normalizer", "recipe") if meta.get(k) is None]
        if missing:
            raise CheckpointError(f"{source}: cospeech metadata lacks {', '.join(missing)}")
        representation = meta.get("representation", DEFAULT_REPRESENTATION)
        data_dict = meta["data"] if isinstance(meta["data"], Mapping) else {}
        recorded = data_dict.get("representation", representation)
        if recorded != representation:
            raise CheckpointError(
                f"{source}: pose representation {representation!r} disagrees with the data spec's "
                f"{recorded!r}"
            )
        try:
            normalizer = Normalizer.from_state_dict(
                {k: torch.as_tensor(v, dtype=torch.float32) for k, v in meta["normalizer"].items()}
            )
            data = DataSpec.from_dict({**data_dict, "representation": representation})
            model = Component(**meta["model"])
            components = {role: Component(**c) for role, c in meta.get("components", {}).items()}
            centers = meta.get("pose_clusters")
            clusters = None if centers is None else PoseClusters.from_tensor(centers)
            calibrated = {
                str(speaker): {k: torch.as_tensor(row[k], dtype=torch.float32) for k in ("mean", "std")}
                for speaker, row in (meta.get("calibrated") or {}).items()
            }
        except (ConfigError, TypeError, ValueError, AttributeError, KeyError) as exc:
            raise CheckpointError(f"{source}: malformed cospeech metadata ({exc})") from None
        metadata = cls(
            model=model,
            data=data,
            normalizer=normalizer,
            recipe=str(meta["recipe"]),
            components=components,
            cospeech_version=str(meta.get("cospeech_version", "unknown")),
            pose_clusters=clusters,
            provenance={str(role): dict(record) for role, record in (meta.get("provenance") or {}).items()},
            calibrated=calibrated,
        )
        metadata.check(source)
        return metadata

    def check(self, source: str | Path) -> None:
        """The parts must fit each other: statistics of S speakers with the skeleton's and features'
        widths, and K cluster centers of the skeleton's 5·J features when the data had K clusters."""
        S = self.data.num_styles
        expected = {"pose": (S, self.data.pose_dim), "audio": (S, self.data.audio_dim)}
        if self.data.text_dim:
            expected["text"] = (S, self.data.text_dim)
        K = self.data.pose_clusters
        found = None if self.pose_clusters is None else tuple(self.pose_clusters.centers.shape)
        wanted = (K, self.data.pose_dim * 5 // 2) if K else None
        if found != wanted:
            raise CheckpointError(
                f"{source}: pose cluster centers have shape {found}, expected {wanted} "
                f"(pose_clusters={K}, {self.data.skeleton})"
            )
        for name, shape in expected.items():
            for stats in (self.normalizer.mean, self.normalizer.std):
                found = tuple(stats[name].shape) if name in stats else None
                if found != shape:
                    raise CheckpointError(
                        f"{source}: normaliser {name} statistics have shape {found}, expected {shape} "
                        f"({S} speakers, {self.data.skeleton}, {self.data.audio_key})"
                    )
            std = self.normalizer.std[name]
            if not (torch.isfinite(std).all() and (std > 0).all()):  # fitting floors σ at 1e-8
                raise CheckpointError(
                    f"{source}: normaliser {name} std has non-positive or non-finite values"
                )
        width = self.data.pose_dim
        for speaker, row in self.calibrated.items():
            shapes = {k: tuple(v.shape) for k, v in row.items()}
            if speaker not in self.speakers or shapes != {"mean": (width,), "std": (width,)}:
                raise CheckpointError(
                    f"{source}: calibrated speaker {speaker!r} with statistics {shapes}; expected a speaker "
                    f"of {list(self.speakers)} with mean and std of shape ({width},)"
                )
            if not (torch.isfinite(row["std"]).all() and (row["std"] > 0).all()):
                raise CheckpointError(f"{source}: calibrated speaker {speaker!r}: std not positive, finite")

    def scoring_normalizer(self) -> Normalizer:
        """``normalizer`` with each calibrated speaker's ``pose`` row replaced by the row of their data
        (`calibrated`): the statistics scores are computed with, so that a calibrated speaker's L1 is in the
        same space as an adapted speaker's (``cospeech.evaluation``). Without calibrated speakers, the
        normaliser itself."""
        if not self.calibrated:
            return self.normalizer
        mean, std = dict(self.normalizer.mean), dict(self.normalizer.std)
        mean["pose"], std["pose"] = mean["pose"].clone(), std["pose"].clone()
        for speaker, row in self.calibrated.items():
            style = self.speakers.index(speaker)
            mean["pose"][style], std["pose"][style] = row["mean"], row["std"]
        return Normalizer(mean, std)

    def refuse_calibrated(self, source: str | Path, what: str, *, loaded: bool = False) -> None:
        """Raise ``ConfigError`` if this run has calibrated speakers: a training task that starts from it
        (``what``: how the user named it) would refit their ``pose`` rows from data and silently lose their
        calibration, and a Lightning fit/validate/test that loads it (``loaded``) would also score them
        in the wrong row (``docs/personalise.md``, "Under a minute of data")."""
        if not self.calibrated:
            return
        names = ", ".join(self.calibrated)
        doing = "fit, validate and test refit" if loaded else "training from this run would refit"
        instead = "score it with cospeech evaluate; to add speakers, " if loaded else ""
        raise ConfigError(
            f"{what} {source}: {names} calibrated, not trained (personalise under 1 min of data); {doing} "
            f"their pose statistics from data, losing the calibration: {instead}train from the run they were "
            f"calibrated onto, then calibrate {names} onto the result (cospeech personalise --mode calibrate)"
        )

    def check_data(self, spec: DataSpec, source: str | Path) -> None:
        """Raise ``CheckpointError`` if ``spec`` (the data a run is resumed, tested or validated on) is not
        the data this model was trained for: speakers (style ids), skeleton, features, their levelling or
        window."""
        keys = ("speakers", "skeleton", "pose_key", "audio_key", "audio_dim", "fps", "window_seconds")
        keys += ("audio_level", "text_key", "repeat_text", "text_featurizer", "representation")
        differ = [k for k in keys if getattr(self.data, k) != getattr(spec, k)]
        if differ:
            what = "; ".join(
                f"{k}: trained {getattr(self.data, k)!r}, data {getattr(spec, k)!r}" for k in differ
            )
            raise CheckpointError(f"{source}: the data does not match the model ({what})")

    def check_pose_clusters(self, clusters: PoseClusters | None, source: str | Path) -> None:
        """Raise ``CheckpointError`` unless ``clusters`` (those of the data a run is resumed or tested on)
        are the centers this model was trained with, so ``cluster`` labels mean the same clusters."""
        trained = self.pose_clusters
        if trained is None and clusters is None:
            return
        if trained is None or clusters is None or trained.centers.shape != clusters.centers.shape:
            shapes = [None if c is None else tuple(c.centers.shape) for c in (trained, clusters)]
            raise CheckpointError(
                f"{source}: pose clusters differ: trained with centers {shapes[0]}, the data has {shapes[1]} "
                "(set the data module's pose_clusters as in training)"
            )
        if not np.allclose(trained.centers, clusters.centers, rtol=1e-4, atol=1e-3):
            raise CheckpointError(
                f"{source}: the pose cluster centers fitted on this data differ from those the model was "
                "trained with (did the source speakers' training data, the window hop or the seed change?)"
            )


def load_weights(
    model: nn.Module, weights: Mapping[str, torch.Tensor], *, source: str | Path, what: str
) -> None:
    """Load ``weights`` into ``model`` strictly; any mismatch is one ``CheckpointError`` naming ``source``,
    ``what`` was expected, and the first offending names or shapes (not PyTorch's multi-line dump)."""
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    for key, value in weights.items():
        if key in expected and value.shape != expected[key].shape:
            problems.append(
                f"{key} is {tuple(value.shape)} in the file but {tuple(expected[key].shape)} in the model"
            )
            break
    if problems:
        raise CheckpointError(f"{source}: weights do not fit {what}: {'; '.join(problems)}")
    model.load_state_dict(weights, strict=True)


@dataclass(frozen=True)
class StoredRun:
    """A checkpoint as read from disk: where, what it says about itself, and its weights."""

    path: Path
    metadata: RunMetadata
    state_dict: dict[str, torch.Tensor]
    datamodule_hparams: dict[str, Any]
    """The data module's init arguments (data root, keys, windows) as Lightning saved them."""


def read_run(source: str | Path) -> StoredRun:
    """The checkpoint of a run directory or ``.ckpt`` file with its metadata, loaded without unpickling
    arbitrary objects. Raises ``CheckpointError`` naming the file."""
    path = resolve_checkpoint(source)
    checkpoint = load_checkpoint(path)
    metadata = RunMetadata.from_dict(checkpoint.get(METADATA_KEY), path)
    hparams = dict(checkpoint.get("datamodule_hyper_parameters") or {})
    return StoredRun(path, metadata, checkpoint["state_dict"], hparams)
