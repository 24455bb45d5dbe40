"""The generator contract: which declared inputs a caller passes, and the example inputs of a declaration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from cospeech.errors import ConfigError
from cospeech.models import STANDARD_INPUTS, Generator, GeneratorOutput, InputSpec, generator_inputs


@dataclass(frozen=True)
class _Sizes:
    pose_dim: int = 4
    num_styles: int = 3
    text_dim: int = 5
    text_vocab: int = 0
    num_clusters: int = 6


class _Declares(Generator):
    """Declares one input of every kind; records what it was given."""

    inputs: ClassVar = {
        "audio": STANDARD_INPUTS["audio"],
        "pose": STANDARD_INPUTS["pose"],
        "cluster": STANDARD_INPUTS["cluster"],  # training-only and optional
        "text": STANDARD_INPUTS["text"],
        "token_duration": STANDARD_INPUTS["token_duration"],  # optional
        "noise": InputSpec("(B, 2) float32", "a per-utterance draw", sampled=True),
    }

    def __init__(self, config: _Sizes | None = None) -> None:
        super().__init__()
        self.config = config or _Sizes()

    def sample_inputs(self, names, batch_size, *, generator=None):
        return {"noise": torch.zeros(batch_size, 2)}

    def forward(self, audio, text, noise, pose=None, cluster=None, token_duration=None) -> GeneratorOutput:
        return GeneratorOutput(audio[..., :1])


def _batch(**extra: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"audio": torch.zeros(2, 8, 3), "text": torch.zeros(2, 8, 5), **extra}


def test_missing_optional_inputs_are_not_passed() -> None:
    chosen = generator_inputs(_Declares(), _batch(pose=torch.zeros(2, 8, 4)), training=True)
    assert set(chosen) == {"audio", "text", "pose", "noise"}  # no cluster, no token_duration


def test_present_optional_inputs_are_passed_and_training_only_ones_only_in_training() -> None:
    batch = _batch(
        cluster=torch.zeros(2, 8, dtype=torch.long),
        token_duration=torch.full((2, 1), 8),
        pose=torch.zeros(2, 8, 4),
        index=torch.arange(2),  # not declared: ignored
    )
    assert set(generator_inputs(_Declares(), batch, training=True)) == {
        "audio", "text", "noise", "pose", "cluster", "token_duration"
    }  # fmt: skip
    assert set(generator_inputs(_Declares(), batch, training=False)) == {
        "audio", "text", "noise", "token_duration"
    }  # fmt: skip


def test_a_missing_required_input_is_named() -> None:
    with pytest.raises(ConfigError, match=r"_Declares needs input 'text' \(words: .*available here: audio"):
        generator_inputs(_Declares(), {"audio": torch.zeros(2, 8, 3)}, training=False)


def test_example_inputs_are_sized_from_the_config_and_leave_out_optional_ones_without_a_maker() -> None:
    example = _Declares().example_inputs(batch_size=2, frames=7)
    assert set(example) == {"audio", "pose", "cluster", "text"}  # noise is sampled, token_duration optional
    assert example["text"].shape == (2, 7, 5) and example["text"].dtype == torch.float32
    assert example["cluster"].shape == (2, 7) and int(example["cluster"].max()) < 6
    tokens = _Declares(_Sizes(text_dim=0, text_vocab=11)).example_inputs(batch_size=3, frames=9)["text"]
    assert tokens.shape == (3, 9) and tokens.dtype == torch.long and int(tokens.max()) < 11


def test_example_inputs_refuse_a_required_input_they_cannot_make() -> None:
    class _Unknown(_Declares):
        inputs: ClassVar = {"audio": STANDARD_INPUTS["audio"], "template": InputSpec("(B, 3)", "made up")}

    with pytest.raises(NotImplementedError, match=r"override example_inputs for \['template'\]"):
        _Unknown().example_inputs()
