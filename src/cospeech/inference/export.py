"""Trained generators on disk: reading training checkpoints, exporting, and loading exported models.

An **exported model** is a directory with two files, written atomically as a whole:

* ``model.safetensors``: the generator's weights only (no discriminator, optimiser or trainer state), with
  the generator's own parameter names;
* ``config.json``: format version, the run metadata (``cospeech.training.metadata.RunMetadata``: generator
  name and resolved config, data spec with speakers, skeleton, feature and window, the normaliser's
  statistics as nested lists, recipe, versions), the joint names, and the audio feature's recipe
  (``cospeech.features``).

It is read with ``safetensors`` and ``json`` only, so loading one never unpickles anything, and it needs
neither Lightning nor the training config. A Lightning checkpoint (``.ckpt`` or a run directory) carries
the same metadata under ``checkpoint["cospeech"]``; both become one ``Pretrained``, whose
``build_generator`` rebuilds the network through the model registry and the one weight loader.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cospeech import __version__
from cospeech.data.windows import POSE_FPS
from cospeech.errors import CheckpointError, ConfigError
from cospeech.features import FeatureExtractor, get_feature, list_features
from cospeech.files import OutputError, atomic_write
from cospeech.models.interface import Generator
from cospeech.skeletons import get_skeleton
from cospeech.training.metadata import RunMetadata, StoredRun, read_run

EXPORT_FORMAT = "cospeech-gesture-generator"
EXPORT_FORMAT_VERSION = 2
"""Bumped when ``config.json`` changes incompatibly; other versions are refused with a clear message."""
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class Pretrained:
    """A trained generator as stored: its metadata and weights, checked for inference."""

    source: Path
    """The checkpoint file or export directory, named in every error."""
    metadata: RunMetadata
    weights: dict[str, torch.Tensor]
    """State dict holding the generator's weights under ``metadata.model.prefix``."""
    datamodule_hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The training data module's arguments (data root …); empty for exports."""

    def build_generator(self) -> Generator:
        """The generator rebuilt through the registry with its weights, in eval mode on the CPU.

        Raises
        ------
        CheckpointError : unknown or wrong-kind model, invalid config, or weights that do not fit it.
        """
        return self.metadata.model.build(self.weights, self.source)


def read_checkpoint(run_or_ckpt: str | os.PathLike[str]) -> Pretrained:
    """The generator of a training checkpoint (a ``.ckpt`` file or a run directory).

    Raises
    ------
    CheckpointError : the file is unreadable, has no cospeech metadata, or its parts do not fit together.
    """
    return pretrained_from(read_run(run_or_ckpt))


def pretrained_from(run: StoredRun) -> Pretrained:
    """`read_checkpoint` for a checkpoint already read (``read_run``), with the same checks."""
    return _checked(Pretrained(run.path, run.metadata, run.state_dict, run.datamodule_hparams))


