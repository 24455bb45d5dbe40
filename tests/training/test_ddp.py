"""Real 2-process DDP on the CPU (gloo), through the ``cospeech fit`` command itself, with plain ``ddp``:
the engine must pick ``ddp_find_unused_parameters_true`` for the GAN (plain DDP fails at step 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def test_two_process_ddp_trains_and_stays_in_sync(tiny_config, tmp_path):
    probe = tmp_path / "probe.json"
    cospeech = shutil.which("cospeech", path=str(Path(sys.executable).parent))
    assert cospeech is not None
    command = [
        cospeech, "fit", *tiny_config,
        "--trainer.accelerator", "cpu",
        "--trainer.devices", "2",
        "--trainer.strategy", "ddp",
        "--trainer.max_epochs", "1",
        "--trainer.callbacks+=ddp_probe.ParameterSyncProbe",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
        "COSPEECH_DDP_PROBE": str(probe),
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    note = "cospeech: using ddp_find_unused_parameters_true"
    assert result.stderr.count(note) == 1  # chosen for the GAN, said once (not per process)
    report = json.loads(probe.read_text())
    assert report["world_size"] == 2
    assert report["global_step"] > 0
    rank0, rank1 = report["checksums"]
    assert rank0 == rank1  # identical parameters on both processes after training
    assert (tmp_path / "runs" / "tiny" / "version_0" / "checkpoints" / "last.ckpt").is_file()
