from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile

from cospeech.audio import SAMPLE_RATE, audio_duration, decode_audio, load_audio, log_mel_400, log_mel_512
from cospeech.errors import AudioError, ConfigError


def tone(seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    mono = 0.4 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1500 * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize(
    ("suffix", "fmt", "subtype", "sr", "channels"),
    [
        (".wav", "WAV", "PCM_16", 16000, 1),
        (".wav", "WAV", "PCM_32", 44100, 2),
        (".wav", "WAV", "FLOAT", 48000, 1),
        (".flac", "FLAC", "PCM_24", 22050, 2),
        (".ogg", "OGG", "VORBIS", 32000, 1),
        (".mp3", "MP3", "MPEG_LAYER_III", 44100, 2),
    ],
)
def test_load_audio_decodes_every_format_to_mono_16k(tmp_path, suffix, fmt, subtype, sr, channels):
    path = tmp_path / f"speech{suffix}"
    soundfile.write(path, tone(1.0, sr, channels), sr, format=fmt, subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - SAMPLE_RATE) <= 0.03 * SAMPLE_RATE  # mp3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(y[2000:14000]))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / 12000
    assert abs(peak_hz - 220) < 5
    assert 0.2 < np.abs(y).max() < 0.6


def test_float32_wav_keeps_its_values(tmp_path):
    x = (tone(0.5, SAMPLE_RATE) * 0.5).astype(np.float32)
    soundfile.write(tmp_path / "f.wav", x, SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "f.wav"), x, atol=1e-7)


def test_ffmpeg_formats_are_decoded(tmp_path):
    import av

    path = tmp_path / "speech.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=24000, layout="mono")
        samples = tone(1.0, 24000).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
        frame.sample_rate = 24000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    y = load_audio(path)
    assert abs(len(y) - SAMPLE_RATE) < 0.1 * SAMPLE_RATE


@pytest.mark.parametrize("suffix", [".flac", ".m4a"])  # libsndfile, then FFmpeg (PyAV)
def test_decode_audio_keeps_every_channel_at_the_files_rate(tmp_path, suffix):
    import av

    rate, t = 44_100, np.arange(44_100) / 44_100
    left, right = 0.4 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 1500 * t)
    path = tmp_path / f"stereo{suffix}"
    if suffix == ".flac":
        soundfile.write(path, np.stack([left, right], axis=1), rate, subtype="PCM_24")
    else:
        with av.open(str(path), "w") as container:
            stream = container.add_stream("aac", rate=rate, layout="stereo")
            frame = av.AudioFrame.from_ndarray(np.stack([left, right]).astype(np.float32), format="fltp",
                                               layout="stereo")  # fmt: skip
            frame.sample_rate = rate
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                container.mux(packet)
    assert audio_duration(path) == pytest.approx(1.0, abs=0.05)  # from the header, nothing decoded
    samples, got_rate = decode_audio(path)
    assert got_rate == rate and samples.dtype == np.float32 and samples.shape[1] == 2
    assert abs(len(samples) - rate) < 0.05 * rate  # AAC adds priming and padding
    level = np.sqrt(np.mean(samples[4096:-4096] ** 2, axis=0))
    np.testing.assert_allclose(level, [0.4 / np.sqrt(2), 0.2 / np.sqrt(2)], rtol=0.05)  # left stays left


def test_bad_audio_files_get_one_clear_error(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "absent.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF1234WAVEjunkjunk")
    with pytest.raises(AudioError, match="junk.wav"):
        load_audio(tmp_path / "junk.wav")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "text.mp3").write_text("not audio at all")
    with pytest.raises(AudioError, match="text.mp3"):
        load_audio(tmp_path / "text.mp3")
    assert audio_duration(tmp_path / "text.mp3") is None and audio_duration(tmp_path / "absent.wav") is None


