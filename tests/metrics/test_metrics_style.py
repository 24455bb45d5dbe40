"""Gesture-cluster features, k-means fitting and the style F1: hand values and sklearn agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from cospeech.metrics import (
    GestureClusterF1,
    assign_gesture_clusters,
    cluster_f1,
    f1_from_confusion,
    fit_gesture_clusters,
    gesture_features,
)
from cospeech.skeletons import PATS48


def test_gesture_features_by_hand() -> None:
    poses = torch.tensor([[[[1.0, 2.0]], [[4.0, 6.0]]]])  # (B=1, T=2, J=1, 2)
    expected = torch.tensor([[[1.0, 2.0, 0.0, 0.0, 0.0], [4.0, 6.0, 3.0, 4.0, 5.0]]], dtype=torch.float64)
    torch.testing.assert_close(gesture_features(poses), expected)


def test_f1_from_confusion_by_hand() -> None:
    confusion = np.array([[2, 1], [0, 1]])  # rows GT, columns generated
    # precision (1, 1/2), recall (2/3, 1) → F1 (0.8, 2/3), weighted by GT support (3, 1)
    result = f1_from_confusion(confusion)
    assert result == pytest.approx(
        {
            "F1": (0.8 * 3 + 2 / 3) / 4,
            "cluster_acc": 0.75,
            "cluster_precision": (1 + 1 / 2) / 2,
            "cluster_recall": (2 / 3 + 1) / 2,
        }
    )


def test_precision_and_recall_count_unseen_clusters_as_zero() -> None:
    confusion = np.array([[2, 0, 0], [1, 1, 0], [0, 0, 0]])  # cluster 2: no GT and never generated
    # precision (2/3, 1, 0/0 → 0), recall (1, 1/2, 0/0 → 0): unweighted over all k = 3, as the reference
    result = f1_from_confusion(confusion)
    assert result["cluster_precision"] == pytest.approx((2 / 3 + 1) / 3)
    assert result["cluster_recall"] == pytest.approx((1 + 1 / 2) / 3)


def test_f1_matches_sklearn_weighted_f1() -> None:
    rng = np.random.default_rng(1)
    true, pred = rng.integers(0, 5, 500), rng.integers(0, 5, 500)
    confusion = np.zeros((5, 5), dtype=np.int64)
    np.add.at(confusion, (true, pred), 1)
    expected = f1_score(true, pred, average="weighted", labels=range(5), zero_division=0)
    assert f1_from_confusion(confusion)["F1"] == pytest.approx(expected)


def test_assignment_to_nearest_centre() -> None:
    poses = torch.tensor([[[[1.0, 2.0]], [[4.0, 6.0]]]])
    centres = np.array([[4.0, 6.0, 3.0, 4.0, 5.0], [1.0, 2.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0, 0.0]])
    assert assign_gesture_clusters(poses, centres).tolist() == [[1, 0]]
    with pytest.raises(ValueError, match=r"centres must be \(k, 5\)"):
        assign_gesture_clusters(poses, np.zeros((3, 4)))


def test_fit_is_seeded_and_takes_sequences_of_any_length() -> None:
    rng = np.random.default_rng(2)
    joints = PATS48.num_joints
    intervals = [rng.normal(0, 50, size=(frames, joints, 2)) for frames in (30, 45, 25)]
    centres = fit_gesture_clusters(intervals, k=4, seed=3)
    assert centres.shape == (4, 5 * joints) and centres.dtype == np.float64
    np.testing.assert_array_equal(centres, fit_gesture_clusters(intervals, k=4, seed=3))
    batch = rng.normal(0, 50, size=(3, 20, joints, 2))
    assert fit_gesture_clusters(batch, k=4, seed=3).shape == (4, 5 * joints)


def test_f1_identity_and_metric_class() -> None:
    rng = np.random.default_rng(4)
    joints = PATS48.num_joints
    train = rng.normal(0, 50, size=(4, 20, joints, 2))
    centres = fit_gesture_clusters(train, k=3, seed=0)
    poses = torch.tensor(rng.normal(0, 50, size=(2, 10, joints, 2)))
    same = cluster_f1(poses, poses, centres)
    assert same["F1"] == same["cluster_acc"] == 1.0
    visited = len(np.unique(assign_gesture_clusters(poses, centres)))
    assert same["cluster_precision"] == same["cluster_recall"] == pytest.approx(visited / 3)
    other = poses + torch.tensor(rng.normal(0, 30, size=poses.shape))
    metric = GestureClusterF1(centres)
    metric.update(other, poses)
    assert {k: v.item() for k, v in metric.compute().items()} == pytest.approx(
        cluster_f1(other, poses, centres)
    )
