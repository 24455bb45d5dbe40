"""The audio feature registry: torch features equal librosa's, blocks equal whole files, sub-frames pack
side by side, and a feature the corpus does not store is computed from its speech files."""

import warnings

import numpy as np
import pytest
import torch

from cospeech import features as features_module
from cospeech.audio import SAMPLE_RATE, load_audio, log_mel_400
from cospeech.data.cache import load_split
from cospeech.data.datamodule import PatsDataModule
from cospeech.data.pats import PatsCorpus
from cospeech.data.windows import WindowSpec, align_to_pose_clock, audio_coverage
from cospeech.errors import ConfigError
from cospeech.features import LogMel400, get_feature, list_features, pose_clock, register_feature
from cospeech.inference import pose_clock_features

KEYS = ("audio/log_mel_400", "audio/log_mel_512")


@pytest.fixture(scope="module")
def speech(synth_root) -> np.ndarray:
    """A real speech file of the built-in corpus at 16 kHz, with 0.2 s of exact digital silence in it."""
    corpus = PatsCorpus(synth_root)
    waveform = load_audio(corpus.raw_audio("ava", corpus.interval_ids("ava", "train")[0]))
    waveform[SAMPLE_RATE : SAMPLE_RATE + SAMPLE_RATE // 5] = 0.0
    return waveform


@pytest.fixture
def toy_registry(monkeypatch):
    """A throw-away copy of the registry, so toy features registered by a test vanish after it."""
    monkeypatch.setattr(features_module, "_FEATURES", features_module._FEATURES.copy())


def test_the_registry_lists_the_pats_features_and_names_them_when_asked_for_another():
    assert set(KEYS) <= set(list_features())
    feature = get_feature("audio/log_mel_400")
    assert (feature.bins, feature.rate, feature.offset, feature.subframes) == (64, 100.0, 0.0125, 1)
    assert feature.audio_dim == 64 and feature.levellable
    with pytest.raises(ConfigError, match="unknown audio feature 'audio/mfcc'; known .*audio/log_mel_400"):
        get_feature("audio/mfcc")


def test_a_taken_key_is_refused(toy_registry):
    with pytest.raises(ConfigError, match="'audio/log_mel_400' is registered twice"):

        @register_feature
        class Again(LogMel400):
            pass


@pytest.mark.parametrize("key", KEYS)
def test_torch_features_equal_librosa_within_float32_tolerance(speech, key):
    feature = get_feature(key)
    expected = feature.compute(speech)
    got = feature.compute_torch(torch.from_numpy(speech))
    assert got.dtype == torch.float32 and got.shape == expected.shape == (
        feature.frame_count(len(speech)),
        feature.bins,
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)
    silent = expected.min()  # the digital silence hits the floor on both paths
    assert silent == pytest.approx(got.numpy().min()) and silent < -13
    batched = feature.compute_torch(torch.from_numpy(np.stack([speech, 0.5 * speech])))  # (2, frames, bins)
    # a batch may sum in another order than one row (BLAS picks the kernel by shape): equal to rounding
    np.testing.assert_allclose(batched[0].numpy(), got.numpy(), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(batched[1].numpy(), feature.compute(0.5 * speech), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("key", KEYS)
def test_a_run_of_frames_computed_alone_equals_the_whole_file(speech, key):
    feature = get_feature(key)
    whole = feature.compute(speech)
    for first, stop in ((0, 7), (3, 40), (100, 101), (len(whole) - 9, len(whole))):
        np.testing.assert_allclose(feature.compute_frames(speech, first, stop), whole[first:stop], atol=1e-5)


def test_one_subframe_is_the_training_caches_alignment(speech):
    feature = get_feature("audio/log_mel_400")
    frames = feature.compute(speech)
    T = 100
    expected = align_to_pose_clock(frames, T, rate=100.0, offset=0.0125)
    np.testing.assert_array_equal(pose_clock(feature, frames, T), expected)


class ThreeSubframes(LogMel400):
    """A toy feature: log_mel_400 with 3 sub-frames per pose frame, taken as not levellable."""

    key = "audio/toy_subframes"
    subframes = 3
    levellable = False


def test_subframes_are_packed_side_by_side():
    """At 45 Hz and offset 0 every sub-frame holds exactly one feature frame."""

    class At45Hz(ThreeSubframes):
        hop, offset = 16_000 // 45 + 1, 0.0  # rate ≈ 44.9 Hz: frame k falls in sub-frame k

    feature = At45Hz()
    frames = np.arange(30 * 4, dtype=np.float32).reshape(30, 4)
    packed = pose_clock(feature, frames, 10)
    assert packed.shape == (10, 12)
    np.testing.assert_array_equal(packed, frames.reshape(10, 12))  # [sub0 bins…, sub1 bins…, sub2 bins…]
    np.testing.assert_array_equal(packed[0, 4:8], frames[1])


def test_subframe_features_on_the_pose_clock_equal_the_whole_file_in_blocks(speech):
    feature = ThreeSubframes()
    T = len(pose_clock_features(speech))
    expected = pose_clock(feature, feature.compute(speech), T)
    for block in (7, 64, 10_000):
        got = pose_clock_features(speech, feature=feature, block_frames=block)
        assert got.shape == (T, 3 * 64)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ConfigError, match="audio/toy_subframes is not a log-domain feature"):
        pose_clock_features(speech, feature=feature, level="utterance")


def test_a_feature_the_corpus_does_not_store_is_computed_from_its_speech_files(
    synth_root, tmp_path, toy_registry
):
    register_feature(ThreeSubframes)
    corpus = PatsCorpus(synth_root)
    keys = ["pose/normalize", ThreeSubframes.key]
    cache = load_split(corpus, "ava", "dev", keys, WindowSpec(), tmp_path)
    assert len(cache) > 0
    window = len(cache) - 1
    interval = cache.interval_ids[cache.window_interval[window]]
    frame = cache.window_frame[window]
    frames = ThreeSubframes().compute(load_audio(corpus.raw_audio("ava", interval)))
    T = corpus.pose_frames("ava", interval)
    aligned = pose_clock(get_feature(ThreeSubframes.key), frames, T)
    assert audio_coverage(len(frames), T, rate=100.0, offset=0.0125) > frame + 64
    np.testing.assert_array_equal(
        cache.gather(ThreeSubframes.key, np.array([window]))[0], aligned[frame : frame + 64]
    )
    with pytest.raises(ConfigError, match="audio/toy_subframes is not a log-domain feature"):
        load_split(corpus, "ava", "dev", keys, WindowSpec(), tmp_path, audio_level="utterance")
    with pytest.raises(ConfigError, match="audio_key='audio/toy_subframes' is not a log-domain feature"):
        PatsDataModule(str(synth_root), ["ava"], audio_key=ThreeSubframes.key, cache_dir=str(tmp_path))
    dm = PatsDataModule(
        str(synth_root), ["ava"], audio_key=ThreeSubframes.key, audio_level="none", cache_dir=str(tmp_path)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # drop reports of the tiny corpus are not under test
        dm.setup()
    assert dm.spec.audio_dim == 3 * 64
    batch = next(iter(dm.train_dataloader()))
    assert batch["audio"].shape[-1] == 3 * 64


def test_the_stored_and_the_computed_log_mel_agree(synth_root):
    """The built-in corpus stores log_mel_400 computed from the waveform its speech file holds."""
    corpus = PatsCorpus(synth_root)
    interval = corpus.interval_ids("ben", "dev")[0]
    stored = corpus.read("ben", interval, ["audio/log_mel_400"])["audio/log_mel_400"]
    computed = log_mel_400(load_audio(corpus.raw_audio("ben", interval)))
    assert computed.shape == stored.shape
    assert np.median(np.abs(computed - stored)) < 1e-2
