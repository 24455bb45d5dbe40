"""Finding and safely loading checkpoints.

A run directory (``runs/<name>/version_<n>``) holds ``checkpoints/best.ckpt`` (best dev metric) and
``checkpoints/last.ckpt``. Anything a user hands us is read with ``torch.load(weights_only=True)``: plain
tensors and containers only, never arbitrary pickled objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cospeech.errors import CheckpointError

PREFERRED = ("best.ckpt", "last.ckpt")


def resolve_checkpoint(source: str | Path) -> Path:
    """A checkpoint file from a file path, a run version directory, or a run name directory (newest
    version). Prefers ``best.ckpt`` over ``last.ckpt``."""
    path = Path(source)
    if path.is_file():
        return path
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or run directory")
    versions = sorted(
        path.glob("version_*"), key=lambda p: int(p.name.split("_")[-1]) if p.name[8:].isdigit() else -1
    )
    for directory in [path, *reversed(versions)]:
        for name in PREFERRED:
            candidate = directory / "checkpoints" / name
            if candidate.is_file():
                return candidate
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        raise CheckpointError(
            f"{path}: an exported model (generator weights only, no training state or data root); "
            "this needs a run directory or a .ckpt file"
        )
    raise CheckpointError(f"{path}: no checkpoints/best.ckpt or checkpoints/last.ckpt inside")


def load_checkpoint(source: str | Path) -> dict[str, Any]:
    """The checkpoint dict (tensors on the CPU), loaded without unpickling arbitrary objects."""
    path = resolve_checkpoint(source)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # other files' bytes fail anywhere in the unpickler (KeyError, IndexError …)
        reason = str(exc).splitlines()[0].split(". ")[0] if str(exc) else exc.__class__.__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a cospeech/Lightning checkpoint (no state_dict)")
    return checkpoint
