"""Kinematic beats, audio onsets and the beat alignment score: hand values and thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cospeech.metrics import BeatAlign, audio_beats, beat_align, kinematic_beats


def _walk(steps: list[float]) -> torch.Tensor:
    """One joint moving right by ``steps`` px per frame: ``(T, J=1, 2)``."""
    x = torch.tensor([0.0, *np.cumsum(steps)], dtype=torch.float64)
    return torch.stack((x, torch.zeros_like(x)), dim=-1).unsqueeze(1)


def test_kinematic_beat_is_the_speed_minimum() -> None:
    # speeds 5, 1, 5, 5: the slow step 1 → 2 makes frame 2 a beat, at 2/15 s
    np.testing.assert_allclose(kinematic_beats(_walk([5, 1, 5, 5])), [2 / 15])
    # a minimum shallower than min_drop (1 px/frame) is jitter, not a beat
    assert kinematic_beats(_walk([5, 4.5, 5, 5])).size == 0
    assert kinematic_beats(_walk([5, 4.5, 5, 5]), min_drop=0.25).size == 1


def test_beat_align_by_hand() -> None:
    poses = _walk([5, 1, 5, 5]).unsqueeze(0)  # one kinematic beat at 2/15 s
    assert beat_align(poses, [[2 / 15]]) == pytest.approx(1.0)
    # 0.1 s away with σ = 0.1 s scores exp(−0.5); the mean runs over audio beats
    assert beat_align(poses, [[2 / 15, 2 / 15 + 0.1]]) == pytest.approx((1 + math.exp(-0.5)) / 2)
    # no kinematic beat: every audio beat scores 0
    still = torch.zeros(1, 5, 1, 2)
    assert beat_align(still, [[0.1, 0.2]]) == 0.0
    metric = BeatAlign()
    metric.update(poses, [[2 / 15]])
    metric.update(still, [[0.1, 0.2, 0.3]])
    assert metric.compute().item() == pytest.approx(1 / 4)


def test_beat_align_without_audio_beats_is_nan_with_warning() -> None:
    with pytest.warns(RuntimeWarning, match="no audio beats"):
        assert np.isnan(beat_align(_walk([5, 1, 5, 5]).unsqueeze(0), [[]]))


def test_beat_align_needs_beats_per_sequence() -> None:
    with pytest.raises(ValueError, match="one array of audio beat times per sequence"):
        beat_align(torch.zeros(2, 5, 1, 2), [[0.1]])


def test_audio_beats_finds_clicks() -> None:
    sr = 16000
    waveform = np.zeros(2 * sr, dtype=np.float32)
    clicks = [0.5, 1.0, 1.5]
    for t in clicks:
        start = int(t * sr)
        waveform[start : start + 160] = np.hanning(160)
    found = audio_beats(waveform, sr=sr)
    # librosa's default peak picking may also flag the next 32 ms frame of a click; each lies near one
    gaps = np.abs(found[:, None] - np.array(clicks)[None, :])
    assert (gaps.min(axis=0) < 0.05).all() and (gaps.min(axis=1) < 0.07).all()
