"""Videos made from a user's file keep the user's audio: its sample rate and channels reach the mp4's AAC
track, and what is only in one channel stays in that channel (issue 10)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
import soxr
from inference_testdata import synthetic_speech

from cospeech.audio import SAMPLE_RATE, log_mel_400
from cospeech.cli.main import main
from cospeech.data.windows import align_to_pose_clock, audio_clock, audio_coverage
from cospeech.inference import pose_clock_features
from cospeech.inference.pipeline import pose_frames

TONE_HZ = 1000.0
TONE_AMPLITUDE = 0.3


def _stereo_with_tone(seconds: float, rate: int, tone_channel: int, seed: int) -> np.ndarray:
    """(n, 2) speech in both channels at ``rate``, plus a 1 kHz tone in ``tone_channel`` only."""
    speech = 0.5 * soxr.resample(synthetic_speech(seconds, seed=seed), SAMPLE_RATE, rate)
    tone = TONE_AMPLITUDE * np.sin(2 * np.pi * TONE_HZ * np.arange(len(speech)) / rate)
    stereo = np.stack([speech, speech], axis=1)
    stereo[:, tone_channel] += tone
    return stereo.astype(np.float32)


def _tone_amplitude(channel: np.ndarray, rate: int) -> float:
    """Amplitude of the 1 kHz component of ``channel`` (any phase, so AAC's encoder delay does not matter)."""
    t = np.arange(len(channel)) / rate
    sin, cos = np.sin(2 * np.pi * TONE_HZ * t), np.cos(2 * np.pi * TONE_HZ * t)
    return float(2 * np.hypot(channel @ sin, channel @ cos) / len(channel))


def _generate_mp4(tiny_run: Path, speech: Path, out: Path) -> Path:
    argv = ["generate", str(speech), "--checkpoint", str(tiny_run), "--speaker", "ava", "-o", str(out)]
    assert main([*argv, "--device", "cpu"]) == 0
    return out


def _read_audio(path: Path) -> tuple[int, int, np.ndarray, float]:
    """(rate, channels, samples (C, n), video seconds) of an mp4's audio, decoded by PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate, channels = stream.codec_context.sample_rate, stream.codec_context.layout.nb_channels
        video = container.streams.video[0]
        video_seconds = float(video.duration * video.time_base)
        samples = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], axis=1)
    return rate, channels, samples, video_seconds


@pytest.mark.parametrize(
    ("suffix", "rate", "subtype", "tone_channel"),
    [(".wav", 44_100, "PCM_16", 0), (".flac", 48_000, "PCM_24", 1)],
)
def test_stereo_files_keep_their_rate_and_channels_in_the_mp4(
    tiny_run, tmp_path, capsys, suffix, rate, subtype, tone_channel
):
    speech = tmp_path / f"talk{suffix}"
    soundfile.write(speech, _stereo_with_tone(3.0, rate, tone_channel, seed=3), rate, subtype=subtype)
    mp4 = _generate_mp4(tiny_run, speech, tmp_path / "talk.mp4")
    assert capsys.readouterr().out.split() == [str(mp4)]
    got_rate, channels, samples, video_seconds = _read_audio(mp4)
    assert (got_rate, channels) == (rate, 2)
    assert abs(samples.shape[1] / rate - video_seconds) < 0.1  # AAC frame padding aside, the same span
    amplitude = [_tone_amplitude(samples[c], rate) for c in (0, 1)]
    assert amplitude[tone_channel] == pytest.approx(TONE_AMPLITUDE, rel=0.1)  # the tone is where it was…
    assert amplitude[1 - tone_channel] < 0.01 * TONE_AMPLITUDE  # …and only there
    speech_only = samples[1 - tone_channel]
    assert np.sqrt(np.mean(speech_only**2)) > 0.02  # the other channel still carries the speech


def test_mono_16k_input_stays_mono(tiny_run, tmp_path, capsys):
    speech = tmp_path / "talk.wav"
    soundfile.write(speech, synthetic_speech(2.0, seed=4), SAMPLE_RATE)
    rate, channels, samples, _ = _read_audio(_generate_mp4(tiny_run, speech, tmp_path / "talk.mp4"))
    assert (rate, channels) == (SAMPLE_RATE, 1) and samples.shape[0] == 1


def test_generated_gestures_carry_the_speech_as_given(pipe, tmp_path):
    stereo = _stereo_with_tone(2.0, 44_100, 0, seed=5)
    gestures = pipe.generate(stereo, sample_rate=44_100, speaker="ava")
    assert gestures.sample_rate == 44_100 and gestures.audio.shape == (2, len(stereo))
    np.testing.assert_array_equal(gestures.audio, stereo.T)
    path = tmp_path / "loud.wav"  # a float file at int16 scale: the video gets the samples divided as well
    soundfile.write(path, stereo * 32768, 44_100, subtype="FLOAT")
    with pytest.warns(UserWarning, match="far outside"):
        loud = pipe.generate(path, speaker="ava")
    np.testing.assert_allclose(loud.audio, stereo.T, atol=1e-6)
    np.testing.assert_allclose(loud.poses, gestures.poses, atol=1e-3)


@pytest.mark.parametrize("n_samples", [117_920, 48_100, 48_000])
def test_pose_frames_stop_where_the_log_mel_frames_end(n_samples):
    """7.37 s is 110.55 pose frames, rounded to 111, but its last log-mel frame (centre 7.3425 s, reaching
    7.3475 s) ends before the middle of frame 110 (7.3667 s): 110 frames, as the training cache counts."""
    n_mel = 1 + (n_samples - 512) // 160
    rate, offset = audio_clock("audio/log_mel_400", n_mel, 10**6)
    covered = audio_coverage(n_mel, 10**6, rate=rate, offset=offset)
    T = pose_frames(n_samples)
    assert min(round(n_samples * 15 / SAMPLE_RATE), covered) == T
    assert {117_920: 110, 48_100: 45, 48_000: 45}[n_samples] == T
    waveform = synthetic_speech(n_samples / SAMPLE_RATE, seed=6)
    features = pose_clock_features(waveform)
    assert features.shape == (T, 64)
    # every frame is an average of its own log-mel frames: none is a copy of a neighbour's
    whole = log_mel_400(waveform)
    owner = np.floor((offset + np.arange(len(whole)) / rate) * 15).astype(int)
    assert set(range(T)) <= set(owner.tolist())
    np.testing.assert_allclose(features, align_to_pose_clock(whole, T, rate=rate, offset=offset), atol=1e-5)
