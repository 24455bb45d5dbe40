"""A tiny training config shared by the engine tests: 2 speakers, batch 4, a few batches per epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TINY = {
    "seed_everything": 1,
    "run": {"name": "tiny"},
    "model": {
        "class_path": "cospeech.training.module.GestureModule",
        "init_args": {"generator": "speech2gesture", "discriminator": "motion_discriminator"},
    },
    "data": {"speakers": ["ava", "ben"], "batch_size": 4, "window_hop": 16},
    "trainer": {
        "max_epochs": 2,
        "limit_train_batches": 3,
        "limit_val_batches": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
    },
}


@pytest.fixture
def tiny_config(tmp_path: Path, synth_root: Path) -> list[str]:
    """CLI arguments for a tiny run writing under ``tmp_path/runs``."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return [
        "--config", str(path),
        "--data.root", str(synth_root),
        "--data.cache_dir", str(tmp_path / "cache"),
        "--run.root", str(tmp_path / "runs"),
    ]  # fmt: skip