def test_log_mel_400_equals_the_pats_recipe_built_by_hand():
    y = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    y[4000:6000] = 0.0  # exact zeros must become log(1e-6), not -inf
    magnitude = np.abs(
        librosa.stft(y, n_fft=512, hop_length=160, win_length=400, window="hann", center=False)
    )
    bank = librosa.filters.mel(sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500, htk=False, norm=None)
    mel = bank @ magnitude
    mel[mel == 0] = 1e-6
    expected = np.log(mel).T
    ours = log_mel_400(y)
    assert ours.shape == (1 + (len(y) - 512) // 160, 64) == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
    assert np.isfinite(ours).all()


def test_log_mel_400_resamples_other_rates():
    y44 = tone(1.0, 44100).astype(np.float32)
    assert abs(len(log_mel_400(y44, sr=44100)) - 98) <= 1


def test_log_mel_512_matches_librosa_defaults_with_reflect_padding():
    sr = 44100
    noise = np.random.default_rng(0).standard_normal(sr) * 0.01
    y = (tone(1.0, sr) + noise).astype(np.float32)
    y[:2048] = 0.0
    mel = librosa.feature.melspectrogram(y=y, sr=sr, pad_mode="reflect")
    mel[mel == 0] = 1e-10
    ours = log_mel_512(y, sr=sr)
    assert ours.shape == (1 + len(y) // 512, 128)
    np.testing.assert_allclose(ours, np.log(mel).T, rtol=1e-4, atol=1e-3)
    assert np.isfinite(ours).all()


def test_features_reject_multichannel_arrays():
    with pytest.raises(AudioError, match="mono"):
        log_mel_400(np.zeros((2, 16000), np.float32))


def test_real_corpus_audio_roundtrip(synth_root: Path):
    flac = next((synth_root / "raw").glob("*/*.flac"))
    y = load_audio(flac)
    assert y.dtype == np.float32 and len(y) > SAMPLE_RATE


def _speech(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.4 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)


def test_float_wav_at_int16_scale_is_rescaled_with_a_warning(tmp_path):
    speech = _speech()
    path = tmp_path / "loud.wav"
    soundfile.write(path, speech * 32768, SAMPLE_RATE, subtype="FLOAT")
    with pytest.warns(UserWarning, match=r"loud.wav: samples reach 13\d\d\d, far outside \[-1, 1\].*32768"):
        waveform = load_audio(path)
    np.testing.assert_allclose(waveform, speech, atol=1e-6)


def test_phase_inverted_stereo_uses_one_channel_with_a_warning(tmp_path):
    speech = _speech()
    path = tmp_path / "inverted.flac"
    soundfile.write(path, np.stack((speech, -speech), axis=1), SAMPLE_RATE)
    with pytest.warns(UserWarning, match="inverted.flac: the channels cancel when averaged"):
        waveform = load_audio(path)
    assert np.sqrt(np.mean(waveform**2)) > 0.1  # speech, not the silence the average would be


def test_ordinary_audio_gives_no_warning(tmp_path, recwarn):
    path = tmp_path / "fine.flac"
    soundfile.write(path, np.stack((_speech(), 0.5 * _speech()), axis=1), SAMPLE_RATE)
    load_audio(path)
    assert not [w for w in recwarn if "cospeech" in str(w.message)]


def test_kaiser_best_resampler_is_resampys_and_differs_from_soxr_only_in_the_top_mel_bands(tmp_path):
    """PATS resampled with resampy's kaiser_best; soxr HQ (default) agrees below ~7 kHz, not at the top."""
    import resampy

    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(3 * 44100)).astype(np.float32)  # broadband, like speech
    path = tmp_path / "noise.wav"
    soundfile.write(path, noise, 44100, subtype="FLOAT")
    pats = load_audio(path, resampler="kaiser_best")
    ours = load_audio(path)
    expected = resampy.resample(noise, 44100, SAMPLE_RATE, filter="kaiser_best")
    np.testing.assert_allclose(pats, expected, atol=1e-6)
    assert pats.dtype == np.float32 and pats.shape == ours.shape == (3 * SAMPLE_RATE,)
    gap = np.abs(log_mel_400(pats) - log_mel_400(ours)).mean(axis=0)  # (64,) nats per band
    assert gap[:62].max() < 2e-3
    assert gap[-1] > 0.1  # the band reaching 7.5 kHz, inside soxr's and kaiser_best's different roll-offs
    np.testing.assert_array_equal(load_audio(path, sr=44100, resampler="kaiser_best"), noise)


def test_unknown_resampler_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="resampler='kaiser_fast'; expected one of soxr, kaiser_best"):
        load_audio(tmp_path / "missing.wav", resampler="kaiser_fast")
