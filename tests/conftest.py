"""Shared fixtures: one small built-in corpus per test session (real files, written by the real writer),
and tiny training runs made by the real engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tiny_runs import tiny_run_args

from cospeech.data.synth import synthesize_corpus

SMALL_CORPUS = {"speakers": 3, "minutes": 1.5, "seed": 0}


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-speaker × 1.5-minute synthetic PATS corpus, built once per session."""
    root = tmp_path_factory.mktemp("corpus") / "synth"
    synthesize_corpus(root, **SMALL_CORPUS)
    return root


@pytest.fixture(scope="session")
def train_tiny(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Train a tiny run (``model_init_args`` override the GestureModule's); returns its run directory."""
    from cospeech.training.engine import run_cli

    def train(**model_init_args: Any) -> Path:
        workdir = tmp_path_factory.mktemp("tiny_run")
        run_cli(["fit", *tiny_run_args(workdir, synth_root, **model_init_args)])
        return workdir / "runs" / "tiny" / "version_0"

    return train


@pytest.fixture(scope="session")
def tiny_run(train_tiny: Callable[..., Path]) -> Path:
    """A run directory (speakers ava and ben, 2 training batches) trained once per session by the real
    engine; shared by the inference tests and the README test. Tests that write into a run copy it."""
    return train_tiny()
