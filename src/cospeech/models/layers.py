"""Building blocks shared by the convolutional gesture models.

Follows the Speech2Gesture family as C-DiffGAN implements it (reference notes §2): every block is a
``ConvNormRelu``, the audio goes through a 2-D CNN over (time, mel) and a 1-D U-Net over time. Channel
widths, kernel sizes and biases match the reference so parameter counts agree exactly; the code is our own.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

LEAKY_SLOPE = 0.2


Norm = Literal["batch", "instance", "frame"]
"""Normalisation of a ``ConvNormRelu``: ``batch`` (BatchNorm), ``instance`` (InstanceNorm without affine:
each channel over time, or over H×W in 2-D), ``frame`` (1-D only: each frame over its channels, without
affine; what Speech Drives Templates' 1-D InstanceNorm does, as it normalises the (B, T, C) transpose)."""


class ConvNormRelu(nn.Module):
    """Conv → Dropout(p) → BatchNorm → LeakyReLU(0.2), in 1-D ``(B, C, T)`` or 2-D ``(B, C, H, W)``.

    Kernel 3, stride 1, padding 1 keeps the length; ``downsample=True`` switches to kernel 4, stride 2,
    padding 1, which halves it (``T → T // 2``). ``groups`` splits the conv as in ``nn.Conv1d`` (both
    channel counts are totals, divisible by it); BatchNorm stays per channel. The conv keeps its bias
    although BatchNorm cancels it: the reference has it, and parameter counts are compared against the
    reference.

    Speech Drives Templates' blocks (notes sdt §3.1) differ in three options: ``bias=False`` (its convs
    have none), ``norm`` (``Norm``: its generator uses ``instance`` in 2-D and ``frame`` in 1-D) and
    ``leaky=False`` (plain ReLU).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        dim: Literal[1, 2] = 1,
        downsample: bool = False,
        kernel_size: int | tuple[int, int] | None = None,
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        p: float = 0.0,
        norm: Norm = "batch",
        bias: bool = True,
        leaky: bool = True,
    ) -> None:
        super().__init__()
        if norm == "frame" and dim != 1:
            raise ValueError("norm='frame' applies to 1-D ConvNormRelu only")
        kernel_size = kernel_size if kernel_size is not None else (4 if downsample else 3)
        stride = stride if stride is not None else (2 if downsample else 1)
        padding = padding if padding is not None else 1
        conv = nn.Conv1d if dim == 1 else nn.Conv2d
        self.conv = conv(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=bias
        )
        # p = 0 (every reference config) skips the dropout call altogether.
        self.dropout = (nn.Dropout(p) if dim == 1 else nn.Dropout2d(p)) if p > 0 else nn.Identity()
        self.norm = _norm(norm, dim, out_channels)
        # in place on the norm's fresh output, saves a copy
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True) if leaky else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.dropout(self.conv(x))))


class FrameNorm(nn.Module):
    """``(B, C, T)`` → each frame normalised over its C channels (zero mean, unit biased variance, eps
    1e-5, no affine): equal to ``nn.InstanceNorm1d`` applied to the ``(B, T, C)`` transpose, as Speech
    Drives Templates does (notes sdt §3.1), without its size-mismatch warning."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.transpose(1, 2), x.shape[1:2]).transpose(1, 2)


def _norm(norm: Norm, dim: int, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm1d(channels) if dim == 1 else nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm1d(channels) if dim == 1 else nn.InstanceNorm2d(channels)
    if norm == "frame":
        return FrameNorm()
    raise ValueError(f"norm={norm!r}; expected one of batch, instance, frame")


class AudioEncoder(nn.Module):
    """Log-mel frames ``(B, T, F)`` → speech features ``(B, C, T)``.

    Three stages of (CNR k3, CNR k4 s2) over the (time, mel) plane, widths ``C/4, C/2, C``, bring it to
    ``(B, C, T/8, F/8)``; a CNR k3 and a CNR with kernel (3, 8), padding (1, 3) follow. As in the reference,
    only mel column 0 of the result is kept and each of the ``T/8`` steps is repeated 8 times, so the
    features change every 8 frames (the reference does this with nearest interpolation).

    ``time_stride`` s ∈ {1, 2, 4, 8} (default 8, the reference) is a finer option: only the first
    ``log2 s`` stages halve time; the others halve the mel axis alone (kernel (3, 4), stride (1, 2), padding
    (1, 1)), so the features change every ``s`` frames. Below 8 the parameter count differs from the
    reference's, and the later stages run on ``8/s`` times as many time steps.

    ``T`` must be a multiple of ``time_stride``; the generators pad to it. ``F ≥ 16``.
    """

    def __init__(self, out_channels: int = 256, *, p: float = 0.0, time_stride: int = 8) -> None:
        super().__init__()
        if time_stride not in (1, 2, 4, 8):
            raise ValueError(f"AudioEncoder time_stride must be 1, 2, 4 or 8, got {time_stride}")
        self.time_stride = time_stride
        widths = (out_channels // 4, out_channels // 2, out_channels)
        layers: list[nn.Module] = []
        c_in = 1
        for stage, width in enumerate(widths):
            layers.append(ConvNormRelu(c_in, width, dim=2, p=p))
            if 2**stage < time_stride:  # this stage halves time and mel
                layers.append(ConvNormRelu(width, width, dim=2, downsample=True, p=p))
            else:  # mel only
                layers.append(
                    ConvNormRelu(width, width, dim=2, kernel_size=(3, 4), stride=(1, 2), padding=(1, 1), p=p)
                )
            c_in = width
        layers.append(ConvNormRelu(c_in, c_in, dim=2, p=p))
        layers.append(ConvNormRelu(c_in, c_in, dim=2, kernel_size=(3, 8), padding=(1, 3), p=p))
        # the weights in the layout of the activations (`planes`): oneDNN otherwise reorders each weight on
        # every call, and the eval shortcut's matrix products read them in place
        self.convs = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.column_zero_reach = _mel_reach(self.convs)
        """Per layer, the input mel columns ``[0, reach)`` that column 0 of the last layer depends on
        (62, 61, 30, 29, 14, 13, 6, 5 for the reference layers: mel bins 0…61 of the input)."""

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        B, T, _ = audio.shape
        if T % self.time_stride:
            raise ValueError(f"AudioEncoder needs T divisible by {self.time_stride}, got T={T}")
        # (B, C, T/s): mel column 0, what the reference's nearest interpolation to width 1 keeps
        x = self.convs(planes(audio))[..., 0] if self.training else self._column_zero(audio)
        C, steps = x.shape[1], x.shape[2]
        # (B, C, T/s, s) → (B, C, T): each step held for s frames; backward is a plain sum.
        return x.unsqueeze(-1).expand(B, C, steps, self.time_stride).reshape(B, C, T)

    def _column_zero(self, audio: torch.Tensor) -> torch.Tensor:
        """Eval-mode shortcut with the same output to float32 rounding: every layer computes only the mel
        columns that feed column 0 of the last one (``column_zero_reach``), so the encoder does 0.73× the
        multiply-adds of the full width for 64 mel bins (0.36× for 128). Each layer's input is cut to those
        columns; the left padding is unchanged and the outputs the cut edge reaches are never read. The
        first layer (one input channel) and the last (kernel (3, 8), of which only output column 0 is
        read) run as matrix products (`_matmul_block`); the others as oneDNN convolutions. In training the
        full width runs, because BatchNorm's batch statistics span every column."""
        first, *middle, last = self.convs
        reach = self.column_zero_reach
        x = _matmul_block(first, audio[..., : reach[0]].unsqueeze(1), columns=reach[1])
        for layer, width in zip(middle, reach[1:-1], strict=True):
            x = layer(x[..., :width])
        return _matmul_block(last, x[..., : reach[-1]], columns=1)[..., 0]


def _matmul_block(block: ConvNormRelu, x: torch.Tensor, *, columns: int) -> torch.Tensor:
    """``block(x)[..., :columns]`` in eval mode for a 2-D block with stride 1 and BatchNorm (or its norm
    folded into the conv, `fold_batch_norms`): ``x (B, C, H, W)`` → ``(B, C', H', min(W', columns))``
    channels-last, equal to float32 rounding. The convolution is one matrix product of the kh·kw shifted
    copies of ``x`` (read channels-last) with the weight, the norm applied to its output as one scale and
    shift, the activation in place.

    Where oneDNN is slow: its direct convolution of a single input channel (the encoder's first layer)
    runs at ≈4 GFLOP/s and writes NCHW that the stack then copies to NHWC (the layer took 5× as long,
    20 % of the generator's time for 1 % of its FLOPs); for the last layer's (3, 8) kernel on 8 × 5 inputs
    it ran at ≈2 GFLOP/s and computed 4 output columns of which 1 is read (13 % of the generator's time).
    The weight is read in place (the encoder keeps its weights channels-last)."""
    conv, norm = block.conv, block.norm
    shift = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, device=x.device)
    scale = None
    if isinstance(norm, nn.modules.batchnorm._BatchNorm):  # SyncBatchNorm too (Trainer sync_batchnorm)
        scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
        shift = norm.bias + (shift - norm.running_mean) * scale
    elif not isinstance(norm, nn.Identity):  # folded by fold_batch_norms; no other norm is handled here
        raise TypeError(f"_matmul_block takes BatchNorm or a folded norm, not {type(norm).__name__}")
    (kh, kw), (ph, pw) = conv.kernel_size, conv.padding
    H, W = x.shape[2] + 2 * ph - kh + 1, min(x.shape[3] + 2 * pw - kw + 1, columns)
    x = F.pad(x, (pw, pw, ph, ph)).permute(0, 2, 3, 1)  # (B, H + 2ph, W + 2pw, C)
    shifted = torch.stack([x[:, i : i + H, j : j + W] for i in range(kh) for j in range(kw)], dim=-2)
    weight = conv.weight.permute(0, 2, 3, 1).flatten(1)  # (C', kh·kw·C), a view if channels-last
    y = shifted.flatten(-2) @ weight.t()  # (B, H', W', C')
    if scale is not None:
        y.mul_(scale)
    return block.act(y.add_(shift)).permute(0, 3, 1, 2)


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """For inference only: fold the BatchNorm of every `ConvNormRelu` in ``module`` (eval mode) into its
    convolution (``torch.nn.utils.fusion.fuse_conv_bn_eval``: weight · γ/σ, bias shifted), the norm
    replaced by ``nn.Identity``; in place, returns ``module``. The outputs equal the unfolded module's to
    float32 rounding and skip one pass over every activation (5–8 % of speech2gesture's eval forward on
    the CPU). Training the result would train without normalisation, so only
    ``GestureGenerator.from_pretrained`` folds, the generator it builds itself. Raises ``ValueError`` for
    a module in training mode."""
    if module.training:
        raise ValueError("fold_batch_norms needs a module in eval mode (the running statistics are folded)")
    for block in module.modules():
        if isinstance(block, ConvNormRelu) and isinstance(block.norm, nn.modules.batchnorm._BatchNorm):
            block.conv = fuse_conv_bn_eval(block.conv, block.norm)
            block.norm = nn.Identity()
    return module


def _mel_reach(convs: nn.Sequential) -> tuple[int, ...]:
    """Input mel columns ``[0, reach)`` each layer of ``convs`` needs so that column 0 of the last output is
    exact: walking back from it, the first n outputs of a layer with mel kernel k, stride s and padding p
    read input columns up to ``s·(n − 1) − p + k − 1``."""
    reach, n = [], 1
    for layer in reversed(convs):
        conv = layer.conv
        n = conv.stride[1] * (n - 1) - conv.padding[1] + conv.kernel_size[1]
        reach.append(n)
    return tuple(reversed(reach))


def planes(audio: torch.Tensor) -> torch.Tensor:
    """``(B, T, F)`` → the 1-channel image ``(B, 1, T, F)`` as a channels-last (NHWC) view, no copy.

    A 1-channel tensor has both layouts' strides, and the convolution reads the layout from them: this
    view makes the first conv write channels-last, and every later conv keeps it. oneDNN's CPU
    convolutions run faster on NHWC than on NCHW (about 1.2× for the audio encoder), and it saves the
    copy (and its backward) that converting the first conv's output would cost (about 5 % of a bf16
    training step). The result equals the NCHW path's within float rounding (another conv kernel)."""
    return audio.unsqueeze(-1).permute(0, 3, 1, 2)


class UNet1D(nn.Module):
    """1-D U-Net over time, ``(B, C_in, T)`` → ``(B, C, T)``, all layers ``C`` wide.

    Two CNR k3, then ``depth`` downsampling CNRs (``T → T/2 … T/2^depth``); on the way up each level is
    upsampled (nearest) to the length of its skip, the skip is **added**, and a CNR k3 follows. Matching the
    skip's length instead of doubling lets any ``T ≥ 2^depth`` through, not only multiples of ``2^depth``.

    ``upsample="linear"`` interpolates linearly instead (Speech Drives Templates' ``UNet_1D``); ``block``
    options (``norm``, ``bias``, ``leaky``) go to every ``ConvNormRelu``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        *,
        depth: int = 5,
        p: float = 0.0,
        upsample: Literal["nearest", "linear"] = "nearest",
        **block: Any,
    ) -> None:
        super().__init__()
        self.min_length = 2**depth
        self.upsample = upsample
        self.pre = nn.Sequential(
            ConvNormRelu(in_channels, channels, p=p, **block), ConvNormRelu(channels, channels, p=p, **block)
        )
        self.down = nn.ModuleList(
            ConvNormRelu(channels, channels, downsample=True, p=p, **block) for _ in range(depth)
        )
        self.up = nn.ModuleList(ConvNormRelu(channels, channels, p=p, **block) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < self.min_length:
            raise ValueError(
                f"UNet1D of depth {len(self.down)} needs T ≥ {self.min_length}, got T={x.shape[-1]}"
            )
        x = self.pre(x)
        skips = [x]
        for conv in self.down:
            x = conv(x)
            skips.append(x)
        skips.pop()  # the bottleneck is x itself
        for conv in self.up:
            skip = skips.pop()
            x = conv(F.interpolate(x, size=skip.shape[-1], mode=self.upsample) + skip)
        return x
