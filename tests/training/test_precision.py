"""Numeric precision of training: fp32 unless a run asks for mixed precision, TF32 only where it applies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tiny_runs import tiny_run_args

from cospeech.training.engine import CONFIG_DIR, RunConfig, run_cli, set_tf32


def test_every_built_in_config_trains_in_fp32_unless_told_otherwise():
    """bf16 is opt-in (``--trainer.precision bf16-mixed``): no shipped config turns it on."""
    configs = sorted(CONFIG_DIR.rglob("*.yaml"))
    assert configs
    for path in configs:
        trainer = (yaml.safe_load(path.read_text()) or {}).get("trainer") or {}
        assert trainer.get("precision", "32-true") in ("32-true", 32, "32"), path


def test_tf32_is_on_by_default_and_leaves_cpu_results_alone():
    assert RunConfig().tf32 is True
    torch.manual_seed(0)
    x, w = torch.randn(4, 32, 50), torch.randn(16, 32, 3)
    a, b = torch.randn(64, 128), torch.randn(128, 32)
    try:
        set_tf32(False)
        assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.allow_tf32
        exact = (torch.nn.functional.conv1d(x, w), a @ b)
        set_tf32(True)
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
        assert torch.equal(torch.nn.functional.conv1d(x, w), exact[0]) and torch.equal(a @ b, exact[1])
    finally:
        set_tf32(True)


def test_a_tiny_run_trains_in_bf16_when_asked(synth_root: Path, tmp_path: Path, one_thread):
    run_cli(["fit", *tiny_run_args(tmp_path, synth_root), "--trainer.precision", "bf16-mixed"])
    (run,) = (tmp_path / "runs" / "tiny").glob("version_*")
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["trainer"]["precision"] == "bf16-mixed"
    history = json.loads((run / "metrics.json").read_text())
    assert history and np.isfinite(history[-1]["dev/L1"])
    assert torch.get_float32_matmul_precision() == "high"  # the run's default tf32: true
    (tmp_path / "bad").mkdir()
    with pytest.raises(SystemExit):
        run_cli(["fit", *tiny_run_args(tmp_path / "bad", synth_root), "--run.tf32", "maybe"])
