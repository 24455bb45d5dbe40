"""L1, VelL1, PCK, diversity and L1div: hand-computed values, identities, batch weighting, shape errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cospeech.metrics import L1, PCK, Diversity, L1Div, VelL1, diversity, l1, l1_div, pck, vel_l1


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


@pytest.mark.parametrize("metric", [L1(), VelL1(), PCK()])
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
