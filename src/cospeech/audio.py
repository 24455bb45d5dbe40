"""Audio input and the PATS log-mel features.

``load_audio`` decodes any common format to mono float32 at a target rate: libsndfile (via soundfile) for
WAV of any PCM/float subtype, FLAC, OGG and MP3; PyAV (FFmpeg) for everything else (m4a, aac, mp4 audio…).
``decode_audio`` keeps every channel at the file's own rate (what videos of the user's speech keep).
Resampling uses soxr's high-quality mode (librosa's own default since 0.10); ``resampler="kaiser_best"``
gives resampy's ``kaiser_best`` filter, which PATS' features were computed with (librosa 0.7's default;
``docs/deviations.md``).

``log_mel_400`` and ``log_mel_512`` reproduce PATS' features (reference notes §2.1–2.2) with librosa.
``normalize_level`` optionally removes the recording level from log-mel features (``AudioLevel``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import librosa
import numpy as np
import soundfile
import soxr

from cospeech.errors import AudioError, ConfigError

SAMPLE_RATE = 16_000
"""Rate of the waveform ``log_mel_400`` is computed on (Hz)."""

MEL400_N_FFT = 512
MEL400_WIN = 400  # 25 ms at 16 kHz
MEL400_HOP = 160  # 10 ms at 16 kHz → 100 feature frames per second
MEL400_BINS = 64
MEL400_FMIN = 125.0
MEL400_FMAX = 7500.0
MEL400_FLOOR = 1e-6

MEL512_N_FFT = 2048
MEL512_HOP = 512
MEL512_BINS = 128
MEL512_FLOOR = 1e-10


LOG_MEL_400_RECIPE: dict[str, object] = {
    "sample_rate": SAMPLE_RATE,
    "n_fft": MEL400_N_FFT,
    "win_length": MEL400_WIN,
    "hop_length": MEL400_HOP,
    "n_mels": MEL400_BINS,
    "fmin": MEL400_FMIN,
    "fmax": MEL400_FMAX,
    "floor": MEL400_FLOOR,
    "power": 1.0,
    "center": False,
    "mel_scale": "slaney",
    "log": "natural",
}
"""The ``log_mel_400`` recipe as data, recorded in every export so a changed recipe is caught at load time."""


OUT_OF_RANGE_PEAK = 2.0
"""Peak above which float samples are on the wrong scale (valid audio, even clipped, peaks near 1)."""
INT16_SCALE = 32768.0

Resampler = Literal["soxr", "kaiser_best"]
"""``"soxr"``: soxr's HQ mode (default). ``"kaiser_best"``: resampy's ``kaiser_best`` windowed sinc, as PATS
(librosa 0.7 ``load(sr=16000)``) resampled before ``log_mel_400``; slower, and the top two of its 64 mel bands
differ from soxr's (``docs/deviations.md``)."""

RESAMPLERS: tuple[str, ...] = ("soxr", "kaiser_best")


def load_audio(path: str | Path, *, sr: int = SAMPLE_RATE, resampler: Resampler = "soxr") -> np.ndarray:
    """Decode ``path`` to a mono float32 waveform at ``sr`` Hz (``decode_audio``, then ``to_waveform``).

    Parameters
    ----------
    path : audio file (wav int16/int32/float32/float64 PCM, flac, ogg, mp3, or anything FFmpeg decodes)
    sr : int > 0, target sample rate; channels are averaged, other rates resampled.
    resampler : ``"soxr"`` (default) or ``"kaiser_best"`` (resampy, the PATS resampler); see ``Resampler``.

    Returns
    -------
    waveform : np.ndarray [shape=(n,)], float32, nominally in [-1, 1].

    Raises
    ------
    AudioError : the file is missing, cannot be decoded, or holds no samples.
    ConfigError : ``resampler`` is not one of ``RESAMPLERS``.

    Out-of-range samples and cancelling channels are repaired with a warning (``to_waveform``).
    """
    if resampler not in RESAMPLERS:
        raise ConfigError(f"resampler={resampler!r}; expected one of {', '.join(RESAMPLERS)}")
    samples, native_sr = decode_audio(path)
    return to_waveform(samples, native_sr, sr=sr, name=str(path), resampler=resampler)


