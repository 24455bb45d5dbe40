"""The generator contract: what a generator consumes, what it returns, and how callers feed it.

Every registered generator (and baseline) subclasses ``Generator``. It **declares** its inputs by name in
``inputs`` (like a timm model's ``default_cfg``, read by callers instead of guessed), and ``forward`` takes
exactly those as keyword arguments and returns a ``GeneratorOutput`` (poses plus named auxiliary losses,
like diffusers' output dataclasses). Training recipes, evaluation, the inference pipeline and the registry
test all build a generator's inputs with ``generator_inputs`` from what they have, so a new model with a new
input (text, a template vector, ground-truth poses for an encoder …) needs no branch outside its own file.

Input names
-----------
Names that the data module provides in every batch (see ``STANDARD_INPUTS``): ``audio (B, T, F)``,
``style (B,)``, and, in training steps only, ``pose (B, T, 2J)`` (ground truth) and ``index (B,)`` (global
training-window index); with a text key ``text`` (and ``token_duration`` unless text is repeated per frame),
with pose clusters ``cluster``; at inference a transcript gives ``words``. A generator may declare any other
name; an input that no caller has is ``sampled``: drawn once per utterance by the generator's
``sample_inputs`` (inference, and evaluation unless a recipe supplies it), so every window of one utterance
shares it, or ``optional``: left out, and ``forward`` runs without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from cospeech.errors import ConfigError


@dataclass(frozen=True)
class InputSpec:
    """One declared generator input."""

    shape: str
    """Shape and dtype in the fixed letters (B batch, T frames at 15 fps, F audio features, J joints)."""
    doc: str
    """What it holds and where it comes from."""
    training_only: bool = False
    """Given in training steps only (ground-truth poses for a training-time encoder): evaluation and
    inference leave it out, so ``forward`` must accept its absence (default ``None``)."""
    sampled: bool = False
    """Not in the data: the generator draws it per utterance in ``sample_inputs`` when no caller supplies
    it (a training recipe may, e.g. from a learned table)."""
    optional: bool = False
    """Used when the caller has it, else not passed: ``forward`` must accept its absence (default ``None``),
    e.g. per-frame cluster labels that only feed an auxiliary loss."""


STANDARD_INPUTS: Mapping[str, InputSpec] = {
    "audio": InputSpec("(B, T, F) float32", "z-normalised audio features on the pose clock (15 fps)"),
    "style": InputSpec("(B,) int64", "speaker id: position in the run's speaker list"),
    "pose": InputSpec(
        "(B, T, 2J) float32", "ground-truth poses in model space (z-normalised)", training_only=True
    ),
    "index": InputSpec("(B,) int64", "global window index in the training set", training_only=True),
    "text": InputSpec(
        "(B, L, D) float32 or (B, L) int64",
        "words: z-normalised features (text/bert, text/w2v) or token ids (text/tokens); L = T when repeated "
        "per frame, else one entry per token, zero-padded per batch",
    ),
    "token_duration": InputSpec(
        "(B, L) int64",
        "frames each token of `text` lasts (0 for padding; each row sums to T); absent when text is "
        "repeated per frame",
        optional=True,
    ),
    "cluster": InputSpec(
        "(B, T) int64",
        "per-frame k-means pose-cluster label (data option pose_clusters)",
        training_only=True,
        optional=True,
    ),
    "words": InputSpec(
        "B lists of Word", "word timings of each window (seconds from its start), from a transcript"
    ),
}
"""Inputs callers provide: the data module gives ``audio``, ``style``, ``pose``, ``index`` and, when
configured, ``text``, ``token_duration``, ``cluster``; the inference pipeline gives ``audio``, ``style``
and, with a transcript, ``words``."""


@dataclass(eq=False)
class GeneratorOutput:
    """What a generator returns."""

    poses: Tensor
    """(B, T, 2J) poses in model space."""
    losses: dict[str, Tensor] = field(default_factory=dict)
    """Named auxiliary losses, already weighted by the model's config (e.g. Mix-StAGE's cluster
    cross-entropy); training recipes add their sum to the generator loss and log each one."""
    extras: dict[str, Tensor] = field(default_factory=dict)
    """Anything else a recipe or a plot may use (cluster probabilities, latent codes …)."""


class Generator(nn.Module):
    """Base class of registered generators and baselines.

    Subclasses set ``inputs`` (name → ``InputSpec``), take those names as keyword arguments in
    ``forward(**inputs) -> GeneratorOutput``, keep their config dataclass in ``self.config``, and override
    ``sample_inputs`` if they declare a ``sampled`` input.
    """

    inputs: ClassVar[Mapping[str, InputSpec]] = {"audio": STANDARD_INPUTS["audio"]}
    config: Any

    def sample_inputs(
        self, names: tuple[str, ...], batch_size: int, *, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Draw the ``sampled`` inputs ``names`` for ``batch_size`` utterances (``(B, …)`` tensors on this
        model's device), with ``generator`` as the only source of randomness."""
        raise NotImplementedError(f"{type(self).__name__} declares sampled inputs {names} but no sampler")

    def example_inputs(self, batch_size: int = 2, frames: int = 64, seed: int = 0) -> dict[str, Tensor]:
        """A seeded batch of every declared input that is not sampled, for tests and benchmarks.

        Sizes come from the config (``pose_dim``, ``audio_dim``, ``num_styles``, ``text_dim``,
        ``text_vocab``, ``num_clusters``). ``text`` is one entry per frame: token ids when ``text_vocab >
        0``, else ``text_dim`` features. Optional inputs without a maker here (``token_duration``) are
        left out; override for other inputs."""
        g = torch.Generator().manual_seed(seed)
        sizes = {"audio_dim": 64, "pose_dim": 96, "num_styles": 1, "text_dim": 0, "text_vocab": 0}
        sizes["num_clusters"] = 8
        sizes.update({k: getattr(self.config, k) for k in sizes if hasattr(self.config, k)})
        B, T = batch_size, frames
        made = {
            "audio": lambda: torch.randn(B, T, sizes["audio_dim"], generator=g),
            "style": lambda: torch.arange(B) % sizes["num_styles"],
            "pose": lambda: torch.randn(B, T, sizes["pose_dim"], generator=g),
            "index": lambda: torch.arange(B),
            "text": lambda: (
                torch.randint(sizes["text_vocab"], (B, T), generator=g)
                if sizes["text_vocab"]
                else torch.randn(B, T, sizes["text_dim"], generator=g)
            ),
            "cluster": lambda: torch.randint(sizes["num_clusters"], (B, T), generator=g),
        }
        wanted = [name for name, spec in self.inputs.items() if not spec.sampled]
        unknown = [n for n in wanted if n not in made and not self.inputs[n].optional]
        if unknown:
            raise NotImplementedError(f"{type(self).__name__}: override example_inputs for {unknown}")
        return {name: made[name]() for name in wanted if name in made}


