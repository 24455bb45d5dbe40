"""``audio_level="utterance"`` (the default) end to end: recorded by training, repeated by inference
(checkpoint and export), so the poses do not depend on the recording gain; ``none`` keeps the features as
stored (the earlier default), and with them the gain's effect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from inference_testdata import synthetic_speech
from tiny_runs import tiny_run_args

from cospeech.audio import SAMPLE_RATE, level_floor, load_audio, normalize_level, speech_level
from cospeech.data.cache import load_split
from cospeech.data.corpus import open_corpus
from cospeech.data.windows import WindowSpec
from cospeech.inference import GestureGenerator, export_model, pose_clock_features, read_checkpoint

MINUS_6_DB = 10 ** (-6 / 20)


@pytest.fixture(scope="module")
def unlevelled_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run (2 speakers, 2 training batches) trained with ``--data.audio_level none``."""
    from cospeech.training.engine import run_cli

    workdir = tmp_path_factory.mktemp("unlevelled_run")
    run_cli(["fit", *tiny_run_args(workdir, synth_root), "--data.audio_level", "none"])
    return workdir / "runs" / "tiny" / "version_0"


def gain_sensitivity(pipe: GestureGenerator, speech: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(pose change from a −6 dB gain, relative to the change from other speech; largest change of the
    generator's z-normalised audio input from the gain). The tiny models move little in pixels, so the
    pose change is measured against how much the model reacts to speech at all."""
    inputs: list[np.ndarray] = []
    generate = pipe._generate  # the model part: z-normalised audio (T, F) on the device in

    def recording(audio: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        inputs.append(audio.cpu().numpy())
        return generate(audio, *args, **kwargs)

    pipe._generate = recording  # instance attribute: the shared pipeline is restored below
    try:
        loud, quiet, different = (
            pipe.generate(x.astype(np.float32), sample_rate=SAMPLE_RATE, speaker="ava", seed=0).poses
            for x in (speech, MINUS_6_DB * speech, other)
        )
    finally:
        del pipe._generate
    ratio = np.abs(loud - quiet).mean() / np.abs(loud - different).mean()
    return float(ratio), float(np.abs(inputs[0] - inputs[1]).max())


def test_training_records_the_level_and_inference_repeats_it(tiny_run, unlevelled_run, pipe, tmp_path):
    assert read_checkpoint(tiny_run).metadata.data.audio_level == "utterance"  # the default run
    assert read_checkpoint(unlevelled_run).metadata.data.audio_level == "none"
    levelled, unlevelled = pipe, GestureGenerator.from_pretrained(unlevelled_run)
    speech, other = synthetic_speech(8.0, seed=4), synthetic_speech(8.0, seed=5)
    ratio, audio_change = gain_sensitivity(unlevelled, speech, other)
    assert ratio > 0.2 and audio_change > 0.3  # `none`: −6 dB moves the poses like other speech would
    ratio, audio_change = gain_sensitivity(levelled, speech, other)
    assert ratio < 0.02 and audio_change < 1e-3  # `utterance`: float noise only
    # an export carries the option: same poses as the checkpoint
    exported = export_model(tiny_run, tmp_path / "model")
    config = json.loads((exported / "config.json").read_text())
    assert config["metadata"]["data"]["audio_level"] == "utterance"
    from_export = GestureGenerator.from_pretrained(exported)
    assert from_export.metadata.data.audio_level == "utterance"
    expected = levelled.generate(speech, sample_rate=SAMPLE_RATE, speaker="ava", seed=0).poses
    again = from_export.generate(speech, sample_rate=SAMPLE_RATE, speaker="ava", seed=0).poses
    np.testing.assert_array_equal(again, expected)


def test_cache_levels_each_interval_and_keys_the_option(synth_root, tmp_path):
    corpus = open_corpus(synth_root)
    keys = ["pose/normalize", "audio/log_mel_400"]
    spec = WindowSpec(hop=16, audio_rate_mode="pats")  # stored audio frames as they are: comparable
    plain = load_split(corpus, "ava", "dev", keys, spec, tmp_path)
    levelled = load_split(corpus, "ava", "dev", keys, spec, tmp_path, audio_level="utterance")
    assert plain.directory != levelled.directory  # the option is part of the cache key
    assert len(plain) == len(levelled) > 0
    interval = plain.interval_ids[0]
    stored = corpus.read("ava", interval, ["audio/log_mel_400"])["audio/log_mel_400"]
    expected = normalize_level(stored, level=speech_level(stored), floor=level_floor("audio/log_mel_400", 64))
    np.testing.assert_allclose(levelled.arrays["audio/log_mel_400"][: len(stored)], expected, atol=1e-6)
    np.testing.assert_allclose(plain.arrays["audio/log_mel_400"][: len(stored)], stored, atol=1e-6)


def test_training_cache_and_inference_level_an_interval_alike(synth_root, tmp_path):
    """The cached training audio of an interval (exact mode) is what inference makes of its speech file, at
    any gain, up to the decoding difference the unlevelled features already have."""
    corpus = open_corpus(synth_root)
    keys = ["pose/normalize", "audio/log_mel_400"]
    spec = WindowSpec(hop=16)
    plain = load_split(corpus, "ava", "dev", keys, spec, tmp_path)
    levelled = load_split(corpus, "ava", "dev", keys, spec, tmp_path, audio_level="utterance")
    interval = plain.interval_ids[0]
    assert levelled.interval_ids[0] == interval
    speech = load_audio(corpus.raw_audio("ava", interval))
    features = pose_clock_features(speech)
    T = min(len(features), len(plain.arrays["audio/log_mel_400"]))  # the cache stops where the audio does
    decoding = np.abs(features[:T] - plain.arrays["audio/log_mel_400"][:T]).max()
    assert decoding < 0.05  # the stored features were computed from this speech
    for gain in (1.0, 0.5):
        inferred = pose_clock_features(gain * speech, level="utterance")[:T]
        assert np.abs(inferred - levelled.arrays["audio/log_mel_400"][:T]).max() < decoding + 1e-3
