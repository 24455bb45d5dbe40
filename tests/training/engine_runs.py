"""The engine tests' tiny run: two epochs of three batches, narrow networks (the run engine's wiring is
under test, not the width; full-width checkpoints are ~90 MB each). Importable from tests in this folder."""

from __future__ import annotations

from pathlib import Path

from tiny_runs import tiny_run_args

NARROW = [
    "--model.init_args.generator_config", "{channels: 16}",
    "--model.init_args.discriminator_config", "{channels: 8}",
]  # fmt: skip


def engine_args(workdir: Path, synth_root: Path) -> list[str]:
    """``cospeech fit`` arguments of the engine tests' tiny run, writing under ``workdir/runs``."""
    return [
        *tiny_run_args(workdir, synth_root),
        "--trainer.max_epochs", "2",
        "--trainer.limit_train_batches", "3",
        *NARROW,
    ]  # fmt: skip
