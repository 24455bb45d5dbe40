"""Trained generators on disk: reading training checkpoints, exporting, and loading exported models.

An **exported model** is a directory with two files, written atomically as a whole:

* ``model.safetensors``: the generator's weights only (no discriminator, optimiser or trainer state);
* ``config.json``: format version, cospeech version, generator name and config, skeleton and joint names,
  speakers (style order), the normaliser's statistics as nested lists (``pose.mean`` (S, 2J) …), and the
  feature settings (audio key, sample rate, log-mel parameters, pose rate, training window).

It is read with ``safetensors`` and ``json`` only, so loading one never unpickles anything, and it needs
neither Lightning nor the training config. A Lightning checkpoint (``.ckpt`` or a run directory) carries
the same information under ``checkpoint["cospeech"]``; both are turned into one ``PretrainedGenerator``,
from which ``build_generator`` rebuilds the network through the model registry.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from cospeech import __version__
from cospeech.audio import (
    MEL400_BINS,
    MEL400_FLOOR,
    MEL400_FMAX,
    MEL400_FMIN,
    MEL400_HOP,
    MEL400_N_FFT,
    MEL400_WIN,
    SAMPLE_RATE,
)
from cospeech.data.normalize import Normalizer
from cospeech.data.windows import POSE_FPS, WINDOW_SECONDS
from cospeech.errors import CheckpointError, ConfigError
from cospeech.files import OutputError, atomic_write
from cospeech.models.registry import build_model, model_config, model_entry
from cospeech.skeletons import get_skeleton
from cospeech.training.checkpoints import CHECKPOINT_KEY, load_checkpoint, resolve_checkpoint

EXPORT_FORMAT = "cospeech-gesture-generator"
EXPORT_FORMAT_VERSION = 1
"""Bumped when ``config.json`` changes incompatibly; newer versions are refused with a clear message."""
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
AUDIO_KEY = "audio/log_mel_400"
"""The only audio feature inference computes from a waveform (``cospeech.audio.log_mel_400``)."""
GENERATOR_PREFIX = "generator."
"""Prefix of the generator's weights in a ``GestureModule`` state dict."""

MEL_PARAMETERS: dict[str, Any] = {
    "sample_rate": SAMPLE_RATE,
    "n_fft": MEL400_N_FFT,
    "win_length": MEL400_WIN,
    "hop_length": MEL400_HOP,
    "n_mels": MEL400_BINS,
    "fmin": MEL400_FMIN,
    "fmax": MEL400_FMAX,
    "floor": MEL400_FLOOR,
    "power": 1.0,
    "center": False,
    "mel_scale": "slaney",
    "log": "natural",
}
"""The ``log_mel_400`` recipe, recorded in every export so a changed recipe is detected at load time."""


@dataclass(frozen=True)
class FeatureSettings:
    """How the generator's inputs were made in training, which inference must repeat."""

    audio_key: str = AUDIO_KEY
    """PATS audio feature the model was trained on."""
    sample_rate: int = SAMPLE_RATE
    """Waveform rate (Hz) the features are computed at."""
    fps: int = POSE_FPS
    """Pose frames per second."""
    window_seconds: float = WINDOW_SECONDS
    """Training window; inference windows default to ``int(window_seconds · fps)`` frames."""
    audio_rate_mode: str = "exact"
    """How training aligned audio to poses; inference always uses ``"exact"``."""
    skeleton: str = "pats48"
    """Skeleton of the predicted joints."""
    pose_key: str = "pose/normalize"
    """PATS pose key of the training targets (neck-relative pixels)."""
    normalization: str = "pooled"
    """Whose statistics normalise each speaker (recorded for provenance)."""

    @property
    def window_frames(self) -> int:
        """Pose frames in a training window (64 for 4.3 s)."""
        return int(self.window_seconds * self.fps)


@dataclass(frozen=True)
class PretrainedGenerator:
    """A trained generator as stored: everything ``GestureGenerator`` is built from."""

    source: Path
    """The checkpoint file or export directory, named in every error."""
    generator: str
    """Registered model name."""
    generator_config: dict[str, Any]
    """Keyword arguments of the model's config dataclass."""
    weights: dict[str, torch.Tensor]
    """The generator's state dict (no ``generator.`` prefix)."""
    normalizer: Normalizer
    """Per-speaker ``pose`` (S, 2J) and ``audio`` (S, F) statistics, rows in ``speakers`` order."""
    speakers: tuple[str, ...]
    """Speaker names; position = style id."""
    features: FeatureSettings
    cospeech_version: str
    """cospeech version that trained (or exported) the model."""


