"""Shared fixtures: one small built-in corpus per test session (real files, written by the real writer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cospeech.data.synth import synthesize_corpus

SMALL_CORPUS = {"speakers": 3, "minutes": 1.5, "seed": 0}


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-speaker × 1.5-minute synthetic PATS corpus, built once per session."""
    root = tmp_path_factory.mktemp("corpus") / "synth"
    synthesize_corpus(root, **SMALL_CORPUS)
    return root
