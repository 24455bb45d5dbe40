"""Pose-sequence autoencoder: the feature extractor behind FGD and, with ``variational=True``, the pose VAE
of Speech Drives Templates (SDT-VAE).

Follows the shape of SDT's pose2pose ``Autoencoder`` (reference notes §3.7): ConvNormRelu stacks that halve
the length down to a short sequence, a code per window, and a mirror-image decoder. Changed on purpose:

* the code comes from a linear layer over the whole bottleneck sequence, not from nearest interpolation
  to length 1 (which keeps only the first half of the window);
* μ and log σ² are plain linear outputs (SDT passes them through BatchNorm and LeakyReLU);
* the code is sampled only in training mode, so ``encode`` and the eval forward are deterministic.

The window length ``T`` is a config field (64 frames by default, the PATS training window); any length
divisible by ``2^downsampling`` works, and a model accepts exactly the length it was built for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cospeech.models.layers import ConvNormRelu
from cospeech.models.registry import from_data, raise_if_invalid, range_problems, register_model
from cospeech.skeletons import PATS48


@dataclass(frozen=True)
class PoseAutoencoderConfig:
    """Pose autoencoder; the defaults (about 2.4 M parameters) encode 64-frame ``pats48`` windows."""

    pose_dim: int = from_data(2 * PATS48.num_joints)
    """Pose features per frame, 2J."""
    window: int = from_data(64)
    """Frames T per sequence, fixed per model because the code spans the whole window; set it to the
    window length of the data. Must be divisible by ``2^downsampling``."""
    channels: int = 256
    """Width of every conv layer."""
    downsampling: int = 4
    """Stride-2 encoder layers (and ×2 decoder upsamplings); the bottleneck has ``window / 2^downsampling``
    steps."""
    latent_dim: int = 32
    """Size D of the code, i.e. of the features ``encode`` returns (SDT uses 32)."""
    variational: bool = False
    """Also predict log σ² and, in training mode, decode a sample ``μ + σ·ε`` (SDT-VAE); the caller adds
    the KL term. ``encode`` returns μ either way."""
    dropout: float = 0.0
    """Dropout probability after every conv."""

    def __post_init__(self) -> None:
        problems = range_problems(self, {"pose_dim": 1})
        if self.downsampling < 0:
            problems.append(f"downsampling must be ≥ 0, got {self.downsampling}")
        elif self.window < 2**self.downsampling or self.window % 2**self.downsampling:
            multiple = 2**self.downsampling
            problems.append(
                f"window must be a positive multiple of 2^downsampling = {multiple}, got {self.window}"
            )
        problems += range_problems(self, {"channels": 1, "latent_dim": 1}, ("dropout",))
        raise_if_invalid(self, problems)


@dataclass
class PoseAutoencoderOutput:
    """What ``PoseAutoencoder.forward`` returns."""

    reconstruction: torch.Tensor
    """Decoded poses ``(B, T, 2J)``."""
    mu: torch.Tensor
    """Code means ``(B, D)``: the deterministic features."""
    logvar: torch.Tensor | None
    """Code log-variances ``(B, D)`` for the KL term; ``None`` unless ``variational``."""


@register_model("pose_autoencoder", config=PoseAutoencoderConfig, kind="autoencoder")
class PoseAutoencoder(nn.Module):
    """Pose window ``(B, T, 2J)`` → code ``(B, D)`` → reconstruction ``(B, T, 2J)``.

    Encoder: CNR k3 ``2J → C``, CNR k3, ``downsampling`` × CNR k4 s2, then a linear map of the flattened
    ``(C, T / 2^d)`` bottleneck to μ (and log σ²). Decoder: a linear map back to ``(C, T / 2^d)``, ``d`` ×
    (linear ×2 upsampling, CNR k3), one more CNR k3 and a 1×1 conv to ``2J``.

    BatchNorm makes train-mode outputs depend on the batch: call ``eval()`` before extracting features.
    """

    def __init__(self, config: PoseAutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PoseAutoencoderConfig()
        C, p = config.channels, config.dropout
        self.bottleneck_length = config.window // 2**config.downsampling
        flat = C * self.bottleneck_length
        self.encoder = nn.Sequential(
            ConvNormRelu(config.pose_dim, C, p=p),
            ConvNormRelu(C, C, p=p),
            *(ConvNormRelu(C, C, downsample=True, p=p) for _ in range(config.downsampling)),
        )
        self.to_code = nn.Linear(flat, config.latent_dim * (2 if config.variational else 1))
        self.from_code = nn.Linear(config.latent_dim, flat)
        self.up = nn.ModuleList(ConvNormRelu(C, C, p=p) for _ in range(config.downsampling))
        self.head = nn.Sequential(ConvNormRelu(C, C, p=p), nn.Conv1d(C, config.pose_dim, kernel_size=1))

    def forward(self, pose: torch.Tensor) -> PoseAutoencoderOutput:
        """``pose (B, T, 2J)`` → reconstruction, μ and log σ². A variational model in training mode decodes a
        sample; otherwise the decoder gets μ."""
        mu, logvar = self._code_stats(pose)
        code = mu
        if logvar is not None and self.training:
            code = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return PoseAutoencoderOutput(reconstruction=self.decode(code), mu=mu, logvar=logvar)

    def encode(self, pose: torch.Tensor) -> torch.Tensor:
        """``pose (B, T, 2J)`` → features ``(B, D)``: the code mean μ, never a sample (FGD needs the same
        features for the same poses)."""
        return self._code_stats(pose)[0]

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """``code (B, D)`` → poses ``(B, T, 2J)`` with ``T = window``."""
        x = self.from_code(code).view(code.shape[0], -1, self.bottleneck_length)  # (B, C, T / 2^d)
        for conv in self.up:
            x = conv(F.interpolate(x, scale_factor=2, mode="linear"))
        return self.head(x).transpose(1, 2)  # (B, 2J, T) → (B, T, 2J)

    def _code_stats(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``pose (B, T, 2J)`` → μ ``(B, D)`` and log σ² ``(B, D)`` (``None`` unless variational)."""
        if pose.shape[1] != self.config.window:
            raise ValueError(
                f"PoseAutoencoder encodes windows of {self.config.window} frames (config window), "
                f"got T={pose.shape[1]}"
            )
        stats = self.to_code(self.encoder(pose.transpose(1, 2)).flatten(1))  # (B, D) or (B, 2D)
        if not self.config.variational:
            return stats, None
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar
