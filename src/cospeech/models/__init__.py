"""Networks as plain ``nn.Module``s, each registered by name with its config dataclass; no training logic.

>>> from cospeech.models import build_model, list_models
>>> generator = build_model("speech2gesture")  # audio (B, T, F) → GeneratorOutput(poses (B, T, 2J))

Importing this package imports every module in it, and each module registers its own models: adding a model
is adding a file (no import list to edit).
"""

import importlib
import pkgutil

from cospeech.models.interface import (
    STANDARD_INPUTS,
    Generator,
    GeneratorOutput,
    InputSpec,
    generator_inputs,
    run_generator,
)
from cospeech.models.registry import (
    ConfigField,
    ModelEntry,
    ModelKind,
    build_model,
    check_kind,
    config_fields,
    from_data,
    list_models,
    model_config,
    model_entry,
    register_model,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "STANDARD_INPUTS",
    "ConfigField",
    "Generator",
    "GeneratorOutput",
    "InputSpec",
    "ModelEntry",
    "ModelKind",
    "build_model",
    "check_kind",
    "config_fields",
    "from_data",
    "generator_inputs",
    "list_models",
    "model_config",
    "model_entry",
    "register_model",
    "run_generator",
]