def decode_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` as stored: every channel, at the file's own rate (what videos keep of the speech).

    libsndfile (soundfile) reads WAV of any PCM/float subtype, FLAC, OGG and MP3; PyAV (FFmpeg) the rest.

    Returns
    -------
    samples : np.ndarray [shape=(n, channels)], float32 as decoded (not yet checked: ``check_samples``).
    sample_rate : int, Hz.

    Raises
    ------
    AudioError : the file is missing, cannot be decoded, or holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        samples, native_sr = _decode(path)
    except AudioError:
        raise
    except Exception as exc:  # decoders raise many types; the user needs the file and the reason
        raise AudioError(f"{path}: cannot decode audio ({exc.__class__.__name__}: {exc})") from exc
    if samples.size == 0:
        raise AudioError(f"{path}: audio file holds no samples")
    return samples, native_sr


def audio_duration(path: str | Path) -> float | None:
    """Seconds of audio in ``path`` as its header states, without decoding it (so a long file can be
    refused before it fills memory); ``None`` when the header does not say (some streams, unreadable files:
    ``decode_audio`` then names the problem).

    Reads libsndfile's header (WAV, FLAC, OGG, MP3), else FFmpeg's container duration (PyAV)."""
    path = Path(path)
    try:
        return float(soundfile.info(path).duration)
    except Exception:  # not a libsndfile format, or not audio at all: ask FFmpeg
        pass
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return container.duration / av.time_base
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    except av.error.FFmpegError:
        pass
    return None


def check_samples(samples: np.ndarray, native_sr: int, *, name: str) -> np.ndarray:
    """Decoded ``samples`` (n,) or (n, channels) at ``native_sr`` Hz, checked, as float32 (n, channels)
    nominally in [-1, 1]: the user's audio as videos keep it, and what ``to_waveform`` mixes.

    Float samples far outside [-1, 1] (a float file written at int16 scale: peak over ``OUT_OF_RANGE_PEAK``
    in any channel, up to 32768) are divided by 32768 (else by the peak), with a warning naming ``name``:
    otherwise they give confident nonsense. Applying it twice changes nothing.

    Raises
    ------
    AudioError : no samples, NaN or infinite samples, a non-positive rate, or not numbers.
    """
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2) or samples.size == 0 or not np.issubdtype(samples.dtype, np.number):
        raise AudioError(
            f"{name}: audio of shape {samples.shape} and dtype {samples.dtype}; expected numbers (n,) or "
            "(n, channels)"
        )
    if native_sr <= 0:
        raise AudioError(f"{name}: sample rate must be a positive rate in Hz, got {native_sr}")
    samples = samples.astype(np.float32, copy=False).reshape(len(samples), -1)  # (n, C)
    high, low = float(samples.max()), float(samples.min())  # NaN if any is; no temporary copies
    if not (np.isfinite(high) and np.isfinite(low)):
        raise AudioError(f"{name}: audio holds NaN or infinite samples")
    peak = max(high, -low)
    if peak > OUT_OF_RANGE_PEAK:
        scale = INT16_SCALE if peak <= INT16_SCALE * 1.01 else peak
        warnings.warn(
            f"cospeech: {name}: samples reach {peak:.0f}, far outside [-1, 1] (a float file written at "
            f"int16 scale?); divided by {scale:.0f}",
            stacklevel=3,
        )
        samples = samples / np.float32(scale)
    return samples


def to_waveform(
    samples: np.ndarray, native_sr: int, *, sr: int = SAMPLE_RATE, name: str, resampler: Resampler = "soxr"
) -> np.ndarray:
    """Decoded ``samples`` (n,) or (n, channels) at ``native_sr`` Hz → mono float32 at ``sr`` Hz, the
    one path for files and arrays.

    Two recording faults are repaired with a warning naming ``name``, because both would otherwise give
    confident nonsense: float samples far outside [-1, 1] (``check_samples``), and channels that cancel when
    averaged (phase-inverted stereo: the mix is < 10 % of the channels' level → the loudest channel is used).

    Raises
    ------
    AudioError : no samples, NaN or infinite samples, a non-positive rate, or not numbers.
    """
    samples = check_samples(samples, native_sr, name=name)  # (n, C)
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if samples.shape[1] > 1:
        level = np.sqrt(np.mean(samples.astype(np.float64) ** 2, axis=0))  # per channel
        if level.mean() > 1e-4 and np.sqrt(np.mean(mono.astype(np.float64) ** 2)) < 0.1 * level.mean():
            loudest = int(np.argmax(level))
            warnings.warn(
                f"cospeech: {name}: the channels cancel when averaged (phase-inverted stereo?); using "
                f"channel {loudest} alone",
                stacklevel=3,
            )
            mono = samples[:, loudest]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if native_sr != sr and resampler == "kaiser_best":
        import resampy  # imported lazily: it compiles its kernels with numba on first import

        mono = resampy.resample(mono, native_sr, sr, filter="kaiser_best").astype(np.float32, copy=False)
    elif native_sr != sr:
        mono = soxr.resample(mono, native_sr, sr, quality="HQ").astype(np.float32, copy=False)
    return mono


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """(samples (n, channels), rate). libsndfile first; FFmpeg for what it does not know."""
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return samples, int(rate)
    except soundfile.LibsndfileError:
        return _decode_with_ffmpeg(path)


def _decode_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    import av  # imported lazily: only formats libsndfile does not read need it

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's words, without its errno
        raise AudioError(f"{path}: not a readable audio file ({reason})") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path}: file has no audio stream")
        stream = container.streams.audio[0]
        channels = stream.codec_context.layout.nb_channels
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout)  # (C, n) chunks
        chunks = [out.to_ndarray() for frame in container.decode(stream) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
        rate = stream.rate or stream.codec_context.sample_rate
    if not chunks:
        return np.zeros((0, channels), dtype=np.float32), int(rate or SAMPLE_RATE)
    return np.concatenate(chunks, axis=1).T.astype(np.float32, copy=False), int(rate)


def log_mel_400(waveform: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """PATS ``audio/log_mel_400``: 64 log-mel bands at 100 frames per second.

    At 16 kHz: magnitude (power 1) STFT with ``n_fft=512``, 25 ms Hann window (400), 10 ms hop (160),
    ``center=False``; Slaney-scale mel filterbank, 64 bands from 125 to 7500 Hz, ``norm=None``; exact zeros
    → 1e-6; natural log. ``waveform`` at another rate is resampled to 16 kHz first.

    Returns
    -------
    features : np.ndarray [shape=(frames, 64)], float32, frames = 1 + (n − 512) // 160 (the 400-sample window
        sits in a 512-sample frame), 0 if n < 512.
    """
    y = _as_waveform(waveform)
    if sr != SAMPLE_RATE:
        y = soxr.resample(y, sr, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)
    if y.size < MEL400_N_FFT:
        return np.zeros((0, MEL400_BINS), dtype=np.float32)
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=SAMPLE_RATE,
        n_fft=MEL400_N_FFT,
        hop_length=MEL400_HOP,
        win_length=MEL400_WIN,
        center=False,
        power=1.0,
        n_mels=MEL400_BINS,
        fmin=MEL400_FMIN,
        fmax=MEL400_FMAX,
        htk=False,
        norm=None,
    )
    mel[mel == 0] = MEL400_FLOOR
    return np.log(mel).T.astype(np.float32)


def log_mel_512(waveform: np.ndarray, *, sr: int) -> np.ndarray:
    """PATS ``audio/log_mel_512``: 128 log-mel bands on the file's native rate, hop 512 samples.

    Power (2) mel spectrogram with librosa's defaults: ``n_fft=2048``, Hann window 2048, ``center=True``
    with reflect padding (librosa ≤ 0.9's default, which PATS used), 128 Slaney bands 0…sr/2 with area
    normalisation; exact zeros → 1e-10; natural log.

    Returns
    -------
    features : np.ndarray [shape=(1 + n // 512, 128)], float32.
    """
    y = _as_waveform(waveform)
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=sr,
        n_fft=MEL512_N_FFT,
        hop_length=MEL512_HOP,
        center=True,
        pad_mode="reflect",
        power=2.0,
        n_mels=MEL512_BINS,
    )
    mel[mel == 0] = MEL512_FLOOR
    return np.log(mel).T.astype(np.float32)


AudioLevel = Literal["none", "utterance"]
"""How log-mel features are levelled before the models see them (``PatsDataModule(audio_level=…)``,
recorded in ``DataSpec.audio_level``). ``"utterance"`` (the data module's default): ``normalize_level`` per
training interval and per inference input. ``"none"``: as computed (PATS' features; the output then depends
on the recording level and on the pauses' noise floor); the earlier default, which runs whose metadata
lacks the field used."""

AUDIO_LEVELS: tuple[str, ...] = ("none", "utterance")

LEVEL_PERCENTILE = 95.0
"""Percentile of the per-frame mean log-mel taken as the speech level L. A high percentile reads the loud
(voiced) frames, so it does not move with the share of pauses in an utterance, as a mean or median would;
below 100 so that a few clicks or plosives do not set it."""

LEVEL_FLOOR_DB = 50.0
"""Levelled features are clamped this far below the speech level (dB; 5.76 nats of magnitude, 11.5 of
power), shaped like white noise across the bins (``level_floor``). Measured on espeak-ng speech at −20 dBFS
RMS: 16-bit TPDF dither (≈ −98 dBFS) lies entirely under it, as do digital silence (the 1e-6 floor) and
quiet room noise, so all become the same value; 1.4 % of the speech's own bins (its deepest spectral
valleys) are clamped. At 60 dB 17 % of the dither's bins stayed above the floor (and 36 % unshaped).
Quieter recordings bring their dither closer to the speech and may leave some of it above the floor."""

FEATURE_POWER: dict[str, float] = {"audio/log_mel_400": 1.0, "audio/log_mel_512": 2.0}
"""Exponent of the spectrum each stored log-mel key is the log of (1: magnitude, 2: power); it converts
``LEVEL_FLOOR_DB`` to nats. Other audio keys are taken as magnitudes."""


def level_floor(key: str, width: int) -> np.ndarray:
    """Per-bin floor of levelled features of stored audio ``key``, in nats relative to the speech level.

    ``−LEVEL_FLOOR_DB`` in nats (``· ln 10 / 20 · power``), plus for ``log_mel_400`` the log of each band's
    filter weight sum minus its mean over bands: its mel filters are not area-normalised (``norm=None``), so
    white noise (dither, hiss) reads up to 1.3 nats louder in the wide top bands than on average, and a flat
    floor would let it through there. ``log_mel_512`` (area-normalised) and other keys get a flat floor.

    Returns
    -------
    floor : np.ndarray [shape=(width,)], float32, negative (−5.76 ± 1.3 for ``log_mel_400``).
    """
    floor = np.full(width, -LEVEL_FLOOR_DB * np.log(10.0) / 20.0 * FEATURE_POWER.get(key, 1.0))
    if key == "audio/log_mel_400" and width == MEL400_BINS:
        bands = dict(n_mels=MEL400_BINS, fmin=MEL400_FMIN, fmax=MEL400_FMAX, htk=False, norm=None)
        weights = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=MEL400_N_FFT, **bands).sum(axis=1)  # (64,)
        floor += np.log(weights) - np.log(weights).mean()
    return floor.astype(np.float32)


def speech_level(features: np.ndarray) -> float:
    """The speech level L of log-mel ``features`` [shape=(frames, F)], in nats: the ``LEVEL_PERCENTILE``-th
    percentile of the per-frame mean over the F bins, over frames whose mean is finite (``-inf`` frames of
    stored digital silence do not count). A gain g adds ``power · ln g`` to every bin and so to L.

    Raises
    ------
    AudioError : no frame has a finite mean (nothing to measure a level on).
    """
    means = np.asarray(features, dtype=np.float64).mean(axis=1)
    means = means[np.isfinite(means)]
    if means.size == 0:
        raise AudioError(f"no finite log-mel frame among {len(features)} to measure the speech level on")
    return float(np.percentile(means, LEVEL_PERCENTILE))


def normalize_level(features: np.ndarray, *, level: float, floor: np.ndarray | float) -> np.ndarray:
    """Log-mel ``features`` [shape=(frames, F)] relative to the speech ``level`` (nats, ``speech_level``),
    clamped at ``floor`` [shape=(F,) or scalar, nats, ``level_floor``]: ``max(x − level, floor)``.

    A gain is an additive constant in the log-mel domain, so the result does not depend on the recording
    level (to float rounding) wherever it is above the floor; below it, digital silence, dither and
    background noise all become ``floor``. ``-inf`` (log of exact zero) becomes ``floor`` too; NaN stays
    NaN (the window cache still skips it).

    Returns
    -------
    levelled : np.ndarray [shape=(frames, F)], float32, values in [floor, max − level].
    """
    floor = np.asarray(floor, dtype=np.float32)
    return np.maximum(np.asarray(features, dtype=np.float32) - np.float32(level), floor)


def _as_waveform(waveform: np.ndarray) -> np.ndarray:
    y = np.asarray(waveform)
    if y.ndim != 1:
        raise AudioError(f"expected a mono waveform of shape (n,), got shape {y.shape}")
    return np.ascontiguousarray(y, dtype=np.float32)
