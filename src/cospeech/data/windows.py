"""Fixed-length training windows cut from PATS intervals, as the reference loader makes them.

A window is ``int(seconds · 15)`` pose frames (64 for the default 4.3 s). Starts follow the reference
exactly: ``range(0, n − window, hop)`` per modality (strict ``<``: an interval of exactly 64 frames gives no
window, and the tail after the last full window is dropped); the interval yields as many windows as its
shortest modality allows. Windows touching a pose frame with NaN (a missing detection) are skipped.

Audio alignment has two modes:

* ``"exact"`` (default): audio features are first averaged onto the pose clock (each pose frame gets the
  mean of the feature frames whose centres fall in its 1/15 s), so window *i* of audio and pose cover the
  same seconds. This is what a model of speech-caused gestures needs.
* ``"pats"``: the reference loader's calibration constants (``log_mel_400`` at 103 Hz, ``log_mel_512`` at
  89 Hz), i.e. a 442- or 382-frame audio window subsampled with stride 7 or 6. Audio then spans ≈4.41 s
  against 4.27 s of pose and drifts across windows; use it to reproduce reference numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cospeech.audio import MEL400_HOP, MEL400_WIN, SAMPLE_RATE
from cospeech.errors import ConfigError

POSE_FPS = 15
WINDOW_SECONDS = 4.3

PATS_LOADER_AUDIO_RATES = {
    "audio/log_mel_400": int(16.52 * 1000 / 160),  # 103: the reference's empirical constant, not 100
    "audio/log_mel_512": int(45.6 * 1000 / 512),  # 89
}
"""Feature rates (Hz) the reference loader assumes; only used in ``"pats"`` mode."""

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

    def count(self, lengths: dict[str, int]) -> int:
        """Windows an interval yields, given each key's stored length (min over keys)."""
        return min(len(range(0, n - self.geometry(k)[0], self.hop_for(k))) for k, n in lengths.items())

    def starts(self, key: str, count: int) -> np.ndarray:
        """Start offsets (in ``key``'s frames) of the first ``count`` windows."""
        return np.arange(count, dtype=np.int64) * self.hop_for(key)

    def stored_key_is_aligned(self, key: str) -> bool:
        """Whether ``key`` is stored on the pose clock (True for all keys in ``"exact"`` mode)."""
        return not (self.audio_rate_mode == "pats" and key in PATS_LOADER_AUDIO_RATES)


def align_to_pose_clock(
    features: np.ndarray, n_pose_frames: int, *, rate: float, offset: float
) -> np.ndarray:
    """Average feature frames onto the 15 fps pose clock.

    Parameters
    ----------
    features : np.ndarray [shape=(Ta, F)], frame k centred at ``offset + k / rate`` seconds.
    n_pose_frames : int, T; pose frame t spans ``[t/15, (t+1)/15)``.

    Returns
    -------
    aligned : np.ndarray [shape=(T, F)]; pose frames that no feature frame falls in (audio shorter than
    the poses, or rate < 15) take the nearest feature frame.
    """
    ta = len(features)
    out = np.empty((n_pose_frames, features.shape[1]), dtype=np.float32)
    if ta == 0:
        raise ValueError("cannot align an empty feature array")
    owner = np.floor((offset + np.arange(ta) / rate) * POSE_FPS).astype(np.int64)
    keep = (owner >= 0) & (owner < n_pose_frames)
    sums = np.zeros_like(out, dtype=np.float64)
    np.add.at(sums, owner[keep], features[keep])
    counts = np.bincount(owner[keep], minlength=n_pose_frames)[:n_pose_frames]
    filled = counts > 0
    out[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
    if not filled.all():
        centres = (np.arange(n_pose_frames) + 0.5) / POSE_FPS
        nearest = np.clip(np.rint((centres - offset) * rate), 0, ta - 1).astype(np.int64)
        out[~filled] = features[nearest[~filled]]
    return out


def audio_clock(key: str, n_feature_frames: int, n_pose_frames: int) -> tuple[float, float]:
    """(rate Hz, centre of frame 0 in s) of a stored audio key. ``log_mel_400`` has a known geometry
    (hop 10 ms, uncentred 25 ms window); for others the rate is measured against the pose duration."""
    if key == "audio/log_mel_400":
        return SAMPLE_RATE / MEL400_HOP, MEL400_WIN / 2 / SAMPLE_RATE
    return n_feature_frames * POSE_FPS / max(n_pose_frames, 1), 0.0