def export_model(run_or_ckpt: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Write the generator of a run or checkpoint as an exported model directory at ``out_dir``.

    The weights are checked against the generator config first (by rebuilding the model), so a broken
    export is never written. An existing ``out_dir`` is replaced only if it is an earlier export or empty.

    Returns
    -------
    out_dir : the written directory (``model.safetensors`` + ``config.json``).
    """
    out_dir = Path(out_dir)
    pretrained = read_checkpoint(run_or_ckpt)
    generator = pretrained.build_generator()
    if out_dir.is_file() or (out_dir.is_dir() and any(out_dir.iterdir()) and not is_export(out_dir)):
        raise OutputError(f"{out_dir}: exists and is not an exported model; choose a new directory")
    metadata = dataclasses.replace(
        pretrained.metadata,
        model=dataclasses.replace(pretrained.metadata.model, prefix=""),
        components={},  # only the generator is exported
    )
    config = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_with": __version__,
        "metadata": metadata.to_dict(tensors=False),
        "joint_names": list(get_skeleton(metadata.data.skeleton).joint_names),
        "feature_recipe": json.loads(get_feature(metadata.data.audio_key).recipe),
    }
    weights = {k: v.detach().contiguous() for k, v in generator.state_dict().items()}
    with atomic_write(out_dir) as temporary:
        temporary.mkdir()
        save_file(weights, str(temporary / WEIGHTS_FILE), metadata={"format": "pt"})
        (temporary / CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
    return out_dir


def is_export(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds an exported model's ``config.json``."""
    return (Path(directory) / CONFIG_FILE).is_file()


def load_exported(directory: str | os.PathLike[str]) -> Pretrained:
    """Read an exported model directory with ``json`` and ``safetensors`` only.

    Raises
    ------
    CheckpointError : a file is missing or corrupt, the format is unknown or of another version, or the
        audio feature's recipe differs from the one this cospeech computes.
    """
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise CheckpointError(f"{path}: missing; an exported model has {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        raise CheckpointError(
            f"{config_path}: not a cospeech exported model (format is not {EXPORT_FORMAT!r})"
        )
    version = config.get("format_version")
    if version != EXPORT_FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: format_version {version!r} is not supported (this cospeech reads "
            f"{EXPORT_FORMAT_VERSION}); export the run again with this cospeech"
        )
    metadata = RunMetadata.from_dict(config.get("metadata"), config_path)
    key = metadata.data.audio_key
    expected = json.loads(_feature(key, config_path).recipe)
    recipe = config.get("feature_recipe")
    if recipe != expected:
        raise CheckpointError(
            f"{config_path}: {key} feature recipe {recipe} differs from this cospeech's {expected}"
        )
    try:
        weights = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights_path}: not a readable safetensors file ({exc})") from None
    return _checked(Pretrained(directory, metadata, weights))


def load_pretrained(source: str | os.PathLike[str]) -> Pretrained:
    """An exported model directory, a run directory, or a checkpoint file, whichever ``source`` is."""
    path = Path(source)
    if is_export(path):
        return load_exported(path)
    if path.is_dir() and not (path / "checkpoints").is_dir() and not any(path.glob("version_*")):
        raise CheckpointError(
            f"{path}: neither an exported model ({CONFIG_FILE} + {WEIGHTS_FILE}) nor a run directory "
            "(checkpoints/*.ckpt)"
        )
    return read_checkpoint(path)


def _checked(pretrained: Pretrained) -> Pretrained:
    """``pretrained`` if inference can repeat how its inputs were made (feature, rates, window)."""
    source, metadata = pretrained.source, pretrained.metadata
    data = metadata.data
    if metadata.model.kind != "generator":
        raise CheckpointError(
            f"{source}: holds {metadata.model.name} ({metadata.model.kind}), not a generator"
        )
    feature = _feature(data.audio_key, source)
    if data.audio_dim != feature.audio_dim:
        raise CheckpointError(
            f"{source}: audio_dim={data.audio_dim}, but {data.audio_key} gives {feature.audio_dim} features "
            "per pose frame"
        )
    if data.fps != POSE_FPS:
        raise CheckpointError(f"{source}: poses at {data.fps} fps; this cospeech uses {POSE_FPS} fps")
    if data.window_frames < 1:
        raise CheckpointError(f"{source}: window_seconds={data.window_seconds} gives no frames")
    if data.audio_rate_mode != "exact":
        warnings.warn(
            f"{source}: trained with audio_rate_mode={data.audio_rate_mode!r}; inference aligns the "
            "audio exactly to the pose clock (the 'pats' mode's 103 Hz assumption drifts by about 3 %)",
            stacklevel=3,
        )
    return pretrained


def _feature(key: str, source: Path) -> FeatureExtractor:
    """The registered extractor of ``key``, or a CheckpointError naming ``source``."""
    try:
        return get_feature(key)
    except ConfigError:
        raise CheckpointError(
            f"{source}: trained on {key}; inference computes only registered features from speech: "
            f"{', '.join(list_features())}"
        ) from None
