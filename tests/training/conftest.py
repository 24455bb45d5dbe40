"""Engine tests use a tiny run's CLI arguments (``engine_runs.engine_args``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_runs import engine_args


@pytest.fixture
def tiny_config(tmp_path: Path, synth_root: Path) -> list[str]:
    """CLI arguments for a tiny run writing under ``tmp_path/runs``."""
    return engine_args(tmp_path, synth_root)
