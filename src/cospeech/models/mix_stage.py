"""Mix-StAGE (Ahuja et al., ECCV 2020) as C-DiffGAN's ``JointLateClusterSoftStyle5_G``.

One generator for many speakers: speech (and optionally words) → content features, a learned style
embedding per speaker, and a mixture of ``K`` generators softly selected per frame by a pose-cluster
classifier. Reproduced from the reference (notes cdiffgan §2, §2.1 steps 1–11, §5): the layers, widths and
the parameter counts of every module it uses (§2.2), the losses (cluster cross-entropy, the two
``λ_id``-weighted speaker-id cross-entropies, the second with the pose-style encoder frozen), the
train-time style from the pose-style encoder's argmax and the evaluation style from the given ids, and style
interpolation by mixing weights over embedding rows (the reference's ``lin`` mode). The discriminator and
the L1 / L1-GAN terms are Speech2Gesture's (``motion_discriminator``, ``AdversarialRecipe``).

Changed (``docs/deviations.md``, "Mix-StAGE"): text comes from stored per-frame features through a
projection or from token ids through a learned embedding, never from BERT at run time; any ``T ≥ 1``
works (padding as in ``speech2gesture``); the reference's unused modules (``pose_encoder``, ``style_dec``,
``smoothen``, ``eye``) are not built. The reference's quirks are options with the reference values:
``fusion_ffn_width`` 2, ``audio_time_stride`` 8, ``train_style: pose_argmax``.

For DiffGAN's timing shift (notes cdiffgan §6.2–6.3) the forward splits at layer l, the last decoder block:
``features_before_shift`` → ``shift_layer`` → ``poses_after_shift`` / ``output_after_shift``, and
``forward`` is exactly that composition.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cospeech.models.interface import STANDARD_INPUTS, Generator, GeneratorOutput, InputSpec
from cospeech.models.layers import AudioEncoder, ConvNormRelu, UNet1D
from cospeech.models.registry import from_data, raise_if_invalid, range_problems, register_model
from cospeech.skeletons import PATS48


def sinusoidal_positions(length: int, dim: int, *, device: torch.device | None = None) -> Tensor:
    """The Transformer's fixed positional encoding (Vaswani et al. 2017), ``(length, dim)`` float32:
    ``PE[t, 2i] = sin(t / 10000^(2i/dim))``, ``PE[t, 2i+1] = cos(t / 10000^(2i/dim))``; ``dim`` even."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]  # (length, 1)
    frequency = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim)
    )  # (dim/2,)
    angles = position * frequency  # (length, dim/2)
    return torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(length, dim)


def _pad_frames(x: Tensor, length: int) -> Tensor:
    """``(B, T, …)`` → ``(B, length, …)`` by repeating the last frame (``length ≥ T``)."""
    extra = length - x.shape[1]
    return torch.cat((x, x[:, -1:].expand(-1, extra, *x.shape[2:])), dim=1) if extra > 0 else x


