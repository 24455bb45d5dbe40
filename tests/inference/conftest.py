"""The pipeline of the session's tiny trained run (``tiny_run``, in ``tests/conftest.py``) for all inference
tests, and synthetic speech to feed it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from inference_testdata import synthetic_speech

from cospeech.inference import GestureGenerator


@pytest.fixture(scope="session")
def pipe(tiny_run: Path) -> GestureGenerator:
    return GestureGenerator.from_pretrained(tiny_run)


@pytest.fixture(scope="session")
def speech_30s() -> np.ndarray:
    return synthetic_speech(30.0)
