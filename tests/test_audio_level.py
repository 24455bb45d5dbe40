"""Levelling log-mel features (``audio_level="utterance"``): gain-invariant, and every pause the same
whatever its noise floor, at training (window cache) and inference (``pose_clock_features``) alike."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_runs import PATS48_SPEC

from cospeech.audio import (
    SAMPLE_RATE,
    level_floor,
    log_mel_400,
    normalize_level,
    speech_level,
)
from cospeech.data.spec import DataSpec
from cospeech.data.synth.speech import random_voice, render_speech, syllable_timeline
from cospeech.data.windows import align_to_pose_clock, audio_clock
from cospeech.errors import AudioError, ConfigError
from cospeech.inference import pose_clock_features

FLOOR = level_floor("audio/log_mel_400", 64)  # (64,) nats below the speech level


def speech_with_pauses(seconds: float = 6.0, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(waveform (n,) at 16 kHz, pause mask (n,)): synthetic speech with two 0.8 s stretches of exact
    digital silence, as a TTS engine or an edited mono WAV has."""
    rng = np.random.default_rng(seed)
    voice = random_voice(rng)
    x = render_speech(syllable_timeline(voice, seconds, rng), voice, seconds, SAMPLE_RATE, rng)
    pause = np.zeros(len(x), dtype=bool)
    for start in (1.5, 4.0):
        pause[int(start * SAMPLE_RATE) : int((start + 0.8) * SAMPLE_RATE)] = True
    x = np.where(pause, 0.0, x).astype(np.float32)
    return x, pause


def test_floor_is_50_db_below_the_speech_level_shaped_like_white_noise():
    assert FLOOR.shape == (64,) and FLOOR.mean() == pytest.approx(-50 * np.log(10) / 20)  # −5.76 nats
    assert FLOOR[-1] > FLOOR[0] + 1  # wide top bands read white noise louder
    rng = np.random.default_rng(0)
    noise = log_mel_400(rng.standard_normal(10 * SAMPLE_RATE).astype(np.float32)).mean(axis=0)
    assert np.std((noise - noise.mean()) - (FLOOR - FLOOR.mean())) < 0.05  # same shape across bins
    power = level_floor("audio/log_mel_512", 128)  # power spectrum, area-normalised bands: flat
    assert np.allclose(power, 2 * -50 * np.log(10) / 20)


@pytest.mark.parametrize("gain", [0.5, 10 ** (-6 / 20), 3.0])
def test_levelled_features_do_not_depend_on_the_recording_gain(gain):
    x, _ = speech_with_pauses()
    quiet = (gain * x).astype(np.float32)
    as_is = np.abs(pose_clock_features(x) - pose_clock_features(quiet))
    assert as_is.mean() > 0.3  # without levelling a gain shifts every bin (log 0.5 = −0.69)
    loud_levelled = pose_clock_features(x, level="utterance")
    assert np.abs(loud_levelled - pose_clock_features(quiet, level="utterance")).max() < 1e-4


def test_digital_silence_and_dither_in_pauses_give_the_same_levelled_features():
    x, pause = speech_with_pauses()
    rng = np.random.default_rng(0)
    # triangular (TPDF) dither of ±1 LSB at 16 bits, as a dithered FLAC export has in its pauses
    dither = (rng.uniform(-1, 1, len(x)) + rng.uniform(-1, 1, len(x))) / 32768
    dithered = np.where(pause, dither, x).astype(np.float32)
    T = len(pose_clock_features(x))
    in_pause = np.zeros(T, dtype=bool)
    for start in (1.5, 4.0):  # pose frames well inside the pauses
        in_pause[int(start * 15) + 2 : int((start + 0.8) * 15) - 2] = True
    as_is = pose_clock_features(x) - pose_clock_features(dithered)
    assert np.abs(as_is[in_pause]).mean() > 3  # log 1e-6 against the dither's level: nats apart
    silent = pose_clock_features(x, level="utterance")
    noisy = pose_clock_features(dithered, level="utterance")
    assert np.allclose(silent[in_pause], FLOOR) and np.allclose(noisy[in_pause], FLOOR)
    assert np.abs(silent - noisy).max() < 0.05  # speech, pauses and the frames between
    assert np.abs(silent[~in_pause] - noisy[~in_pause]).mean() < 1e-3


def test_normalize_level_subtracts_the_level_and_clamps_minus_inf_to_the_floor():
    features = np.array([[0.0, -2.0], [1.0, 3.0], [-np.inf, -np.inf], [-20.0, np.nan]], dtype=np.float32)
    level = speech_level(features)  # frame means 0 … −inf (excluded), NaN (excluded): 95th pct of (−1, 2)
    assert level == pytest.approx(-1 + 0.95 * 3)
    floor = np.float32(-5.0)
    out = normalize_level(features, level=level, floor=floor)
    assert np.allclose(out[:2], np.maximum(features[:2] - level, floor))
    assert (out[2] == floor).all() and out[3, 0] == floor and np.isnan(out[3, 1])
    with pytest.raises(AudioError, match="no finite log-mel frame"):
        speech_level(np.full((3, 2), -np.inf))


def test_blockwise_levelled_features_equal_levelling_the_whole_file():
    x, _ = speech_with_pauses(seconds=9.0)
    whole = log_mel_400(x)
    levelled = normalize_level(whole, level=speech_level(whole), floor=FLOOR)
    reference = pose_clock_features(x, level="utterance", block_frames=10_000)
    assert np.abs(pose_clock_features(x, level="utterance", block_frames=16) - reference).max() < 1e-5
    # levelling before alignment = aligning the levelled frames
    rate, offset = audio_clock("audio/log_mel_400", len(whole), len(reference))
    aligned = align_to_pose_clock(levelled, len(reference), rate=rate, offset=offset)
    assert np.abs(aligned - reference).max() < 1e-5
    with pytest.raises(ConfigError, match="none, utterance"):
        pose_clock_features(x, level="loud")


def test_data_spec_records_the_level_and_reads_older_metadata_as_none():
    values = dict(PATS48_SPEC)
    assert DataSpec.from_dict(values).audio_level == "none"  # written before the option existed
    spec = DataSpec.from_dict({**values, "audio_level": "utterance"})
    assert DataSpec.from_dict(spec.to_dict()).audio_level == "utterance"
    with pytest.raises(ConfigError, match="audio_level='peak' must be one of none, utterance"):
        DataSpec.from_dict({**values, "audio_level": "peak"})
