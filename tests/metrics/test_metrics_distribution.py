"""FID, FGD and W1: hand-computed values, agreement with direct NumPy/SciPy computations, identities, and
failures that report NaN with a warning instead of a number."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from metrics_testdata import LATENT, TinyEncoder

from cospeech.data.poses import flat_to_joints
from cospeech.metrics import (
    FGD,
    FID,
    W1,
    W1_BIN_EDGES,
    extractor_fingerprint,
    fgd,
    fid,
    frechet_distance,
    mean_joint_speed,
    w1,
)


def test_fid_by_hand() -> None:
    real = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]])  # (1, 4, 2J=2), Σ = 4/3·I
    fake = real + torch.tensor([3.0, 4.0])  # same covariance, mean moved by 5
    assert fid(fake, real) == pytest.approx(25.0, abs=1e-9)
    metric = FID(num_features=2)
    metric.update(fake, real)
    assert metric.compute().item() == pytest.approx(25.0, abs=1e-9)


def test_fid_equals_direct_scipy_computation(pose_data: dict) -> None:
    preds, target = pose_data["preds"], pose_data["target"]
    x = preds.double().reshape(-1, preds.shape[-1]).numpy()
    y = target.double().reshape(-1, target.shape[-1]).numpy()
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(cov_y @ cov_x).real
    expected = np.sum((mu_x - mu_y) ** 2) + np.trace(cov_x) + np.trace(cov_y) - 2 * np.trace(root)
    assert fid(preds, target) == pytest.approx(expected, rel=1e-9)
    metric = FID()
    metric.update(preds, target)
    assert metric.compute().item() == pytest.approx(expected, rel=1e-9)


def test_fid_identity_is_zero(pose_data: dict) -> None:
    target = pose_data["target"]
    assert fid(target, target) == pytest.approx(0.0, abs=1e-6)


def test_fid_too_few_frames_is_nan_with_warning() -> None:
    with pytest.warns(RuntimeWarning, match="at least 2 samples"):
        assert np.isnan(fid(torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)))


def test_frechet_failure_is_nan_with_warning() -> None:
    not_psd = np.diag([1.0, -1.0])  # sqrtm has an imaginary diagonal: pytorch-fid raises, Mix-StAGE says 1000
    with pytest.warns(RuntimeWarning, match="imaginary"):
        assert np.isnan(frechet_distance(np.zeros(2), not_psd, np.zeros(2), np.eye(2)))


def test_fid_of_a_constant_prediction_is_exact_and_silent() -> None:
    # the mean-pose baseline: Σ_pred = 0 makes Σ₁Σ₂ singular, scipy's sqrtm warns "Matrix is singular";
    # the root is exactly 0, so FID = ‖μ₁ − μ₂‖² + Tr Σ_real, reported without any warning
    real = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]])  # Σ = 4/3·I, μ = (1, 1)
    constant = torch.full_like(real, 5.0)  # μ = (5, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fid(constant, real) == pytest.approx(16.0 + 16.0 + 8.0 / 3.0, abs=1e-9)


def test_fid_feature_size_is_checked() -> None:
    with pytest.raises(ValueError, match=r"built for 96 features, got features of shape \(1, 3, 4\)"):
        FID().update(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4))


class TimeMean(torch.nn.Module):
    """A parameter-free extractor: the mean pose of each sequence."""

    def encode(self, poses: torch.Tensor) -> torch.Tensor:
        return poses.mean(dim=1)


def test_fgd_by_hand() -> None:
    # sequence means (0,0), (2,0), (0,2), (2,2) vs the same moved by (3, 4): FGD = 5² as for FID above
    corners = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    real = corners.unsqueeze(1) + torch.tensor([[[-1.0, 1.0]], [[1.0, -1.0]]]).transpose(0, 1)  # (4, 2, 2)
    metric = FGD(TimeMean(), num_features=2)
    metric.update(real + torch.tensor([3.0, 4.0]), real)
    assert metric.compute()["FGD"].item() == pytest.approx(25.0, abs=1e-9)
    assert metric.extractor_id == f"TimeMean@{extractor_fingerprint(TimeMean())}"


def test_fgd_matches_fid_on_features_and_records_the_extractor(pose_data: dict, encoder: TinyEncoder) -> None:
    preds, target = pose_data["preds"], pose_data["target"]
    metric = FGD(encoder, num_features=LATENT, name="tiny")
    metric.train()  # a parent switching to training must not turn the extractor's dropout on
    assert not encoder.training
    metric.update(preds, target)
    result = metric.compute()
    with torch.no_grad():
        expected = fid(encoder.encode(preds).unsqueeze(0), encoder.encode(target).unsqueeze(0))
    assert result["FGD"].item() == pytest.approx(expected, rel=1e-9)
    assert fgd(preds, target, encoder) == pytest.approx(expected, rel=1e-9)
    assert metric.extractor_id == f"tiny@{extractor_fingerprint(encoder)}" == result["extractor"]
    assert len(metric.extractor_hash) == 12


def test_fgd_identity_is_zero(pose_data: dict, encoder: TinyEncoder) -> None:
    target = pose_data["target"]
    assert fgd(target, target, encoder.eval()) == pytest.approx(0.0, abs=1e-6)


def test_extractor_fingerprint_follows_the_weights(encoder: TinyEncoder) -> None:
    twin = TinyEncoder()
    twin.load_state_dict(encoder.state_dict())
    assert extractor_fingerprint(twin) == extractor_fingerprint(encoder)
    with torch.no_grad():
        twin.proj.bias.add_(1e-3)
    assert extractor_fingerprint(twin) != extractor_fingerprint(encoder)


def test_fgd_needs_an_encode_method() -> None:
    with pytest.raises(TypeError, match="encode"):
        FGD(torch.nn.Linear(2, 2), num_features=2)


def test_w1_by_hand() -> None:
    # one joint moving 0 → 1.03 → 3.11 px: speeds 1.03, 2.08 (bins 1.0, 2.0), acceleration 1.05 (bin 1.0)
    preds = torch.tensor([0.0, 1.03, 3.11], dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 1, 2)
    preds = preds * torch.tensor([1.0, 0.0], dtype=torch.float64)
    target = torch.zeros_like(preds)  # still: everything in bin 0.0
    assert w1(preds, target) == pytest.approx({"W1_vel": 1.5, "W1_acc": 1.0}, abs=1e-9)


def test_w1_equals_scipy_on_numpy_histograms(pose_data: dict) -> None:
    mean, std = torch.tensor(pose_data["mean"]), torch.tensor(pose_data["std"])
    preds = flat_to_joints(pose_data["preds"].double() * std + mean)
    target = flat_to_joints(pose_data["target"].double() * std + mean)
    support = W1_BIN_EDGES[:-1]
    expected = {}
    for key, order in (("W1_vel", 1), ("W1_acc", 2)):
        u, _ = np.histogram(mean_joint_speed(preds, order).numpy(), bins=W1_BIN_EDGES)
        v, _ = np.histogram(mean_joint_speed(target, order).numpy(), bins=W1_BIN_EDGES)
        expected[key] = scipy.stats.wasserstein_distance(support, support, u, v)
    metric = W1()
    metric.update(preds, target)
    assert {k: v.item() for k, v in metric.compute().items()} == pytest.approx(expected, rel=1e-9)
    assert w1(preds, target) == pytest.approx(expected, rel=1e-9)
    assert w1(target, target) == {"W1_vel": 0.0, "W1_acc": 0.0}


def test_w1_speeds_beyond_the_bins_are_dropped_and_empty_is_nan() -> None:
    fast = torch.arange(4, dtype=torch.float64).view(1, 4, 1, 1).expand(1, 4, 1, 2) ** 2 * 1000.0
    with pytest.warns(RuntimeWarning, match="histogram is empty"):
        result = w1(fast, torch.zeros_like(fast))
    assert np.isnan(result["W1_vel"]) and np.isnan(result["W1_acc"])
