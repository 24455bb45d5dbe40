"""Fixed-length training windows cut from PATS intervals, as the reference loader makes them.

A window is ``int(seconds · 15)`` pose frames (64 for the default 4.3 s). Starts follow the reference
exactly: ``range(0, n − window, hop)`` per modality (strict ``<``: an interval of exactly 64 frames gives no
window, and the tail after the last full window is dropped; a format of pre-cut clips, SDT's, lets the last
window end at the last frame, so each 64-frame clip is one window); the interval yields as many windows as its
shortest modality allows. The window cache (``cache``) also skips windows touching a frame with a NaN or
infinite value (a lost detection, a ``-inf`` log-mel frame of digital silence) and windows extending past
the end of the audio.

Audio alignment has two modes:

* ``"exact"`` (default): audio features are first averaged onto the pose clock (each pose frame gets the
  mean of the feature frames whose centres fall in its 1/15 s), so window *i* of audio and pose cover the
  same seconds. This is what a model of speech-caused gestures needs. The feature rate is the one recorded
  in the file (`audio_clock`); pose frames the audio does not reach are cut off (`audio_coverage`), so no
  window pairs gestures with padded audio.
* ``"pats"``: the reference loader's calibration constants (``log_mel_400`` at 103 Hz, ``log_mel_512`` at
  89 Hz), i.e. a 442- or 382-frame audio window subsampled with stride 7 or 6. Audio then spans ≈4.41 s
  against 4.27 s of pose and drifts across windows; use it to reproduce reference numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cospeech.audio import MEL400_HOP, MEL400_WIN, MEL512_HOP, SAMPLE_RATE
from cospeech.errors import ConfigError

POSE_FPS = 15
WINDOW_SECONDS = 4.3

PATS_LOADER_AUDIO_RATES = {
    "audio/log_mel_400": int(16.52 * 1000 / 160),  # 103: the reference's empirical constant, not 100
    "audio/log_mel_512": int(45.6 * 1000 / 512),  # 89
}
"""Feature rates (Hz) the reference loader assumes; only used in ``"pats"`` mode."""

MEL512_SAMPLE_RATES = (8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
"""Waveform rates (Hz) ``log_mel_512`` may have been computed at: PATS used each mp3's native rate, so its
feature rate is ``sr / 512`` (86.1 Hz at 44.1 kHz, 93.75 Hz at 48 kHz; 31.25 Hz for the built-in corpus at
16 kHz), never the loader's 89 Hz."""
RATE_SNAP_TOLERANCE = 0.03
"""A measured ``log_mel_512`` rate within 3 % of ``sr / 512`` for a rate above is taken to be exactly that
(the candidates are ≥ 8 % apart)."""

AudioRateMode = Literal["exact", "pats"]
AUDIO_RATE_MODES = ("exact", "pats")


@dataclass(frozen=True)
class WindowSpec:
    """How intervals are cut into windows."""

    seconds: float = WINDOW_SECONDS
    """Window length in seconds; the window has ``int(seconds · 15)`` pose frames."""
    hop: int = 0
    """Pose frames between window starts; 0 means non-overlapping (hop = window)."""
    audio_rate_mode: AudioRateMode = "exact"
    """``"exact"`` aligns audio to the pose clock; ``"pats"`` reproduces the reference loader."""

    def __post_init__(self) -> None:
        problems = []
        if self.frames < 1:
            problems.append(f"seconds={self.seconds} gives {self.frames} pose frames (need ≥ 1)")
        if self.hop < 0:
            problems.append(f"hop={self.hop} must be ≥ 0")
        if self.audio_rate_mode not in AUDIO_RATE_MODES:
            problems.append(f"audio_rate_mode={self.audio_rate_mode!r} not in {AUDIO_RATE_MODES}")
        if problems:
            raise ConfigError("invalid window spec: " + "; ".join(problems))

    @property
    def frames(self) -> int:
        """Pose frames per window."""
        return int(self.seconds * POSE_FPS)

    def geometry(self, key: str) -> tuple[int, int]:
        """(window length, stride) in the stored frames of ``key``. Sample = ``x[s : s + window : stride]``,
        always ``self.frames`` long."""
        if self.audio_rate_mode == "pats" and key in PATS_LOADER_AUDIO_RATES:
            rate = PATS_LOADER_AUDIO_RATES[key]
            return int(self.seconds * rate), round(rate / POSE_FPS)
        return self.frames, 1

    def hop_for(self, key: str) -> int:
        window, stride = self.geometry(key)
        return window if self.hop == 0 else self.hop * stride

    def count(self, lengths: dict[str, int], *, clips: bool = False) -> int:
        """Windows an interval yields, given each key's stored length (min over keys). ``clips``: the
        interval is a pre-cut clip (`Corpus.clips`, SDT), whose window may end at its last frame, so a
        64-frame clip gives one window (``range(0, n − window + 1, hop)``); otherwise the reference's strict
        range."""
        return min(
            len(range(0, n - self.geometry(k)[0] + clips, self.hop_for(k))) for k, n in lengths.items()
        )

    def starts(self, key: str, count: int) -> np.ndarray:
        """Start offsets (in ``key``'s frames) of the first ``count`` windows."""
        return np.arange(count, dtype=np.int64) * self.hop_for(key)

    def stored_key_is_aligned(self, key: str) -> bool:
        """Whether ``key`` is stored on the pose clock (True for all keys in ``"exact"`` mode)."""
        return not (self.audio_rate_mode == "pats" and key in PATS_LOADER_AUDIO_RATES)


