"""Engine tests use a tiny run's CLI arguments, with two epochs of three batches."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_runs import tiny_run_args


@pytest.fixture
def tiny_config(tmp_path: Path, synth_root: Path) -> list[str]:
    """CLI arguments for a tiny run writing under ``tmp_path/runs``."""
    return [
        *tiny_run_args(tmp_path, synth_root),
        "--trainer.max_epochs",
        "2",
        "--trainer.limit_train_batches",
        "3",
    ]
