"""Tiny training runs for tests: configs small enough to train in seconds on the built-in corpus.

Importable from any test module (pytest puts ``tests/`` on the path with its conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TINY_MIX_STAGE = {"channels": 16, "unet_depth": 3, "fusion_heads": 2, "style_dim": 4, "num_clusters": 2}
"""Mix-StAGE widths of tests/models/test_mix_stage.py, for tests of what runs around the model."""
TINY_TASK_TRAINER = {
    "max_epochs": 1,
    "limit_val_batches": 1,
    "num_sanity_val_steps": 0,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "log_every_n_steps": 1,
}
"""Trainer settings of a tiny continual task (its batches come from ``data.train_batches``)."""
QUIET_TRAINER = {
    "limit_val_batches": 0,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}
"""``lightning.Trainer`` settings of a test that drives a recipe directly: no validation, logs, checkpoints or
console output."""


def tiny_config(**model_init_args: Any) -> dict[str, Any]:
    """A run config small enough for a test: 2 speakers, batch 4, 2 batches of one epoch."""
    return {
        "seed_everything": 1,
        "run": {"name": "tiny", "dev_video_frames": 0},  # TensorBoard dev videos: tested in test_engine
        "model": {
            "class_path": "cospeech.training.adversarial.AdversarialRecipe",
            "init_args": {
                "generator": "speech2gesture",
                "discriminator": "motion_discriminator",
                **model_init_args,
            },
        },
        "data": {"speakers": ["ava", "ben"], "batch_size": 4, "window_hop": 16},
        "trainer": {
            "max_epochs": 1,
            "limit_train_batches": 2,
            "limit_val_batches": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
        },
    }


def tiny_run_args(workdir: Path, synth_root: Path, **model_init_args: Any) -> list[str]:
    """``cospeech fit`` arguments of a tiny run writing under ``workdir``."""
    path = workdir / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(**model_init_args)))
    return [
        "--config", str(path),
        "--data.root", str(synth_root),
        "--data.cache_dir", str(workdir / "cache"),
        "--run.root", str(workdir / "runs"),
    ]  # fmt: skip


PATS48_SPEC: dict[str, Any] = {
    "format": "pats",
    "skeleton": "pats48",
    "pose_key": "pose/normalize",
    "audio_key": "audio/log_mel_400",
    "audio_dim": 64,
    "speakers": ["ava"],
    "fps": 15,
    "window_seconds": 4.3,
    "audio_rate_mode": "exact",
    "normalization": "pooled",
}
"""The required fields of a one-speaker ``DataSpec`` on the built-in corpus, as metadata stores them."""