def generator_inputs(
    generator: Generator,
    available: Mapping[str, Any],
    *,
    training: bool,
    rng: torch.Generator | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``generator.forward`` from what a caller has.

    Takes each declared input from ``available`` (a batch); leaves ``training_only`` inputs out unless
    ``training``; draws missing ``sampled`` inputs with ``sample_inputs`` (``rng`` the only randomness);
    leaves missing ``optional`` inputs out (``forward`` takes its default). Undeclared entries of
    ``available`` are ignored.

    Raises
    ------
    ConfigError : a declared input is neither available, nor sampled, nor optional.
    """
    chosen: dict[str, Any] = {}
    to_sample: list[str] = []
    for name, spec in generator.inputs.items():
        if spec.training_only and not training:
            continue  # evaluation sees what inference sees, so dev metrics are what users will get
        if name in available:
            chosen[name] = available[name]
        elif spec.sampled:
            to_sample.append(name)
        elif not spec.optional:
            raise ConfigError(
                f"{type(generator).__name__} needs input {name!r} ({spec.doc}); "
                f"available here: {', '.join(sorted(available)) or 'nothing'}"
            )
    if to_sample:
        batch = _batch_size(available)
        chosen.update(generator.sample_inputs(tuple(to_sample), batch, generator=rng))
    return chosen


def run_generator(
    generator: Generator,
    available: Mapping[str, Any],
    *,
    training: bool,
    rng: torch.Generator | None = None,
) -> GeneratorOutput:
    """``generator(**generator_inputs(…))``, checked to return a ``GeneratorOutput``."""
    output = generator(**generator_inputs(generator, available, training=training, rng=rng))
    if not isinstance(output, GeneratorOutput):
        raise TypeError(f"{type(generator).__name__}.forward must return a GeneratorOutput")
    return output


def _batch_size(available: Mapping[str, Any]) -> int:
    for value in available.values():
        if isinstance(value, Tensor) and value.dim() > 0:
            return value.shape[0]
    raise ConfigError("cannot tell the batch size: no batched tensor among the inputs")
