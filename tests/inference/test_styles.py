"""Style requests: one speaker or a mix of the model's speakers."""

from __future__ import annotations

import numpy as np
import pytest

from cospeech.errors import ConfigError
from cospeech.inference.styles import StyleMix

SPEAKERS = ("ava", "ben", "cleo")


def test_one_speaker_is_the_plain_id() -> None:
    mix = StyleMix.parse("ben", SPEAKERS)
    assert mix.single == 1 and mix.dominant == 1
    assert mix.vector().tolist() == [0.0, 1.0, 0.0]
    assert str(mix) == "ben"
    assert StyleMix.parse("ben=2", SPEAKERS).single == 1
    assert StyleMix.parse("ava=0,ben=1", SPEAKERS).single == 1


def test_mixes_are_normalised_in_model_speaker_order() -> None:
    mix = StyleMix.parse("cleo=3, ava=1", SPEAKERS)
    np.testing.assert_allclose(mix.vector(), [0.25, 0.0, 0.75])
    assert mix.single is None and mix.dominant == 2
    assert str(mix) == "ava=0.25,cleo=0.75"
    assert StyleMix.parse({"ava": 0.5, "ben": 0.5}, SPEAKERS).weights == (0.5, 0.5, 0.0)


@pytest.mark.parametrize(
    "request_, message",
    [
        ("zed", "unknown speaker 'zed'; this model knows: ava, ben, cleo"),
        ("ava=0.5,zed=0.5", "unknown speaker 'zed'"),
        ("ava=x", "style weight of 'ava' is 'x', not a number"),
        ("ava=-1,ben=2", "weights must be finite and ≥ 0"),
        ("ava=nan", "weights must be finite"),
        ("ava=0,ben=0", "sum to 0"),
        ("ava=1,ava=2", "names a speaker twice"),
        ("ava,ben=1", "give every speaker a weight"),
        (" , ", "empty style"),
        ({"ava": "a lot"}, "not a number"),
    ],
)
def test_bad_requests_are_one_clear_error(request_: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        StyleMix.parse(request_, SPEAKERS)
