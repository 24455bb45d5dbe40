"""Networks as plain ``nn.Module``s, each registered by name with its config dataclass; no training logic.

>>> from cospeech.models import build_model, list_models
>>> generator = build_model("speech2gesture")  # audio (B, T, F) → poses (B, T, 2J)

Importing this package imports every model module, which registers its models.
"""

from cospeech.models import baselines, pose_autoencoder, speech2gesture
from cospeech.models.registry import (
    ConfigField,
    ModelEntry,
    ModelKind,
    build_model,
    config_fields,
    list_models,
    model_config,
    model_entry,
    register_model,
)

__all__ = [
    "ConfigField",
    "ModelEntry",
    "ModelKind",
    "baselines",
    "build_model",
    "config_fields",
    "list_models",
    "model_config",
    "model_entry",
    "pose_autoencoder",
    "register_model",
    "speech2gesture",
]