def read_checkpoint(run_or_ckpt: str | os.PathLike[str]) -> PretrainedGenerator:
    """The generator of a training checkpoint (a ``.ckpt`` file or a run directory), loaded without
    unpickling arbitrary objects.

    Raises
    ------
    CheckpointError : the file is unreadable, has no cospeech metadata, or its parts do not fit together.
    """
    path = resolve_checkpoint(run_or_ckpt)
    checkpoint = load_checkpoint(path)
    meta = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{path}: not a cospeech checkpoint (no {CHECKPOINT_KEY!r} metadata; "
            "was it saved by `cospeech fit`?)"
        )
    keys = ("generator", "generator_config", "speakers", "normalizer", "data")
    missing = [k for k in keys if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: cospeech metadata lacks {', '.join(missing)}")
    weights = {
        k.removeprefix(GENERATOR_PREFIX): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(GENERATOR_PREFIX)
    }
    if not weights:
        raise CheckpointError(f"{path}: state_dict holds no generator.* weights")
    data = meta["data"]
    features = FeatureSettings(
        audio_key=data.get("audio_key", AUDIO_KEY),
        window_seconds=float(data.get("window_seconds", WINDOW_SECONDS)),
        audio_rate_mode=data.get("audio_rate_mode", "exact"),
        skeleton=data.get("skeleton", "pats48"),
        pose_key=data.get("pose_key", "pose/normalize"),
        normalization=data.get("normalization", "pooled"),
    )
    return _checked(
        path,
        generator=meta["generator"],
        generator_config=dict(meta["generator_config"]),
        weights=weights,
        normalizer_state=meta["normalizer"],
        speakers=meta["speakers"],
        features=features,
        cospeech_version=str(meta.get("version", "unknown")),
    )


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
    build_generator(pretrained)
    if out_dir.is_file() or (out_dir.is_dir() and any(out_dir.iterdir()) and not is_export(out_dir)):
        raise OutputError(f"{out_dir}: exists and is not an exported model; choose a new directory")
    skeleton = get_skeleton(pretrained.features.skeleton)
    config = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "cospeech_version": __version__,
        "trained_with": pretrained.cospeech_version,
        "generator": pretrained.generator,
        "generator_config": pretrained.generator_config,
        "skeleton": skeleton.name,
        "joint_names": list(skeleton.joint_names),
        "speakers": list(pretrained.speakers),
        "normalizer": {k: v.tolist() for k, v in pretrained.normalizer.state_dict().items()},
        "features": {**dataclasses.asdict(pretrained.features), "mel": MEL_PARAMETERS},
    }
    weights = {k: v.detach().contiguous() for k, v in pretrained.weights.items()}
    with atomic_write(out_dir) as temporary:
        temporary.mkdir()
        save_file(weights, str(temporary / WEIGHTS_FILE), metadata={"format": "pt"})
        (temporary / CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
    return out_dir


def is_export(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds an exported model's ``config.json``."""
    return (Path(directory) / CONFIG_FILE).is_file()


def load_exported(directory: str | os.PathLike[str]) -> PretrainedGenerator:
    """Read an exported model directory with ``json`` and ``safetensors`` only.

    Raises
    ------
    CheckpointError : a file is missing or corrupt, the format is unknown or newer than this cospeech, or
        the log-mel recipe differs from the one this cospeech computes.
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
    if not isinstance(version, int) or version > EXPORT_FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: format_version {version!r} is not supported (this cospeech reads ≤ "
            f"{EXPORT_FORMAT_VERSION}); upgrade cospeech"
        )
    keys = ("generator", "generator_config", "speakers", "normalizer", "features")
    missing = [k for k in keys if k not in config]
    if missing:
        raise CheckpointError(f"{config_path}: lacks {', '.join(missing)}")
    features = dict(config["features"])
    mel = features.pop("mel", None)
    if mel != MEL_PARAMETERS:
        raise CheckpointError(
            f"{config_path}: log-mel recipe {mel} differs from this cospeech's {MEL_PARAMETERS}"
        )
    try:
        weights = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights_path}: not a readable safetensors file ({exc})") from None
    try:
        settings = FeatureSettings(**features)
        normalizer_state = {k: torch.tensor(v, dtype=torch.float32) for k, v in config["normalizer"].items()}
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: malformed features or normalizer ({exc})") from None
    return _checked(
        directory,
        generator=config["generator"],
        generator_config=dict(config["generator_config"]),
        weights=weights,
        normalizer_state=normalizer_state,
        speakers=config["speakers"],
        features=settings,
        cospeech_version=str(config.get("trained_with", config.get("cospeech_version", "unknown"))),
    )


def load_pretrained(source: str | os.PathLike[str]) -> PretrainedGenerator:
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


def build_generator(pretrained: PretrainedGenerator) -> nn.Module:
    """Rebuild the generator through the registry and load its weights, in eval mode, on the CPU.

    Raises
    ------
    CheckpointError : the name is unknown or not a generator, the config is invalid, or the weights'
        names or shapes do not fit the model the config describes (one line naming the first offenders).
    """
    source = pretrained.source
    try:
        entry = model_entry(pretrained.generator)
        config = model_config(pretrained.generator, **pretrained.generator_config)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    if entry.kind != "generator":
        raise CheckpointError(f"{source}: model {pretrained.generator!r} is a {entry.kind}, not a generator")
    model = build_model(pretrained.generator, **dataclasses.asdict(config))
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in pretrained.weights]
    unexpected = [k for k in pretrained.weights if k not in expected]
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    for key, value in pretrained.weights.items():
        if key in expected and value.shape != expected[key].shape:
            problems.append(
                f"{key} is {tuple(value.shape)} in the file but {tuple(expected[key].shape)} in the model"
            )
            break
    if problems:
        raise CheckpointError(
            f"{source}: weights do not fit {pretrained.generator} with config "
            f"{pretrained.generator_config}: {'; '.join(problems)}"
        )
    model.load_state_dict(pretrained.weights, strict=True)
    return model.eval()


def _checked(
    source: Path,
    *,
    generator: str,
    generator_config: dict[str, Any],
    weights: dict[str, torch.Tensor],
    normalizer_state: dict[str, torch.Tensor],
    speakers: list[str] | tuple[str, ...],
    features: FeatureSettings,
    cospeech_version: str,
) -> PretrainedGenerator:
    """A ``PretrainedGenerator`` after checking what the parts say about each other."""
    if features.audio_key != AUDIO_KEY:
        raise CheckpointError(
            f"{source}: trained on {features.audio_key}; inference computes only {AUDIO_KEY} from speech"
        )
    if features.sample_rate != SAMPLE_RATE or features.fps != POSE_FPS:
        raise CheckpointError(
            f"{source}: features at {features.sample_rate} Hz and {features.fps} fps; this cospeech uses "
            f"{SAMPLE_RATE} Hz and {POSE_FPS} fps"
        )
    if not math.isfinite(features.window_seconds) or features.window_frames < 1:
        raise CheckpointError(f"{source}: window_seconds={features.window_seconds} gives no frames")
    try:
        skeleton = get_skeleton(features.skeleton)
        normalizer = Normalizer.from_state_dict(normalizer_state)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    speakers = tuple(str(s) for s in speakers)
    expected = {"pose": (len(speakers), 2 * skeleton.num_joints), "audio": (len(speakers), MEL400_BINS)}
    for name, shape in expected.items():
        for stats in (normalizer.mean, normalizer.std):
            found = tuple(stats[name].shape) if name in stats else None
            if found != shape:
                raise CheckpointError(
                    f"{source}: normaliser {name} statistics have shape {found}, expected {shape} "
                    f"({len(speakers)} speakers, {skeleton.name})"
                )
    if features.audio_rate_mode != "exact":
        warnings.warn(
            f"{source}: trained with audio_rate_mode={features.audio_rate_mode!r}; inference aligns the "
            "audio exactly to the pose clock (the 'pats' mode's 103 Hz assumption drifts by about 3 %)",
            stacklevel=3,
        )
    return PretrainedGenerator(
        source=source,
        generator=generator,
        generator_config=generator_config,
        weights=weights,
        normalizer=normalizer,
        speakers=speakers,
        features=features,
        cospeech_version=cospeech_version,
    )
