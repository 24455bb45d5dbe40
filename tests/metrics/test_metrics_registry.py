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
    PCKPerJoint,
    fit_gesture_clusters,
    joint_keys,
    list_metrics,
    logged_metrics,
    metric_spec,
    metric_specs,
    register_metric,
    registry,
    table_metrics,
)
from cospeech.skeletons import PATS48

# The constants training and evaluation used before the registry: logs and tables must not change.
REPORTED_METRICS = (
    "L1", "VelL1", "PCK", "PCK@0.1", "PCK@0.2", "PCK_ref", "PCK_ref@0.1", "PCK_ref@0.2",
    "FID", "W1_vel", "W1_acc", "lip_sync_error_n", "diversity",
)  # fmt: skip
"""Logged during training; PCK_ref only where the data carries box joints, lip_sync_error_n only for a
skeleton with a face (``GestureMetricSuite.keys``)."""
TABLE_METRICS = (
    "L1", "VelL1", "PCK", "PCK_ref", "FID", "W1_vel", "W1_acc", "lip_sync_error_n", "diversity",
    "diversity_gt",
)  # fmt: skip
FULL_SUITE_KEYS = [
    "L1",
    "VelL1",
    "PCK",
    "PCK@0.1",
    "PCK@0.2",
    "PCK_ref",
    "PCK_ref@0.1",
    "PCK_ref@0.2",
    *joint_keys("PCK@0.1", PATS48.num_joints),
    *joint_keys("PCK@0.2", PATS48.num_joints),
    "FID",
    "W1_vel",
    "W1_acc",
    "diversity",
    "diversity_gt",
    "L1div",
    "L1div_gt",
    "spatial",
    "spatialNorm",
    "energy",
    "power",
    "FGD",
    "F1",
    "cluster_acc",
    "cluster_precision",
    "cluster_recall",
    "BeatAlign",
    "BeatAlign_gt",
]
SUITE_MODULES = [
    "L1",
    "VelL1",
    "PCK",
    "PCK_ref",
    "PCK_joint",
    "FID",
    "W1",
    "diversity",
    "diversity_gt",
    "L1div",
    "L1div_gt",
    "expressiveness",
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


class MaxDeviation(Metric):
    """Toy single-set pixel metric needing the mean pose: the largest ``|p − μ|`` seen, pixels."""

    full_state_update = False

    def __init__(self, mean_pose: np.ndarray, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.mean_pose = torch.as_tensor(mean_pose)
        self.add_state("largest", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="max")

    def update(self, poses: Tensor) -> None:
        if poses.ndim != 4:
            raise ValueError(f"poses must be pixel joints (B, T, J, 2), got shape {tuple(poses.shape)}")
        self.largest = torch.maximum(self.largest, (poses - self.mean_pose).abs().max())

    def compute(self) -> Tensor:
        return self.largest


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by the test are dropped afterwards, so other tests see only the built-ins."""
    monkeypatch.setattr(registry, "_REGISTRY", registry._REGISTRY.copy())


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
    suite.update(pose_data["preds"], pose_data["target"], pose_data["beats"], pose_data["box_joints"])
    keys = list(suite.compute())
    assert keys == list(suite.keys)
    faceless = [spec for spec in metric_specs() if "lips" not in spec.needs]  # pats48 has no lips
    assert keys == [key for spec in faceless for key in spec.report_keys(PATS48.num_joints)]
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
    assert all((key in result) == present for key in spec.report_keys(PATS48.num_joints))
    assert tuple(result) == suite.keys
    assert spec.higher_is_better is spec.metric.higher_is_better


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown metric 'FDG'; known metrics: L1, VelL1, PCK, PCK_ref, PCK_joint, FID, W1"
    ):
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
        "need 'centres' is not one of mean_pose, num_features, extractor, cluster_centres, beats, box_joints",
        "table key 'MaxAbs' is not one of its keys Max.Abs",
    ):
        assert problem in message
    with pytest.raises(TypeError, match="decorates torchmetrics Metric classes"):
        register_metric("MaxAbs", space="z", arity="paired")(torch.nn.Identity)


def test_a_metric_registered_in_a_test_reaches_the_suite_logs_and_table(
    isolated_registry: None, pose_data: dict
) -> None:
    register_metric("MaxAbs", space="z", arity="paired", logged=True, table=True)(MaxAbsError)
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"])
    preds, target = pose_data["preds"], pose_data["target"]
    suite.update(preds[:3], target[:3])
    suite.update(preds[3:], target[3:])
    result = suite.compute()
    assert list(result)[-1] == "MaxAbs"
    assert result["MaxAbs"] == pytest.approx(float((preds - target).abs().max()))
    assert logged_metrics() == (*REPORTED_METRICS, "MaxAbs")
    assert table_metrics() == (*TABLE_METRICS, "MaxAbs")
    assert metric_spec("MaxAbs").higher_is_better is False


def test_a_single_set_metric_gets_its_needs_pixels_and_a_gt_twin(
    isolated_registry: None, pose_data: dict
) -> None:
    register_metric("MaxDev", space="pixels", arity="single", needs=("mean_pose",), logged=True, order=65)(
        MaxDeviation
    )
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"])
    suite.update(pose_data["preds"], pose_data["target"])
    result = suite.compute()
    mean_pose = torch.as_tensor(flat_to_joints(pose_data["mean"]))
    for key, poses in (("MaxDev", pose_data["preds"]), ("MaxDev_gt", pose_data["target"])):
        assert result[key] == pytest.approx(float((suite.to_pixels(poses) - mean_pose).abs().max()))
    assert result["MaxDev"] != result["MaxDev_gt"]
    keys = list(result)
    assert keys[keys.index("diversity_gt") + 1 : keys.index("L1div")] == ["MaxDev", "MaxDev_gt"]
    assert logged_metrics() == (*REPORTED_METRICS, "MaxDev", "MaxDev_gt")


def test_outputs_must_match_what_compute_returns(isolated_registry: None, pose_data: dict) -> None:
    register_metric("MaxAbs", space="z", arity="paired", outputs=("MaxAbs", "MaxAbs_frame"))(MaxAbsError)
    suite = GestureMetricSuite(pose_data["mean"], pose_data["std"])
    suite.update(pose_data["preds"], pose_data["target"])
    with pytest.raises(RuntimeError, match=r"computed \['MaxAbs'\] but is registered with outputs"):
        suite.compute()


def test_a_per_joint_metric_reports_one_key_per_joint_and_is_never_logged(isolated_registry: None) -> None:
    assert metric_spec("PCK_joint").report_keys(3) == (
        "PCK@0.1_joint0",
        "PCK@0.1_joint1",
        "PCK@0.1_joint2",
        "PCK@0.2_joint0",
        "PCK@0.2_joint1",
        "PCK@0.2_joint2",
    )
    assert metric_spec("PCK").report_keys(3) == ("PCK", "PCK@0.1", "PCK@0.2")
    with pytest.raises(ConfigError, match="per-joint keys can be neither logged nor tabulated"):
        register_metric(
            "PCKj", space="pixels", arity="paired", outputs=("PCKj",), per_joint=True, logged=True
        )(PCKPerJoint)
    # a per-joint family only collides with the same per-joint family
    with pytest.raises(ConfigError, match="key 'PCK@0.1' is already reported by 'PCK_joint'"):
        register_metric("PCKj", space="pixels", arity="paired", outputs=("PCK@0.1",), per_joint=True)(
            PCKPerJoint
        )
