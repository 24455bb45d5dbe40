import numpy as np
import pytest
import torch

from cospeech.data.datamodule import EpochShuffleSampler, PatsDataModule, SpeakerSet
from cospeech.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def datamodule(synth_root, tmp_path_factory):
    dm = PatsDataModule(
        str(synth_root), ["ava", "ben"], batch_size=16, cache_dir=str(tmp_path_factory.mktemp("c"))
    )
    dm.setup()
    return dm


def test_batches_have_the_documented_shapes_and_style_ids(datamodule):
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["audio"].shape == (16, 64, 64) and batch["pose"].shape == (16, 64, 96)
    assert batch["oracle"].shape == (16, 64, 96)
    assert batch["style"].dtype == torch.int64
    train = datamodule.datasets["train"]
    sizes = train.speaker_block_sizes()
    expected_style = (batch["index"] >= sizes[0]).long()
    torch.testing.assert_close(batch["style"], expected_style)


def test_training_windows_are_z_normalised(datamodule):
    train = datamodule.datasets["train"]
    everything = train.__getitems__(list(range(len(train))))
    pose = everything["pose"].reshape(-1, 96)
    torch.testing.assert_close(pose.mean(0), torch.zeros(96), atol=1e-3, rtol=0)
    torch.testing.assert_close(pose.std(0), torch.ones(96), atol=2e-2, rtol=0)


def test_items_match_batches(datamodule):
    dev = datamodule.datasets["dev"]
    batch = dev.__getitems__([2, 0, 1])
    single = dev[0]
    torch.testing.assert_close(batch["pose"][1], single["pose"])


def test_source_normalisation_uses_the_source_speaker_for_everyone(synth_root, tmp_path):
    dm = PatsDataModule(
        str(synth_root), [["ava"], ["ava", "cleo"]], normalization="source", cache_dir=str(tmp_path)
    )
    dm.setup()
    assert dm.speakers == ("ava", "cleo")
    mean = dm.normalizer.mean["pose"]
    torch.testing.assert_close(mean[0], mean[1])
    per = PatsDataModule(
        str(synth_root), ["ava", "cleo"], normalization="per_speaker", cache_dir=str(tmp_path)
    )
    per.setup()
    torch.testing.assert_close(per.normalizer.mean["pose"][0], mean[0])
    assert not torch.allclose(per.normalizer.mean["pose"][1], mean[1])


def test_few_shot_training_set(synth_root, tmp_path):
    dm = PatsDataModule(str(synth_root), ["ava", "ben"], k_shot=7, fewshot_seed=1, cache_dir=str(tmp_path))
    dm.setup()
    train = dm.datasets["train"]
    assert len(train) == 14
    again = PatsDataModule(str(synth_root), ["ava", "ben"], k_shot=7, fewshot_seed=1, cache_dir=str(tmp_path))
    again.setup()
    np.testing.assert_array_equal(again.datasets["train"].windows, train.windows)
    newest = PatsDataModule(str(synth_root), ["ava", "ben"], k_shot=7, replay="none", cache_dir=str(tmp_path))
    newest.setup()
    np.testing.assert_array_equal(newest.datasets["train"].windows, train.windows[7:])


def test_epoch_order_depends_only_on_seed_and_epoch():
    a, b = EpochShuffleSampler(50, seed=3), EpochShuffleSampler(50, seed=3)
    b.set_epoch(1)
    b.set_epoch(0)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b) and sorted(a) == list(range(50))


def test_speaker_lists():
    assert SpeakerSet.parse(["a", "b"]) == SpeakerSet(("a", "b"), ("a", "b"))
    assert SpeakerSet.parse([["a"], ["a", "b"]]) == SpeakerSet(("a", "b"), ("a",))
    with pytest.raises(ConfigError):
        SpeakerSet.parse("oliver")
    with pytest.raises(ConfigError):
        SpeakerSet.parse([["a"], "b", ["c"]])


def test_unknown_speaker(synth_root, tmp_path):
    dm = PatsDataModule(str(synth_root), ["ava", "oliver"], cache_dir=str(tmp_path))
    with pytest.raises(DataError, match="oliver"):
        dm.setup()