class PoseStyleEncoder(nn.Module):
    """Poses ``(B, T, 2J)`` → speaker logits ``(B, S)`` (reference ``PoseStyleEncoder``, notes §2.1).

    A CNR k3 to ``C/4``, then 6 downsampling CNRs ``C/4 → C/4 → C/2 → C/2 → C → C → S`` (``T → T/64``) and
    the mean over time; as in the reference the logits have passed through BatchNorm and LeakyReLU. Inputs
    shorter than 64 frames are padded by repeating their last frame; a single window in training mode is
    padded to 128, so that the last BatchNorm sees two values per channel instead of failing (a trailing
    batch of one).
    """

    min_length = 64  # 2^6 frames survive the six halvings

    def __init__(self, pose_dim: int, num_speakers: int, channels: int = 256, *, p: float = 0.0) -> None:
        super().__init__()
        widths = (channels // 4, channels // 4, channels // 2, channels // 2, channels, channels)
        self.convs = nn.Sequential(
            ConvNormRelu(pose_dim, widths[0], p=p),
            *(ConvNormRelu(a, b, downsample=True, p=p) for a, b in itertools.pairwise(widths)),
            ConvNormRelu(widths[-1], num_speakers, downsample=True, p=p),
        )

    def forward(self, pose: Tensor) -> Tensor:
        single = self.training and pose.shape[0] == 1
        pose = _pad_frames(pose, 2 * self.min_length if single else self.min_length)
        return self.convs(pose.transpose(1, 2)).mean(dim=-1)  # (B, 2J, T) → (B, S, T/64) → (B, S)


class TextFusion(nn.Module):
    """Words into the audio features: the reference's text encoder + ``MultimodalTransformerFusion``.

    ``frame_memory`` encodes ``text`` (features through ``Linear(D, C)``, or token ids through a learned
    ``Embedding(V, C)``), adds the sinusoidal positional encoding over its entries, and gives each frame the
    entry spoken at that frame. ``forward`` is an ``nn.TransformerDecoder`` (post-LN, ReLU FFN, final
    LayerNorm): the audio features plus positional encoding are the queries, and cross-attention is masked
    so that frame ``t`` sees only its own memory entry, the word being spoken (notes §2.1 step 3).
    """

    def __init__(
        self,
        channels: int,
        *,
        text_dim: int,
        text_vocab: int,
        layers: int,
        heads: int,
        ffn_width: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.text_dim, self.text_vocab = text_dim, text_vocab
        self.text_encoder = (
            nn.Embedding(text_vocab, channels) if text_vocab else nn.Linear(text_dim, channels)
        )
        layer = nn.TransformerDecoderLayer(
            channels, heads, dim_feedforward=ffn_width, dropout=dropout, batch_first=True
        )
        self.transformer = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(channels))

    def frame_memory(self, text: Tensor, token_duration: Tensor | None, frames: int) -> Tensor:
        """Per-frame text memory ``(B, T, C)`` with ``T = frames``.

        ``text``: ``(B, L, D)`` float features or ``(B, L)`` int64 token ids (whichever this module was
        built for). Without ``token_duration`` the text is frame-aligned (``L = T``). With
        ``token_duration`` ``(B, L)`` int64 (frames per entry, 0 for padding, each row summing to ``T``),
        frame ``t`` gets the entry whose span holds ``t``, and the positional encoding counts entries, as in
        the reference.

        Raises ``ValueError`` naming ``text`` or ``token_duration`` and what is wrong.
        """
        self._check_text(text)
        B, L = text.shape[:2]
        if token_duration is None and text.shape[1] != frames:
            raise ValueError(
                f"text has {L} entries for {frames} frames; frame-aligned text needs one per frame "
                "(or pass token_duration)"
            )
        if not self.text_vocab:
            text = text.to(self.text_encoder.weight.dtype)
        memory = self.text_encoder(text)  # (B, L, C)
        memory = memory + sinusoidal_positions(L, memory.shape[-1], device=memory.device).to(memory.dtype)
        if token_duration is None:
            return memory
        if token_duration.shape != (B, L) or token_duration.is_floating_point():
            raise ValueError(
                f"token_duration must be (B, L) = {(B, L)} integers, got {tuple(token_duration.shape)} "
                f"{token_duration.dtype}"
            )
        ends = token_duration.cumsum(dim=1)  # (B, L): first frame after each entry
        if (token_duration < 0).any() or (ends[:, -1] != frames).any():
            raise ValueError(
                f"token_duration must be ≥ 0 and sum to the {frames} frames in every row, got sums "
                f"{ends[:, -1].tolist()}"
            )
        t = torch.arange(frames, device=ends.device).expand(B, frames).contiguous()
        spoken = torch.searchsorted(ends, t, right=True)  # (B, T): the entry whose span holds frame t
        return memory.gather(1, spoken[..., None].expand(B, frames, memory.shape[-1]))

    def _check_text(self, text: Tensor) -> None:
        if self.text_vocab:
            if text.dim() != 2 or text.is_floating_point():
                raise ValueError(
                    f"text must be (B, L) int64 token ids for this model (text_vocab={self.text_vocab}), "
                    f"got {tuple(text.shape)} {text.dtype}"
                )
            if text.numel() and (text.min() < 0 or text.max() >= self.text_vocab):
                raise ValueError(
                    f"text token ids must be in [0, {self.text_vocab}), got [{text.min()}, {text.max()}]"
                )
        elif text.dim() != 3 or text.shape[-1] != self.text_dim or not text.is_floating_point():
            raise ValueError(
                f"text must be (B, L, {self.text_dim}) float features for this model, "
                f"got {tuple(text.shape)} {text.dtype}"
            )

    def forward(self, audio: Tensor, memory: Tensor) -> Tensor:
        """``audio (B, T, C)`` queries, ``memory (B, T, C)`` from ``frame_memory`` → fused ``(B, T, C)``."""
        T = audio.shape[1]
        queries = audio + sinusoidal_positions(T, audio.shape[-1], device=audio.device).to(audio.dtype)
        # True = not allowed: frame t attends to memory entry t only.
        others = ~torch.eye(T, dtype=torch.bool, device=audio.device)
        return self.transformer(queries, memory, memory_mask=others)


@dataclass(frozen=True)
class MixStageConfig:
    """Mix-StAGE generator; the defaults are the reference model, with 768-d text features for BERT.

    The reference is ``JointLateClusterSoftStyle5_G`` on ``pats48`` (notes cdiffgan §2)."""

    pose_dim: int = from_data(2 * PATS48.num_joints)
    """Pose features per output frame, 2J in the ``[x…, y…]`` layout (from the data)."""
    num_styles: int = from_data(1)
    """Speakers in the run (from the data); at most ``max_num_speakers``."""
    text_dim: int = from_data(768)
    """D: text feature width (``text/bert`` 768, ``text/w2v`` 300), projected by ``Linear(D, C)``; 0 for
    token ids or no text (from the data)."""
    text_vocab: int = from_data(0)
    """V: token vocabulary size (``text/tokens``: 30522), embedded by a learned ``Embedding(V, C)``; 0 for
    features or no text (from the data). With ``text_dim = text_vocab = 0`` the model is audio-only: no text
    modules, and the audio features go straight to the U-Net, as the reference does with one modality."""
    channels: int = 256
    """Width C of the audio features, the fusion transformer (``d_model``), the U-Net and each mixture
    component; a multiple of 4 (and of ``fusion_heads`` with text)."""
    unet_depth: int = 5
    """Downsampling levels of the U-Net; shorter inputs are padded to ``2^unet_depth`` frames."""
    audio_time_stride: Literal[1, 2, 4, 8] = 8
    """Frames per distinct audio feature: 8 is the reference (the audio encoder halves time three times
    and holds each step 8 frames, 0.53 s); 4, 2, 1 keep finer time steps at more compute and other
    parameter counts. Default 8: the reference's counts, and the same encoder as ``speech2gesture`` so that
    benchmarks against it compare the multi-speaker parts; the words, when given, change at word
    boundaries, not every 8 frames."""
    fusion_layers: int = 2
    """Decoder layers of the fusion transformer (reference 2)."""
    fusion_heads: int = 8
    """Attention heads of the fusion transformer (reference 8)."""
    fusion_ffn_width: int = 2
    """Hidden width of each fusion layer's feed-forward block. The reference passes 2 (``nhid=2`` lands in
    ``dim_feedforward``); kept as the default because every frame attends to a single memory entry, so the
    cross-attention is a per-frame linear map of its word and the residual path carries the fusion, and the
    ``concat_encoder`` CNR that follows supplies the nonlinearity; 2 keeps the reference's counts and
    behaviour. ``4 · channels`` is the usual Transformer width if wanted."""
    fusion_dropout: float = 0.1
    """Dropout inside the fusion transformer (PyTorch's and the reference's 0.1)."""
    style_dim: int = 10
    """Width of a speaker's style embedding (reference 10)."""
    max_num_speakers: int = 25
    """Rows of the style table and classes of the pose-style encoder (reference 25): more than the run's
    speakers, so speakers added later get rows without resizing."""
    train_style: Literal["pose_argmax", "given"] = "pose_argmax"
    """Style in steps that give ground-truth ``pose``: ``pose_argmax`` embeds the argmax of the pose-style
    encoder's logits on that pose, ``given`` embeds the ``style`` input. Without ``pose`` (evaluation,
    inference) the given style is always used. Default ``pose_argmax``, the reference's: ``id_in`` trains
    the encoder toward the given ids, so the two agree more as it learns, and where they differ the
    embedding follows what the poses look like; ``given`` removes that train/test difference."""
    num_clusters: int = 8
    """K: mixture components, one per pose cluster (reference 8; the data's ``pose_clusters`` labels must
    be below it)."""
    lambda_id: float = 0.1
    """Weight of the two speaker-id cross-entropies ``id_in`` and ``id_out`` (reference 0.1)."""
    dropout: float = 0.0
    """Dropout probability after every conv (the reference trains with 0)."""

    @property
    def uses_text(self) -> bool:
        """Whether the model has the text encoder and fusion transformer."""
        return self.text_dim > 0 or self.text_vocab > 0

    def __post_init__(self) -> None:
        problems = range_problems(
            self,
            {
                "pose_dim": 1,
                "num_styles": 1,
                "text_dim": 0,
                "text_vocab": 0,
                "unet_depth": 1,
                "fusion_layers": 1,
                "fusion_heads": 1,
                "fusion_ffn_width": 1,
                "style_dim": 1,
                "max_num_speakers": 1,
                "num_clusters": 1,
                "lambda_id": 0,
            },
            ("fusion_dropout", "dropout"),
        )
        if self.channels < 4 or self.channels % 4:
            problems.append(f"channels must be a positive multiple of 4, got {self.channels}")
        elif self.uses_text and self.channels % self.fusion_heads:
            problems.append(
                f"channels ({self.channels}) must be divisible by fusion_heads ({self.fusion_heads})"
            )
        if self.text_dim > 0 and self.text_vocab > 0:
            problems.append(
                f"text is features (text_dim={self.text_dim}) or tokens (text_vocab={self.text_vocab}), "
                "not both"
            )
        if self.max_num_speakers < self.num_styles:
            problems.append(
                f"max_num_speakers ({self.max_num_speakers}) must be ≥ num_styles ({self.num_styles})"
            )
        raise_if_invalid(self, problems)


_TEXT_INPUTS = ("text", "token_duration")


@dataclass(frozen=True)
class ShiftContext:
    """What Mix-StAGE's layers after ``shift_layer`` need from the layers before it, for one batch."""

    cluster_probs: Tensor
    """``(B, K, T')`` p(k | frame) over the padded frames: the weights of the ``K`` generators' outputs."""
    frames: int
    """T: output frames (the padded ``T'`` is cut back to it)."""
    style_target: Tensor | None
    """The speaker-id target of ``id_out`` (ids or padded mixing weights); None without ``pose``."""
    losses: dict[str, Tensor]
    """Losses known before the shift layer (``id_in``, ``cluster_ce``)."""
    extras: dict[str, Tensor]
    """``forward``'s extras (``style``, ``cluster_probs``, ``style_logits``)."""


@register_model("mix_stage", config=MixStageConfig)
class MixStageGenerator(Generator):
    """Audio ``(B, T, F)`` (+ words) and speaker style → poses ``(B, T, 2J)``, many speakers in one model.

    ``audio_encoder`` → [``fusion`` with the words → ``concat_encoder`` on ``[fused, audio]``] → ``unet`` →
    concat the style embedding (``style_embedding``, or the argmax of ``pose_style_encoder`` in training)
    → ``cluster_classifier`` gives ``p(k | frame)``; ``decoder`` + ``logits`` run the ``K`` generators as
    one grouped convolution on ``K`` copies of the features, and the output is ``Σ_k p_k · pose_k`` at
    training and test alike (notes §2.1). The attribute names are the parts whose parameters the reference
    reports (notes §2.2).

    A model built without text (``text_dim = text_vocab = 0``) declares neither ``text`` nor
    ``token_duration``; one built with text requires ``text``.
    """

    inputs: ClassVar = {
        "audio": STANDARD_INPUTS["audio"],
        "style": InputSpec(
            "(B,) int64 or (B, S) float32",
            "speaker ids (position in the run's speaker list), or mixing weights over the first S speakers "
            "(≥ 0, summing to 1) for interpolated styles",
        ),
        "pose": STANDARD_INPUTS["pose"],
        "cluster": STANDARD_INPUTS["cluster"],
        "text": STANDARD_INPUTS["text"],
        "token_duration": STANDARD_INPUTS["token_duration"],
    }

    def __init__(self, config: MixStageConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MixStageConfig()
        if not config.uses_text:
            self.inputs = {k: v for k, v in type(self).inputs.items() if k not in _TEXT_INPUTS}
        C, K, S, p = config.channels, config.num_clusters, config.style_dim, config.dropout
        self.audio_encoder = AudioEncoder(C, p=p, time_stride=config.audio_time_stride)
        if config.uses_text:
            self.fusion = TextFusion(
                C,
                text_dim=config.text_dim,
                text_vocab=config.text_vocab,
                layers=config.fusion_layers,
                heads=config.fusion_heads,
                ffn_width=config.fusion_ffn_width,
                dropout=config.fusion_dropout,
            )
            self.concat_encoder = ConvNormRelu(2 * C, C, p=p)  # the reference's concat_encoder2
        self.unet = UNet1D(C, C, depth=config.unet_depth, p=p)
        self.pose_style_encoder = PoseStyleEncoder(config.pose_dim, config.max_num_speakers, C, p=p)
        self.style_embedding = nn.Embedding(config.max_num_speakers, S)
        self.cluster_classifier = nn.Sequential(
            ConvNormRelu(C + S, C, p=p),
            *(ConvNormRelu(C, C, p=p) for _ in range(5)),
            nn.Conv1d(C, K, kernel_size=1),
        )
        self.decoder = nn.Sequential(  # K generators side by side: group k is generator k
            ConvNormRelu((C + S) * K, C * K, groups=K, p=p),
            *(ConvNormRelu(C * K, C * K, groups=K, p=p) for _ in range(3)),
        )
        self.logits = nn.Conv1d(C * K, config.pose_dim * K, kernel_size=1, groups=K)

    def forward(
        self,
        audio: Tensor,
        style: Tensor,
        pose: Tensor | None = None,
        cluster: Tensor | None = None,
        text: Tensor | None = None,
        token_duration: Tensor | None = None,
    ) -> GeneratorOutput:
        """Poses ``(B, T, 2J)`` for any ``T ≥ 1``, with auxiliary losses and extras.

        Args:
            audio: ``(B, T, F)`` z-normalised log-mel frames on the pose clock.
            style: ``(B,)`` int64 speaker ids < ``max_num_speakers``, or ``(B, S)`` mixing weights over rows
                ``0…S−1`` of the style table (≥ 0, rows summing to 1; one-hot gives exactly the id's output).
            pose: ``(B, T, 2J)`` ground truth (training steps): gives ``id_in``/``id_out`` and, with
                ``train_style: pose_argmax``, the style.
            cluster: ``(B, T)`` int64 pose-cluster labels < ``num_clusters`` → ``cluster_ce``.
            text, token_duration: words, see ``TextFusion.frame_memory``; required iff built with text.

        Returns ``GeneratorOutput(poses, losses, extras)``: losses ``cluster_ce`` (mean cross-entropy over
        ``B·T`` frames; with ``cluster``), ``id_in`` = ``λ_id · CE(pose_style_encoder(pose), style)`` and
        ``id_out`` = ``λ_id · CE(pose_style_encoder(poses), style)`` with the encoder's parameters detached
        (with ``pose``; mixing weights are soft targets); extras ``cluster_probs (B, T, K)``, ``style
        (B, style_dim)`` (the embedding used) and, with ``pose``, ``style_logits (B, max_num_speakers)``.

        The audio (and the per-frame text memory) is padded at the end by repeating its last frame to a
        multiple of ``audio_time_stride`` and to at least ``2^unet_depth`` frames; the output is cut back to
        ``T``. A 64-frame window needs no padding and is computed exactly as in the reference.

        Raises ``ValueError`` naming the input when a shape, dtype or value range is wrong.
        """
        z, context = self.features_before_shift(audio, style, pose, cluster, text, token_duration)
        return self.output_after_shift(self.shift_layer(z), context)

    # ------------------------------------------------------------------ latent split (DiffGAN, notes §6.2)

    @property
    def shift_layer(self) -> nn.Module:
        """Layer l of DiffGAN's timing shift: the last decoder block, ``z_{l−1}`` → ``z_l``, both
        ``(B, C·K, T')`` (the reference's ``decoder.3``, stage 6; notes cdiffgan §6.2)."""
        return self.decoder[-1]

    def features_before_shift(
        self,
        audio: Tensor,
        style: Tensor,
        pose: Tensor | None = None,
        cluster: Tensor | None = None,
        text: Tensor | None = None,
        token_duration: Tensor | None = None,
    ) -> tuple[Tensor, ShiftContext]:
        """Every layer before ``shift_layer``: ``z_{l−1}`` ``(B, C·K, T')`` (the input of the last decoder
        block; ``T'`` = the padded length, see ``forward``) and the ``ShiftContext`` the layers after it
        need. Same inputs, errors and losses as ``forward``, which is
        ``output_after_shift(shift_layer(z_{l−1}), context)``."""
        config = self.config
        B, T, _ = audio.shape
        stride = self.audio_encoder.time_stride
        length = max(self.unet.min_length, -(-T // stride) * stride)
        x = self.audio_encoder(_pad_frames(audio, length))  # (B, C, T')
        if config.uses_text:
            if text is None:
                raise ValueError("this Mix-StAGE model was built with text: pass `text` (see token_duration)")
            memory = _pad_frames(self.fusion.frame_memory(text, token_duration, T), length)  # (B, T', C)
            fused = self.fusion(x.transpose(1, 2), memory).transpose(1, 2)  # (B, C, T')
            x = self.concat_encoder(torch.cat((fused, x), dim=1))
        elif text is not None or token_duration is not None:
            raise ValueError("this Mix-StAGE model was built without text (text_dim = text_vocab = 0)")
        x = self.unet(x)  # (B, C, T')

        losses: dict[str, Tensor] = {}
        extras: dict[str, Tensor] = {}
        target = self._style_target(style, B)
        if pose is not None:
            style_logits = self.pose_style_encoder(pose)  # (B, max_num_speakers)
            losses["id_in"] = config.lambda_id * F.cross_entropy(style_logits, target)
            extras["style_logits"] = style_logits
        if pose is not None and config.train_style == "pose_argmax":
            style_vector = self.style_embedding(style_logits.argmax(dim=-1))
        else:
            style_vector = self.style_vector(style)  # (B, style_dim)
        extras["style"] = style_vector
        x = torch.cat((x, style_vector[:, :, None].expand(-1, -1, length)), dim=1)  # (B, C + style_dim, T')

        cluster_logits = self.cluster_classifier(x)  # (B, K, T')
        probs = cluster_logits.softmax(dim=1)
        extras["cluster_probs"] = probs[..., :T].transpose(1, 2)
        if cluster is not None:
            self._check_cluster(cluster, B, T)
            losses["cluster_ce"] = F.cross_entropy(cluster_logits[..., :T], cluster)
        z = self.decoder[:-1](x.repeat(1, config.num_clusters, 1))  # group k = generator k
        context = ShiftContext(probs, T, target if pose is not None else None, losses, extras)
        return z, context

    def poses_after_shift(self, z: Tensor, context: ShiftContext) -> Tensor:
        """Every layer after ``shift_layer``: ``z_l`` ``(B, C·K, T')`` → poses ``(B, T, 2J)``, the ``K``
        generators' ``logits`` mixed by the context's cluster probabilities (the reference's stage 7)."""
        B, _, length = z.shape
        per_cluster = self.logits(z).view(B, self.config.num_clusters, self.config.pose_dim, length)
        poses = (context.cluster_probs[:, :, None] * per_cluster).sum(dim=1)  # (B, 2J, T')
        return poses[..., : context.frames].transpose(1, 2)

    def output_after_shift(self, z: Tensor, context: ShiftContext) -> GeneratorOutput:
        """``forward``'s output from ``z_l``: ``poses_after_shift`` plus the losses and extras (``id_out``
        when the context had ``pose``)."""
        poses = self.poses_after_shift(z, context)
        losses = dict(context.losses)
        if context.style_target is not None:
            losses["id_out"] = self.config.lambda_id * F.cross_entropy(
                self._frozen_style_logits(poses), context.style_target
            )
        return GeneratorOutput(poses, losses=losses, extras=dict(context.extras))

    def style_vector(self, style: Tensor) -> Tensor:
        """The style embedding ``(B, style_dim)`` of ids ``(B,)`` or mixing weights ``(B, S)``."""
        if style.is_floating_point():
            S = style.shape[1]
            return style.to(self.style_embedding.weight.dtype) @ self.style_embedding.weight[:S]
        return self.style_embedding(style)

    def _style_target(self, style: Tensor, batch: int) -> Tensor:
        """The id cross-entropy target: ids ``(B,)``, or mixing weights padded to ``(B, max_num_speakers)``;
        checks ``style`` on the way."""
        rows = self.config.max_num_speakers
        if style.is_floating_point():
            if style.dim() != 2 or style.shape[0] != batch or not 1 <= style.shape[1] <= rows:
                raise ValueError(
                    f"style mixing weights must be (B, S) with B={batch}, S ≤ max_num_speakers={rows}; "
                    f"got {tuple(style.shape)}"
                )
            if (style < 0).any() or not torch.allclose(style.sum(dim=1), style.new_ones(batch), atol=1e-4):
                raise ValueError("style mixing weights must be ≥ 0 and sum to 1 in every row")
            return F.pad(style, (0, rows - style.shape[1]))
        if style.shape != (batch,):
            raise ValueError(f"style ids must be (B,) = ({batch},), got {tuple(style.shape)}")
        if style.min() < 0 or style.max() >= rows:
            raise ValueError(f"style ids must be in [0, {rows}) (max_num_speakers), got {style.tolist()}")
        return style

    def _check_cluster(self, cluster: Tensor, batch: int, frames: int) -> None:
        K = self.config.num_clusters
        if cluster.shape != (batch, frames) or cluster.is_floating_point():
            raise ValueError(f"cluster must be (B, T) = {(batch, frames)} int64, got {tuple(cluster.shape)}")
        if cluster.min() < 0 or cluster.max() >= K:
            raise ValueError(
                f"cluster labels must be in [0, {K}) (num_clusters; the data's pose_clusters must match), "
                f"got [{cluster.min()}, {cluster.max()}]"
            )

    def _frozen_style_logits(self, poses: Tensor) -> Tensor:
        """``pose_style_encoder(poses)`` with its parameters detached: ``id_out``'s gradient reaches the
        generator only (the reference's ``some_grad``). BatchNorm running statistics still update in
        training mode, as in the reference."""
        detached = {name: p.detach() for name, p in self.pose_style_encoder.named_parameters()}
        return torch.func.functional_call(self.pose_style_encoder, detached, (poses,))
