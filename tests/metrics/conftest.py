"""Fixtures for the metrics tests."""

from __future__ import annotations

import pytest
import torch
from metrics_testdata import TinyEncoder, make_pose_data


@pytest.fixture
def pose_data() -> dict[str, object]:
    return make_pose_data()


@pytest.fixture
def encoder() -> TinyEncoder:
    torch.manual_seed(0)
    return TinyEncoder()
