"""Pose autoencoder: size, deterministic features for FGD, the VAE mode, window lengths, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cospeech.errors import ConfigError
from cospeech.models import build_model
from cospeech.models.pose_autoencoder import PoseAutoencoder, PoseAutoencoderConfig
from cospeech.skeletons import PATS48

POSE_DIM = 2 * PATS48.num_joints


pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny(**overrides: object) -> PoseAutoencoder:
    torch.manual_seed(0)
    return build_model("pose_autoencoder", **{"channels": 16, "window": 16, "downsampling": 2, **overrides})


def test_default_size_is_small() -> None:
    assert sum(p.numel() for p in PoseAutoencoder().parameters()) == 2_401_664
    vae = PoseAutoencoder(PoseAutoencoderConfig(variational=True))
    assert sum(p.numel() for p in vae.parameters()) == 2_434_464


def test_shapes() -> None:
    model = PoseAutoencoder().eval()
    out = model(torch.randn(3, 64, POSE_DIM))
    assert out.reconstruction.shape == (3, 64, POSE_DIM)
    assert out.mu.shape == (3, 32)
    assert out.logvar is None


def test_encode_is_deterministic_and_is_the_mean() -> None:
    model = _tiny(variational=True).eval()
    pose = torch.randn(4, 16, POSE_DIM)
    with torch.no_grad():
        features = model.encode(pose)
        torch.testing.assert_close(model.encode(pose), features)
        out = model(pose)
        torch.testing.assert_close(out.mu, features)
        torch.testing.assert_close(out.reconstruction, model.decode(features))  # eval: μ, not a sample
    assert out.logvar is not None and out.logvar.shape == features.shape


def test_variational_model_samples_only_in_training() -> None:
    pose = torch.randn(4, 16, POSE_DIM)
    vae, plain = _tiny(variational=True).train(), _tiny().train()
    with torch.no_grad():
        assert not torch.equal(vae(pose).reconstruction, vae(pose).reconstruction)
        torch.testing.assert_close(plain(pose).reconstruction, plain(pose).reconstruction)


def test_window_length_is_configurable_and_enforced() -> None:
    model = _tiny(window=32)
    assert model(torch.randn(2, 32, POSE_DIM)).reconstruction.shape == (2, 32, POSE_DIM)
    with pytest.raises(ValueError, match="windows of 32 frames.*got T=16"):
        model(torch.randn(2, 16, POSE_DIM))
    with pytest.raises(ConfigError, match="multiple of 2\\^downsampling = 4, got 18"):
        PoseAutoencoderConfig(window=18, downsampling=2)


@pytest.mark.parametrize("variational", [False, True])
def test_few_adam_steps_lower_the_reconstruction_loss(variational: bool) -> None:
    model = _tiny(variational=variational)
    pose = torch.randn(8, 16, POSE_DIM)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = F.l1_loss(model(pose).reconstruction, pose)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]
