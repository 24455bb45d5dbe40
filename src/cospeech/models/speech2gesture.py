"""Speech2Gesture (Ginosar et al., CVPR 2019) as C-DiffGAN's ``Speech2Gesture_G`` / ``Speech2Gesture_D``.

Reproduced from the reference (notes §2–§4): the layer layout, widths and parameter counts (generator
7,422,752 and discriminator 190,657 for 48 joints), and the output of a 64-frame window. Changed: the
reference U-Net crashes unless T is a multiple of 32; here any ``T ≥ 1`` works (see
``Speech2GestureGenerator.forward``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cospeech.models.interface import Generator, GeneratorOutput
from cospeech.models.layers import LEAKY_SLOPE, AudioEncoder, ConvNormRelu, UNet1D
from cospeech.models.registry import from_data, raise_if_invalid, range_problems, register_model
from cospeech.skeletons import PATS48


@dataclass(frozen=True)
class Speech2GestureConfig:
    """Speech2Gesture generator; the defaults are the reference model for ``pats48``."""

    pose_dim: int = from_data(2 * PATS48.num_joints)
    """Pose features per output frame, 2J in the ``[x…, y…]`` layout (from the data)."""
    channels: int = 256
    """Width C of the audio features, the U-Net and the decoder; the audio encoder's first stages use C/4
    and C/2, so C must be divisible by 4."""
    unet_depth: int = 5
    """Downsampling levels of the U-Net; shorter inputs are padded to ``2^unet_depth`` frames."""
    decoder_layers: int = 4
    """ConvNormRelu k3 blocks between the U-Net and the final 1×1 conv to ``pose_dim``."""
    dropout: float = 0.0
    """Dropout probability after every conv (the reference trains with 0)."""

    def __post_init__(self) -> None:
        problems = range_problems(self, {"pose_dim": 1}, ("dropout",))
        if self.channels < 4 or self.channels % 4:
            problems.append(f"channels must be a positive multiple of 4, got {self.channels}")
        problems += range_problems(self, {"unet_depth": 1, "decoder_layers": 0})
        raise_if_invalid(self, problems)


@register_model("speech2gesture", config=Speech2GestureConfig)
class Speech2GestureGenerator(Generator):
    """Log-mel audio ``(B, T, F)`` → z-normalised poses ``(B, T, 2J)``; one speaker style, no text.

    ``audio_encoder`` (2-D CNN to ``(B, C, T)``) → ``unet`` (1-D U-Net) → ``decoder`` (CNR k3 blocks and a
    1×1 conv to ``2J``). The three attributes are the parts whose parameters the reference reports.
    """

    def __init__(self, config: Speech2GestureConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or Speech2GestureConfig()
        C, p = config.channels, config.dropout
        self.audio_encoder = AudioEncoder(C, p=p)
        self.unet = UNet1D(C, C, depth=config.unet_depth, p=p)
        self.decoder = nn.Sequential(
            *(ConvNormRelu(C, C, p=p) for _ in range(config.decoder_layers)),
            nn.Conv1d(C, config.pose_dim, kernel_size=1),
        )

    def forward(self, audio: torch.Tensor) -> GeneratorOutput:
        """``audio (B, T, F)`` → poses ``(B, T, 2J)``; no auxiliary losses.

        Any ``T ≥ 1``: the audio is padded at the end, by repeating its last frame, to a multiple of 8 (the
        audio encoder's stride) and to at least ``2^unet_depth`` frames; the output is cut back to ``T``.
        A 64-frame window needs no padding and is computed exactly as in the reference.
        """
        B, T, n_mels = audio.shape
        stride = self.audio_encoder.time_stride
        length = max(self.unet.min_length, -(-T // stride) * stride)
        if length > T:
            audio = torch.cat((audio, audio[:, -1:].expand(B, length - T, n_mels)), dim=1)
        x = self.unet(self.audio_encoder(audio))  # (B, C, T')
        return GeneratorOutput(self.decoder(x)[..., :T].transpose(1, 2))  # (B, 2J, T) → (B, T, 2J)


@dataclass(frozen=True)
class MotionDiscriminatorConfig:
    """Speech2Gesture's patch discriminator on pose velocities; the defaults are the reference model."""

    pose_dim: int = from_data(2 * PATS48.num_joints)
    """Pose features per frame, 2J (from the data)."""
    channels: int = 64
    """Width of the first conv; it doubles at every later layer."""
    downsampling: int = 2
    """Stride-2 layers (the first conv and ``downsampling − 1`` CNRs); the input needs at least
    ``5 · 2^downsampling`` frames."""
    dropout: float = 0.0
    """Dropout probability after every CNR conv (the reference trains with 0)."""

    def __post_init__(self) -> None:
        problems = range_problems(self, {"pose_dim": 1, "channels": 1, "downsampling": 1}, ("dropout",))
        raise_if_invalid(self, problems)


@register_model("motion_discriminator", config=MotionDiscriminatorConfig, kind="discriminator")
class MotionDiscriminator(nn.Module):
    """Pose **velocity** ``(B, T, 2J)`` → patch realism scores ``(B, T/2^d − 4)``, unbounded (no sigmoid).

    The caller takes the velocity (``cospeech.data.poses.velocity``: ``v_0 = 0``, ``v_t = y_t − y_{t−1}``),
    as the reference trainer does, so the network judges motion rather than posture. For ``T = 64`` and the
    default ``d = 2`` downsamplings there are 12 patches, each seeing 34 frames.
    """

    def __init__(self, config: MotionDiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MotionDiscriminatorConfig()
        C, d, p = config.channels, config.downsampling, config.dropout
        self.min_length = 5 * 2**d
        self.convs = nn.Sequential(
            nn.Conv1d(config.pose_dim, C, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            *(ConvNormRelu(C * 2**i, C * 2 ** (i + 1), downsample=True, p=p) for i in range(d - 1)),
            ConvNormRelu(C * 2 ** (d - 1), C * 2**d, kernel_size=4, stride=1, padding=1, p=p),  # T' → T' − 1
            nn.Conv1d(C * 2**d, 1, kernel_size=4),  # T' − 1 → T' − 4
        )

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        """``motion (B, T, 2J)`` pose velocity → scores ``(B, T/2^d − 4)``."""
        if motion.shape[1] < self.min_length:
            raise ValueError(
                f"MotionDiscriminator needs T ≥ {self.min_length} frames, got T={motion.shape[1]}"
            )
        return self.convs(motion.transpose(1, 2)).squeeze(1)