def align_to_pose_clock(
    features: np.ndarray,
    n_pose_frames: int,
    *,
    rate: float,
    offset: float,
    subframes: int = 1,
    first_frame: int = 0,
    first_pose_frame: int = 0,
) -> np.ndarray:
    """Average feature frames onto the 15 fps pose clock, or onto ``subframes`` sub-frames of each pose frame.

    Parameters
    ----------
    features : np.ndarray [shape=(Ta, F)], frame k centred at ``offset + k / rate`` seconds.
    n_pose_frames : int, T; pose frame t spans ``[t/15, (t+1)/15)``, its sub-frame j
        ``[(t·s + j) / (15·s), (t·s + j + 1) / (15·s))`` for ``s = subframes``.
    subframes : int ≥ 1, s; 1 gives the pose clock itself.
    first_frame, first_pose_frame : for a block of a longer stream: ``features`` are its frames from
        ``first_frame`` on, and the result its pose frames from ``first_pose_frame`` on (times are
        computed on the whole stream's clock, so blocks put every frame where the whole file does).

    Returns
    -------
    aligned : np.ndarray [shape=(T, s·F)], float32, the s sub-frames of each pose frame side by side
    (``[sub0 F…, sub1 F…, …]``); sub-frames that no feature frame falls in (audio shorter than the poses,
    or rate < 15·s) take the nearest feature frame.
    """
    ta = len(features)
    clock = POSE_FPS * subframes
    n = n_pose_frames * subframes
    out = np.empty((n, features.shape[1]), dtype=np.float32)
    if ta == 0:
        raise ValueError("cannot align an empty feature array")
    owner = np.floor((offset + (first_frame + np.arange(ta)) / rate) * clock).astype(np.int64)
    owner -= first_pose_frame * subframes
    keep = (owner >= 0) & (owner < n)
    sums = np.zeros_like(out, dtype=np.float64)
    np.add.at(sums, owner[keep], features[keep])
    counts = np.bincount(owner[keep], minlength=n)[:n]
    filled = counts > 0
    out[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
    if not filled.all():
        centres = (first_pose_frame * subframes + np.arange(n) + 0.5) / clock
        nearest = np.clip(np.rint((centres - offset) * rate) - first_frame, 0, ta - 1).astype(np.int64)
        out[~filled] = features[nearest[~filled]]
    return out.reshape(n_pose_frames, subframes * features.shape[1])


def audio_clock(
    key: str, n_feature_frames: int, n_pose_frames: int, *, rate: float | None = None
) -> tuple[float, float]:
    """(rate Hz, centre of frame 0 in s) of a stored audio key.

    Parameters
    ----------
    key : stored audio key, e.g. ``audio/log_mel_400``.
    n_feature_frames, n_pose_frames : int, Ta and T of the interval.
    rate : float > 0 or None, the rate recorded with the features (``frame_rate`` attribute of PATS files
        written by cospeech); None when the file does not say.

    Without a recorded rate: ``log_mel_400`` has a known geometry (hop 10 ms, uncentred 25 ms window →
    100 Hz); ``log_mel_512`` is ``sr / 512`` for the waveform rate ``sr`` the measured rate
    ``Ta · 15 / T`` is closest to (within `RATE_SNAP_TOLERANCE`, else the measured rate); other keys are
    assumed to span the poses exactly (measured rate). Only a known rate can reveal audio shorter than
    the poses.
    """
    offset = MEL400_WIN / 2 / SAMPLE_RATE if key == "audio/log_mel_400" else 0.0
    if rate is not None:
        if not rate > 0:
            raise ValueError(f"{key}: recorded frame rate {rate} Hz must be > 0")
        return float(rate), offset
    if key == "audio/log_mel_400":
        return SAMPLE_RATE / MEL400_HOP, offset
    measured = n_feature_frames * POSE_FPS / max(n_pose_frames, 1)
    if key == "audio/log_mel_512":
        nearest = min((sr / MEL512_HOP for sr in MEL512_SAMPLE_RATES), key=lambda r: abs(r - measured))
        if abs(nearest - measured) <= RATE_SNAP_TOLERANCE * nearest:
            return nearest, offset
    return measured, offset


def audio_coverage(n_feature_frames: int, n_pose_frames: int, *, rate: float, offset: float) -> int:
    """Pose frames (from the start) the audio features reach: pose frame t counts if the audio extends
    to its middle, ``(t + ½) / 15 ≤ offset + (Ta − ½) / rate`` (the last feature frame covers half a hop
    past its centre).

    Returns
    -------
    frames : int in [0, T]; T when the audio spans the poses (as in any complete interval).
    """
    end = offset + (n_feature_frames - 0.5) / rate
    return int(np.clip(np.floor(end * POSE_FPS + 0.5 + 1e-9), 0, n_pose_frames))
