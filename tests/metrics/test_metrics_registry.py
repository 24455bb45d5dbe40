"""Metric registry: the built-in specs, the keys training logs and evaluation tabulates, registration errors,
and a metric registered here (not in ``src/``) reaching ``GestureMetricSuite``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metrics_testdata import TinyEncoder, full_suite
from torch import Tensor
from torchmetrics import Metric

from cospeech.data.poses import flat_to_joints
from cospeech.errors import ConfigError
from cospeech.metrics import (
    GestureMetricSuite,
    fit_gesture_clusters,
    list_metrics,
    logged_metrics,
    metric_spec,
    metric_specs,
    register_metric,
    registry,
    table_metrics,
)

# The constants training and evaluation used before the registry: logs and tables must not change.
REPORTED_METRICS = ("L1", "VelL1", "PCK", "PCK@0.1", "PCK@0.2", "FID", "W1_vel", "W1_acc", "diversity")
TABLE_METRICS = ("L1", "VelL1", "PCK", "FID", "W1_vel", "W1_acc", "diversity", "diversity_gt")
FULL_SUITE_KEYS = [
    "L1",
    "VelL1",
    "PCK",
    "PCK@0.1",
    "PCK@0.2",
    "FID",
    "W1_vel",
    "W1_acc",
    "diversity",
    "diversity_gt",
    "L1div",
    "L1div_gt",
    "FGD",
    "F1",
    "cluster_acc",
    "BeatAlign",
    "BeatAlign_gt",
]
SUITE_MODULES = [
    "L1",
    "VelL1",
    "PCK",
    "FID",
    "W1",
    "diversity",
    "diversity_gt",
    "L1div",
    "L1div_gt",
    "FGD",
    "F1",
    "BeatAlign",
    "BeatAlign_gt",
]
ALWAYS_AVAILABLE = {"mean_pose", "num_features"}


class MaxAbsError(Metric):
    """Toy paired z-space metric: the largest ``|preds − target|`` seen, std units."""

    higher_is_better = False
    full_state_update = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.add_state("largest", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="max")

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.largest = torch.maximum(self.largest, (preds - target).abs().max().double())

    def compute(self) -> Tensor:
        return self.largest


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by the test are dropped afterwards, so other tests see only the built-ins."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


@pytest.fixture
def centres(pose_data: dict) -> np.ndarray:
    mean, std = torch.tensor(pose_data["mean"]), torch.tensor(pose_data["std"])
    return fit_gesture_clusters(flat_to_joints(pose_data["target"].double() * std + mean), k=4, seed=0)


def test_logged_and_table_keys_are_the_previous_constants() -> None:
    assert logged_metrics() == REPORTED_METRICS
    assert table_metrics() == TABLE_METRICS


def test_every_metric_is_in_the_full_suite_in_report_order(
    pose_data: dict, encoder: TinyEncoder, centres: np.ndarray
) -> None:
    suite = full_suite(pose_data, encoder, centres)
    suite.update(pose_data["preds"], pose_data["target"], pose_data["beats"])
    keys = list(suite.compute())
    assert keys == [key for spec in metric_specs() for key in spec.keys]
    assert keys == FULL_SUITE_KEYS
    # Module keys name the FGD extractor's weights in a checkpoint's state_dict: unchanged by the registry.
    assert list(suite.metrics) == SUITE_MODULES


@pytest.mark.parametrize("name", list_metrics())
def test_a_metric_is_in_the_base_suite_exactly_when_it_needs_nothing_optional(
    name: str, pose_data: dict
) -> None:
    spec = metric_spec(name)
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"])
    suite.update(pose_data["preds"], pose_data["target"])
    result = suite.compute()
    present = set(spec.needs) <= ALWAYS_AVAILABLE
    assert (name in suite.metrics) == present
    assert all((key in result) == present for key in spec.keys)
    assert spec.higher_is_better is spec.metric.higher_is_better


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'FDG'; known metrics: L1, VelL1, PCK, FID, W1"):
        metric_spec("FDG")


def test_a_name_registered_twice_raises(isolated_registry: None) -> None:
    with pytest.raises(ConfigError, match=r"'L1' is registered twice: by cospeech\.metrics\.pose\.L1 and by"):
        register_metric("L1", space="z", arity="paired")(MaxAbsError)


def test_a_key_reported_twice_raises(isolated_registry: None) -> None:
    with pytest.raises(ConfigError, match="key 'diversity_gt' is already reported by 'diversity'"):
        register_metric("MaxDev", space="pixels", arity="paired", outputs=("diversity_gt",))(MaxAbsError)
    assert "MaxDev" not in list_metrics()


def test_an_invalid_registration_names_every_problem(isolated_registry: None) -> None:
    with pytest.raises(ConfigError) as error:
        register_metric(
            "Max.Abs",
            space="pixel",
            arity="pair",
            needs=("centres",),
            table=("MaxAbs",),
        )(MaxAbsError)
    message = str(error.value)
    for problem in (
        "without '.'",
        "space 'pixel' is not one of z, pixels",
        "arity 'pair' is not one of paired, single",
        "need 'centres' is not one of mean_pose, num_features, extractor, cluster_centres, beats",
        "table key 'MaxAbs' is not one of its keys Max.Abs",
    ):
        assert problem in message
    with pytest.raises(TypeError, match="decorates torchmetrics Metric classes"):
        register_metric("MaxAbs", space="z", arity="paired")(torch.nn.Identity)
