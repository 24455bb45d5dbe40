import numpy as np
import pytest
import torch

from cospeech.data.fewshot import fewshot_indices
from cospeech.errors import ConfigError


def test_draws_are_deterministic_and_per_block():
    a = fewshot_indices([100, 50, 80], k_shot=7, seed=1)
    b = fewshot_indices([100, 50, 80], k_shot=7, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (21,)
    assert np.all(a[:7] < 100) and np.all((a[7:14] >= 100) & (a[7:14] < 150)) and np.all(a[14:] >= 150)
    assert not np.array_equal(a, fewshot_indices([100, 50, 80], k_shot=7, seed=2))


def test_reference_semantics_one_generator_block_after_block():
    generator = torch.Generator().manual_seed(3)
    expected = np.concatenate(
        [torch.randint(0, 40, (5,), generator=generator), torch.randint(40, 70, (5,), generator=generator)]
    )
    np.testing.assert_array_equal(fewshot_indices([40, 30], k_shot=5, seed=3), expected)


def test_old_speakers_keep_their_windows_when_speakers_are_added():
    two = fewshot_indices([100, 50], k_shot=28, seed=1)
    three = fewshot_indices([100, 50, 80], k_shot=28, seed=1)
    np.testing.assert_array_equal(three[:56], two)


def test_newest_only_gives_the_same_windows_as_in_the_full_draw():
    full = fewshot_indices([100, 50, 80], k_shot=7, seed=1)
    newest = fewshot_indices([100, 50, 80], k_shot=7, seed=1, keep_blocks=[-1])
    np.testing.assert_array_equal(newest, full[14:])


def test_invalid_requests():
    with pytest.raises(ConfigError, match="k_shot"):
        fewshot_indices([10], k_shot=0, seed=1)
    with pytest.raises(ConfigError, match=r"block\(s\) \[1\]"):
        fewshot_indices([10, 0], k_shot=3, seed=1)
