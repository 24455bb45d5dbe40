"""L1, VelL1, PCK (both boxes, per joint), diversity, L1div and expressiveness: hand-computed values,
identities, batch weighting, shape errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cospeech.metrics import (
    L1,
    PCK,
    Diversity,
    Expressiveness,
    L1Div,
    PCKPerJoint,
    PCKReference,
    VelL1,
    diversity,
    expressiveness,
    l1,
    l1_div,
    pck,
    pck_per_joint,
    vel_l1,
)


def test_l1_and_vel_l1_by_hand() -> None:
    target = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]]])  # (B=1, T=2, 2J=4)
    preds = torch.zeros_like(target)
    assert l1(preds, target) == pytest.approx((1 + 2 + 3 + 4) / 8)
    assert vel_l1(preds, target) == pytest.approx((1 + 2 + 3 + 4) / 4)
    metric = VelL1()
    metric.update(preds, target)
    assert metric.compute().item() == pytest.approx(2.5)


def test_l1_weights_batches_by_size_like_the_reference() -> None:
    metric = L1()
    metric.update(torch.ones(1, 2, 4), torch.zeros(1, 2, 4))  # batch mean 1, B = 1
    metric.update(torch.full((3, 5, 4), 3.0), torch.zeros(3, 5, 4))  # batch mean 3, B = 3
    assert metric.compute().item() == pytest.approx((1 * 1 + 3 * 3) / 4)


def test_pck_by_hand() -> None:
    target = torch.tensor([[[[10.0, 0.0], [0.0, 5.0]]]])  # (1, 1, J=2, 2); box with the origin: 10 × 5
    preds = target + torch.tensor([[[[1.5, 0.0], [0.0, 0.5]]]])  # errors 1.5 and 0.5 px
    result = pck(preds, target)
    assert result == pytest.approx({"PCK@0.1": 0.5, "PCK@0.2": 1.0, "PCK": 0.75})
    metric = PCK()
    metric.update(preds, target)
    assert {k: v.item() for k, v in metric.compute().items()} == pytest.approx(result)


def test_pck_box_includes_the_neck_and_threshold_is_strict() -> None:
    target = torch.tensor([[[[6.0, 6.0], [8.0, 7.0]]]])  # joints alone span 2 px; with the origin 8 px
    preds = target + torch.tensor([[[[1.5, 0.0], [2.0, 0.0]]]])  # threshold 0.25·8 = 2: 1.5 counts, 2.0 not
    assert pck(preds, target, alphas=(0.25,)) == {"PCK@0.25": 0.5, "PCK": 0.5}


def test_pck_reference_box_widens_the_threshold() -> None:
    target = torch.tensor([[[[10.0, 0.0], [0.0, 5.0]]]])  # (1, 1, J=2, 2); ours: box with the origin 10 × 5
    nose = torch.tensor([[[[0.0, -30.0]]]])  # (1, 1, K=1, 2); the reference's box: 10 × 35
    preds = target + torch.tensor([[[[1.5, 0.0], [0.0, 5.0]]]])  # errors 1.5 and 5 px
    # ours: thresholds 1 and 2 px; reference: 3.5 and 7 px
    assert pck(preds, target) == pytest.approx({"PCK@0.1": 0.0, "PCK@0.2": 0.5, "PCK": 0.25})
    assert pck(preds, target, box_joints=nose) == pytest.approx({"PCK@0.1": 0.5, "PCK@0.2": 1.0, "PCK": 0.75})
    ours, reference = pck_per_joint(preds, target), pck_per_joint(preds, target, box_joints=nose)
    np.testing.assert_array_equal(ours["PCK@0.1"], [0.0, 0.0])
    np.testing.assert_array_equal(ours["PCK@0.2"], [1.0, 0.0])
    np.testing.assert_array_equal(reference["PCK@0.1"], [1.0, 0.0])
    np.testing.assert_array_equal(reference["PCK@0.2"], [1.0, 1.0])

    metric = PCKReference()
    metric.update(preds, target, nose)
    metric.update(target, target, nose)  # all correct: 4 of 4 more joint·frames
    result = {k: v.item() for k, v in metric.compute().items()}
    assert result == pytest.approx({"PCK_ref@0.1": 3 / 4, "PCK_ref@0.2": 1.0, "PCK_ref": 7 / 8})
    with pytest.raises(
        ValueError, match=r"box_joints must be .* \(B, T, K, 2\) matching target \(1, 1, 2, 2\)"
    ):
        pck(preds, target, box_joints=torch.zeros(2, 1, 1, 2))


def test_pck_per_joint_counts_frames() -> None:
    target = torch.tensor([[[[10.0, 0.0], [0.0, 5.0]], [[10.0, 0.0], [0.0, 5.0]]]])  # (1, T=2, J=2, 2)
    preds = target.clone()
    preds[0, 0, 1, 1] += 5.0  # joint 1 wrong in frame 0 only
    metric = PCKPerJoint(num_features=4)
    metric.update(preds, target)
    result = metric.compute()
    torch.testing.assert_close(result["PCK@0.1"], torch.tensor([1.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(result["PCK@0.2"], torch.tensor([1.0, 0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="built for 2 joints"):
        metric.update(torch.zeros(1, 2, 3, 2), torch.zeros(1, 2, 3, 2))


def test_expressiveness_by_hand() -> None:
    # one joint, mean pose at the origin; d = distance to it, s1 = speed, s2 = acceleration magnitude
    target = torch.tensor([[[[0.0, 0.0]], [[3.0, 4.0]], [[3.0, 4.0]]]])  # d 0, 5, 5; s1 5, 0; s2 5
    preds = torch.tensor([[[[0.0, 0.0]], [[0.0, 0.0]], [[9.0, 12.0]]]])  # d 0, 0, 15; s1 0, 15; s2 15
    mean_pose = np.zeros((1, 2))
    expected = {
        "spatial": np.sqrt((0 + 25 + 100) / 3),
        "spatialNorm": np.sqrt((0 + 25 + 100) / 3) / np.sqrt((0 + 25 + 25) / 3),
        "energy": np.sqrt((25 + 225) / 2),
        "power": 10.0,
    }
    assert expressiveness(preds, target, mean_pose) == pytest.approx(expected)
    metric = Expressiveness(mean_pose)
    metric.update(preds, target)
    metric.update(target, target)  # a perfect batch of the same size halves spatial, energy and power
    result = {k: v.item() for k, v in metric.compute().items()}
    assert result == pytest.approx(
        {
            "spatial": expected["spatial"] / 2,
            "spatialNorm": expected["spatialNorm"] / 2,
            "energy": expected["energy"] / 2,
            "power": expected["power"] / 2,
        }
    )
    metric.reset()  # the spatialNorm denominator starts over too (the reference never resets it)
    metric.update(preds, target)
    assert metric.compute()["spatialNorm"].item() == pytest.approx(expected["spatialNorm"])


def test_expressiveness_speeds_stay_inside_each_sequence() -> None:
    still = torch.full((2, 3, 1, 2), 30.0)  # 30·√2 from the mean pose at the origin
    moved = still.clone()
    moved[1] += 100.0  # the second sequence sits elsewhere but never moves
    result = expressiveness(moved, still, np.zeros((1, 2)))
    assert result["energy"] == result["power"] == 0.0  # flattening the batch would see a 100·√2 px jump
    assert result["spatial"] == pytest.approx(100 * np.sqrt(2) / np.sqrt(2))  # half the frames off by 100·√2


def test_expressiveness_without_gt_spread_is_nan_and_warns() -> None:
    target = torch.zeros(1, 3, 1, 2)
    with pytest.warns(RuntimeWarning, match="spatialNorm not computed"):
        result = expressiveness(target + 1.0, target, np.zeros((1, 2)))
    assert np.isnan(result["spatialNorm"])
    with pytest.raises(ValueError, match="at least 3 frames"):
        expressiveness(torch.zeros(1, 2, 1, 2), torch.zeros(1, 2, 1, 2), np.zeros((1, 2)))


def test_diversity_and_l1_div_by_hand() -> None:
    poses = torch.tensor([[[[0.0, 0.0]], [[2.0, 4.0]]]])  # (B=1, T=2, J=1, 2)
    mean_pose = np.array([[1.0, 1.0]])
    assert diversity(poses, mean_pose) == pytest.approx((1 + 1 + 1 + 3) / 4)
    # sequence mean (1, 2): every frame deviates by |1| + |2| = 3 summed over coordinates
    assert l1_div(poses) == pytest.approx(3.0)
    metric = L1Div()
    metric.update(poses)
    metric.update(poses + 5.0)  # each row has its own sequence mean
    assert metric.compute().item() == pytest.approx(3.0)
    div = Diversity(mean_pose)
    div.update(poses)
    assert div.compute().item() == pytest.approx(1.5)


def test_identities(pose_data: dict) -> None:
    z = pose_data["target"]
    assert l1(z, z) == 0.0
    assert vel_l1(z, z) == 0.0
    px = torch.randn(2, 5, 3, 2) * 50
    assert pck(px, px) == {"PCK@0.1": 1.0, "PCK@0.2": 1.0, "PCK": 1.0}


@pytest.mark.parametrize("metric", [L1(), VelL1(), PCK(), PCKPerJoint(num_features=8)])
def test_shape_mismatch_names_both_shapes(metric) -> None:
    with pytest.raises(ValueError, match=r"preds \(2, 3, 4, 2\) and target \(2, 3, 5, 2\)"):
        metric.update(torch.zeros(2, 3, 4, 2), torch.zeros(2, 3, 5, 2))


def test_layout_errors() -> None:
    with pytest.raises(ValueError, match=r"model-space poses \(B, T, 2J\)"):
        l1(torch.zeros(2, 3, 4, 2), torch.zeros(2, 3, 4, 2))
    with pytest.raises(ValueError, match=r"pixel-space poses \(B, T, J, 2\)"):
        pck(torch.zeros(2, 3, 8), torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match=r"mean_pose must be \(J, 2\)"):
        diversity(torch.zeros(1, 2, 3, 2), np.zeros((4, 2)))
