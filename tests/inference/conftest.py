"""One tiny trained run for all inference tests, and synthetic speech to feed it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from inference_testdata import synthetic_speech

from cospeech.inference import GestureGenerator
from cospeech.training.engine import run_cli

TINY_RUN = {
    "seed_everything": 1,
    "run": {"name": "tiny"},
    "model": {
        "class_path": "cospeech.training.module.GestureModule",
        "init_args": {"generator": "speech2gesture", "discriminator": "motion_discriminator"},
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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, synth_root: Path) -> Path:
    """A run directory (2 speakers, 2 training batches) trained once per session by the real engine."""
    root = tmp_path_factory.mktemp("inference_run")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_RUN))
    run_cli(
        ["fit", "--config", str(config), "--data.root", str(synth_root),
         "--data.cache_dir", str(root / "cache"), "--run.root", str(root / "runs")]
    )  # fmt: skip
    return root / "runs" / "tiny" / "version_0"


@pytest.fixture(scope="session")
def pipe(tiny_run: Path) -> GestureGenerator:
    return GestureGenerator.from_pretrained(tiny_run)


@pytest.fixture(scope="session")
def speech_30s() -> np.ndarray:
    return synthetic_speech(30.0)
