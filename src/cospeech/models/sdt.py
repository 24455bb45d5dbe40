"""Speech Drives Templates (Qian et al., ICCV 2021): the ``SequenceGeneratorCNN`` generator with its template
bank, and the ``PoseSequenceDiscriminator`` of SDT's Speech2Gesture baseline.

Reproduced from the reference (notes sdt §3): SDT's 2-D audio encoder over the mel spectrogram (four
stages to ``(B, C, 5, ·)``, then **bilinear** interpolation to ``(1, T)``), the per-utterance template tiled
over time and concatenated, a 1-D U-Net with **linear** upsampling and additive skips, four CNR blocks and
a 1×1 conv; convs without bias and Kaiming-normal initialised; InstanceNorm with SDT's quirk in 1-D (each
frame normalised over its channels, ``ConvNormRelu(norm="frame")``) or BatchNorm (the S2G baseline). The
generator has 7,075,122 parameters for SDT-BP at 121 joints (242 features), the reference's count of
``netG``; the template bank (one row per training window) is counted apart, as in the reference, where it
is ``clips_code`` outside ``netG``.

Changed: the mel arrives on the pose clock (``subframes`` mel columns per pose frame, 7 for ``audio/mel_80``,
so a 64-frame window gives 448 columns where the reference's 68,266 samples give 427) and z-normalised by
the data module (the reference feeds raw power); the template bank lives in the generator, so checkpoints
and exports carry it and ``--template-from`` needs only the model.

Test-time templates (notes sdt §3.5): ``sample_inputs`` draws, by default as the reference, the bank row of a
uniformly random training window per utterance (``template_source: bank``); ``template_source: prior``
draws from N(0, I) (the reference's ``CLIP_CODE.SAMPLE_FROM_NORMAL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from cospeech.errors import ConfigError
from cospeech.models.interface import STANDARD_INPUTS, Generator, GeneratorOutput, InputSpec
from cospeech.models.layers import ConvNormRelu, UNet1D
from cospeech.models.registry import from_data, raise_if_invalid, range_problems, register_model

SDT_POSE_DIM = 242
"""2 · 121 joints of the ``sdt121`` skeleton."""
SDT_AUDIO_DIM = 7 * 80
"""``audio/mel_80``: 80 mel bins × 7 sub-frames per pose frame."""

TemplateSource = Literal["bank", "prior"]
"""Where a sampled template comes from: ``bank`` (a random training window's row) or ``prior`` (N(0, I))."""


class SDTAudioEncoder(nn.Module):
    """Mel spectrogram ``(B, 1, M, N)`` (M bins, N columns) → features ``(B, C, T)``.

    Four stages of (CNR k3, CNR k4 s2 | kernel (6, 3) without padding), widths ``C/4, C/2, C, C``; for
    ``M = 80`` the mel axis ends at 5 rows (notes sdt §3.3). The map is then resized bilinearly to
    ``(1, T)``, so the pose rate is reached by interpolation and any length works. Needs ``M ≥ 48`` and
    ``N ≥ 24``.
    """

    def __init__(self, channels: int = 256, **block: object) -> None:
        super().__init__()
        widths = (channels // 4, channels // 2, channels, channels)
        layers: list[nn.Module] = []
        c_in = 1
        for stage, width in enumerate(widths):
            layers.append(ConvNormRelu(c_in, width, dim=2, **block))
            if stage < 3:
                layers.append(ConvNormRelu(width, width, dim=2, downsample=True, **block))
            else:
                last = {"kernel_size": (6, 3), "stride": 1, "padding": 0}
                layers.append(ConvNormRelu(width, width, dim=2, **last, **block))
            c_in = width
        self.convs = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor, frames: int) -> torch.Tensor:
        _, _, M, N = mel.shape
        if M < 48 or N < 24:
            raise ValueError(f"SDTAudioEncoder needs at least 48 mel bins × 24 columns, got {M} × {N}")
        x = self.convs(mel)  # (B, C, M', N')
        return F.interpolate(x, size=(1, frames), mode="bilinear").squeeze(2)  # (B, C, T)


@dataclass(frozen=True)
class SDTConfig:
    """SDT's ``SequenceGeneratorCNN``; the defaults are SDT-BP on ``sdt121`` with ``audio/mel_80``."""

    pose_dim: int = from_data(SDT_POSE_DIM)
    """Pose features per output frame, 2J in the ``[x…, y…]`` layout (from the data)."""
    audio_dim: int = from_data(SDT_AUDIO_DIM)
    """Audio features per pose frame, ``audio_subframes · bins`` (from the data)."""
    audio_subframes: int = from_data(7)
    """Mel columns packed side by side in one pose frame's features: the audio feature's ``subframes``
    (7 for ``audio/mel_80``, 1 for a feature on the pose clock such as ``audio/log_mel_400``; from the
    data)."""
    train_windows: int = from_data(0)
    """Rows of the template bank: one per training window (from the data)."""
    template_dim: int = 32
    """Size D of the template; 0 = no template (SDT's Speech2Gesture baseline)."""
    norm: Literal["instance", "batch"] = "instance"
    """``instance`` (SDT: InstanceNorm, per frame over the channels in 1-D) or ``batch`` (S2G baseline)."""
    leaky: bool = True
    """LeakyReLU(0.2) instead of ReLU."""
    channels: int = 256
    """Width C of the audio features, U-Net and decoder (the audio encoder starts at C/4, C/2)."""
    template_source: TemplateSource = "bank"
    """Where ``sample_inputs`` draws the per-utterance template from (evaluation, and inference without a
    chosen template): ``bank``, the row of a uniformly random training window (the reference's default,
    notes sdt §3.5), or ``prior``, N(0, I) (``CLIP_CODE.SAMPLE_FROM_NORMAL``). A bank without rows (a
    generator built without data, ``train_windows=0``) draws from the prior."""

    def __post_init__(self) -> None:
        problems = range_problems(
            self, {"pose_dim": 1, "audio_subframes": 1, "train_windows": 0, "template_dim": 0}
        )
        if self.audio_subframes >= 1 and self.audio_dim % self.audio_subframes:
            problems.append(
                f"audio_dim={self.audio_dim} is not a multiple of audio_subframes={self.audio_subframes}"
            )
        if self.channels < 4 or self.channels % 4:
            problems.append(f"channels must be a positive multiple of 4, got {self.channels}")
        raise_if_invalid(self, problems)


@register_model("sdt", config=SDTConfig)
class SDTGenerator(Generator):
    """Mel ``audio (B, T, S·M)`` and a template ``(B, D)`` → z-normalised poses ``(B, T, 2J)``.

    ``audio_encoder`` → tile the template over time and concatenate → ``unet`` (depth 5, linear
    upsampling) → ``decoder`` (4 CNR k3 + Conv1d k1 to 2J). ``templates`` is the bank ``(N, D)``, one row
    per training window (zeros until a recipe learns or fills it), used by ``template_from`` and
    ``draw_templates``. ``T ≥ 32``.
    """

    inputs: ClassVar = {
        "audio": STANDARD_INPUTS["audio"],
        "template": InputSpec(
            "(B, D) float32",
            "per-utterance template: a training window's row of the bank in training; at inference a random "
            "or chosen training window's row, or N(0, I) (template_source)",
            sampled=True,
        ),
    }

    def __init__(self, config: SDTConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SDTConfig()
        if not config.template_dim:
            self.inputs = {"audio": STANDARD_INPUTS["audio"]}
        C = config.channels
        norm_2d, norm_1d = ("instance", "frame") if config.norm == "instance" else ("batch", "batch")
        self.audio_encoder = SDTAudioEncoder(C, norm=norm_2d, bias=False, leaky=config.leaky)
        self.unet = UNet1D(
            C + config.template_dim, C, upsample="linear", norm=norm_1d, bias=False, leaky=config.leaky
        )
        self.decoder = nn.Sequential(
            *(ConvNormRelu(C, C, norm=norm_1d, bias=False, leaky=config.leaky) for _ in range(4)),
            nn.Conv1d(C, config.pose_dim, kernel_size=1),
        )
        for module in self.modules():
            if isinstance(module, ConvNormRelu):
                nn.init.kaiming_normal_(module.conv.weight)
        bank = torch.zeros(config.train_windows, config.template_dim)
        self.templates = nn.Parameter(bank, requires_grad=bool(bank.numel()))  # an empty bank learns nothing

    def forward(self, audio: torch.Tensor, template: torch.Tensor | None = None) -> GeneratorOutput:
        """``audio (B, T, S·M)`` (S sub-frames of M mel bins per frame) and ``template (B, D)`` → poses
        ``(B, T, 2J)``; no auxiliary losses (the template KL belongs to the recipe)."""
        B, T, _ = audio.shape
        S = self.config.audio_subframes
        mel = audio.view(B, T, S, -1).permute(0, 3, 1, 2).reshape(B, 1, -1, T * S)  # (B, 1, M, T·S)
        x = self.audio_encoder(mel, T)  # (B, C, T)
        if self.config.template_dim:
            if template is None:
                raise ValueError("SDTGenerator with template_dim > 0 needs a template (B, D)")
            x = torch.cat((x, template[:, :, None].expand(B, -1, T)), dim=1)  # (B, C + D, T)
        return GeneratorOutput(self.decoder(self.unet(x)).transpose(1, 2))  # (B, 2J, T) → (B, T, 2J)

    def sample_inputs(self, names, batch_size, *, generator=None):
        """``template``: ``(B, D)`` from ``draw_templates`` with the config's ``template_source``."""
        return {"template": self.draw_templates(batch_size, generator=generator)}

    def draw_templates(
        self,
        batch_size: int,
        *,
        source: TemplateSource | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``batch_size`` templates ``(B, D)`` on the bank's device, drawn with ``generator`` (torch's global
        RNG if None) from ``source`` (default: the config's ``template_source``).

        ``bank``: the rows of windows ``torch.randint(N, (B,), generator=generator)`` of the bank of N
        training windows, as the reference (notes sdt §3.5); an empty bank (a generator built without data)
        draws from the prior instead. ``prior``: ``torch.randn(B, D, generator=generator)``.

        Raises
        ------
        ConfigError : ``source`` not one of ``bank``, ``prior``.
        """
        source = source or self.config.template_source
        if source not in get_args(TemplateSource):
            raise ConfigError(f"template source {source!r} is not one of 'bank', 'prior'")
        drawn_on = generator.device if generator is not None else "cpu"
        N, D = self.templates.shape
        if source == "bank" and N:
            windows = torch.randint(N, (batch_size,), generator=generator, device=drawn_on)
            return self.templates[windows.to(self.templates.device)].detach()
        noise = torch.randn(batch_size, D, generator=generator, device=drawn_on)
        return noise.to(self.templates.device)

    def example_inputs(self, batch_size: int = 2, frames: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
        """The base class's seeded inputs plus a seeded ``template`` (B, D), so two calls agree."""
        inputs = super().example_inputs(batch_size, frames, seed)
        if self.config.template_dim:
            g = torch.Generator().manual_seed(seed + 1)
            inputs["template"] = torch.randn(batch_size, self.config.template_dim, generator=g)
        return inputs

    def template_from(self, window: int) -> torch.Tensor:
        """The bank row of training window ``window`` (0 ≤ window < ``train_windows``), ``(1, D)``.

        Raises
        ------
        ConfigError : no template, or ``window`` outside the bank.
        """
        N = len(self.templates)
        if not self.config.template_dim:
            raise ConfigError("this sdt generator has no template (template_dim=0)")
        if not 0 <= window < N:
            raise ConfigError(
                f"template window {window} is outside the bank of {N} training windows (0…{N - 1})"
            )
        return self.templates[window : window + 1].detach()

    def parameter_count(self) -> int:
        """Parameters of the network without the template bank (the reference's ``netG`` count)."""
        return sum(p.numel() for name, p in self.named_parameters() if name != "templates")


@dataclass(frozen=True)
class PoseSequenceDiscriminatorConfig:
    """SDT's ``PoseSequenceDiscriminator``; the defaults are the S2G baseline's (notes sdt §3.6)."""

    pose_dim: int = from_data(SDT_POSE_DIM)
    """Pose features per frame, 2J (from the data)."""
    channels: int = 256
    """Width of the first conv; the next two are 2× and 4× as wide."""
    leaky: bool = True
    """LeakyReLU(0.2) instead of ReLU (``POSE_DISCRIMINATOR.LEAKY_RELU``: True in the S2G config)."""

    def __post_init__(self) -> None:
        raise_if_invalid(self, range_problems(self, {"pose_dim": 1, "channels": 1}))


@register_model("pose_sequence_discriminator", config=PoseSequenceDiscriminatorConfig, kind="discriminator")
class PoseSequenceDiscriminator(nn.Module):
    """Pose motion ``(B, T, 2J)`` → patch scores ``(B, T/4)``, unbounded (LSGAN).

    CNR k4 s2 (2J → C), CNR k4 s2 (→ 2C), CNR k3 (→ 4C), Conv1d k3 (→ 1, bias); BatchNorm, convs without
    bias. The caller passes frame differences (``cospeech.data.poses.velocity``, whose first frame is 0;
    the reference drops that frame, giving 15 patches where this gives 16 for T = 64). ``T ≥ 4``.
    """

    def __init__(self, config: PoseSequenceDiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PoseSequenceDiscriminatorConfig()
        C = config.channels
        block = {"bias": False, "leaky": config.leaky}
        self.convs = nn.Sequential(
            ConvNormRelu(config.pose_dim, C, downsample=True, **block),
            ConvNormRelu(C, 2 * C, downsample=True, **block),
            ConvNormRelu(2 * C, 4 * C, **block),
            nn.Conv1d(4 * C, 1, kernel_size=3, padding=1),
        )
        for module in self.modules():
            if isinstance(module, ConvNormRelu):
                nn.init.kaiming_normal_(module.conv.weight)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        """``motion (B, T, 2J)`` → scores ``(B, T/4)``."""
        if motion.shape[1] < 4:
            raise ValueError(f"PoseSequenceDiscriminator needs T ≥ 4 frames, got T={motion.shape[1]}")
        return self.convs(motion.transpose(1, 2)).squeeze(1)
