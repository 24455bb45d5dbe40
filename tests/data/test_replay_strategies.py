import pytest

from cospeech.data.replay import REPLAY_STRATEGIES, get_replay, newest_share
from cospeech.errors import ConfigError

REFERENCE_NAMES = {
    "none": "no-replay-fs",
    "buffer": "random-fs",
    "pseudo": "pseudo-fs-src",
    "pseudo_aligned": "pseudo-align-fs-src",
    "mergan_jtr": "pseudo-fs-tgt",
    "mergan_ra": "pseudo-align-fs-tgt",
    "joint": "random-full",
}


def test_the_seven_strategies_and_their_reference_names():
    assert {name: get_replay(name).reference for name in REPLAY_STRATEGIES} == REFERENCE_NAMES


def test_c_diffgan_is_pseudo_replay_in_a_fixed_split_with_the_discriminator_on_the_newest_rows():
    c_diffgan = get_replay("pseudo_aligned")
    assert (c_diffgan.memory, c_diffgan.batches, c_diffgan.old_targets) == ("seen", "newest_share", "teacher")
    assert (c_diffgan.style_redraw, c_diffgan.discriminator_rows) == ("none", "newest")
    assert [name for name in REPLAY_STRATEGIES if get_replay(name).uses_k_shot] == [
        "buffer", "mergan_jtr", "mergan_ra", "none", "pseudo", "pseudo_aligned",
    ]  # fmt: skip
    assert {get_replay(n).style_redraw for n in ("mergan_jtr", "mergan_ra")} == {"all", "old_rows"}


def test_unknown_strategy_is_one_line_listing_the_known_ones():
    with pytest.raises(ConfigError) as error:
        get_replay("random-fs")
    message = str(error.value)
    assert "\n" not in message and "unknown replay strategy 'random-fs'" in message
    assert all(name in message for name in REFERENCE_NAMES)


@pytest.mark.parametrize(
    ("speakers", "split"), [(1, (0, 32)), (2, (16, 16)), (3, (22, 10)), (4, (24, 8)), (5, (26, 6))]
)
def test_newest_share_is_the_reference_split_at_batch_32(speakers, split):
    assert newest_share(32, speakers) == split


def test_newest_share_keeps_one_newest_row_and_rejects_empty_inputs():
    assert newest_share(4, 5) == (3, 1)
    with pytest.raises(ConfigError, match="num_speakers"):
        newest_share(32, 0)
