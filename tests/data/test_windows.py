import numpy as np
import pytest

from cospeech.data.windows import WindowSpec, align_to_pose_clock
from cospeech.errors import ConfigError


@pytest.mark.parametrize(
    ("frames", "hop", "expected"),
    [(64, 0, 0), (65, 0, 1), (128, 0, 1), (129, 0, 2), (300, 0, 4), (65, 5, 1), (70, 5, 2), (100, 5, 8)],
)
def test_window_counts_follow_the_reference_range(frames, hop, expected):
    # reference: starts = range(0, n − 64, hop or 64); strict < drops an exact fit
    assert WindowSpec(hop=hop).count({"pose/normalize": frames}) == expected
    assert expected == len(range(0, frames - 64, hop or 64))


def test_pats_audio_mode_uses_the_loader_constants():
    spec = WindowSpec(hop=5, audio_rate_mode="pats")
    assert spec.frames == 64
    assert spec.geometry("audio/log_mel_400") == (442, 7)
    assert spec.geometry("audio/log_mel_512") == (382, 6)
    assert len(range(0, 442, 7)) == len(range(0, 382, 6)) == 64
    assert spec.hop_for("audio/log_mel_400") == 35
    # an interval limited by its audio: 200 pose frames but only 600 audio frames
    assert spec.count({"pose/normalize": 200, "audio/log_mel_400": 600}) == len(range(0, 600 - 442, 35))


def test_exact_mode_keeps_audio_on_the_pose_clock():
    spec = WindowSpec()
    assert spec.geometry("audio/log_mel_400") == (64, 1)


def test_alignment_averages_the_frames_inside_each_pose_frame():
    rate = 100.0
    features = np.arange(1000, dtype=np.float32)[:, None]  # frame k holds k, centred at 0.0125 + k/100 s
    aligned = align_to_pose_clock(features, 150, rate=rate, offset=0.0125)
    assert aligned.shape == (150, 1)
    centres = 0.0125 + np.arange(1000) / rate
    owner = np.floor(centres * 15).astype(int)
    for t in (0, 1, 77, 149):
        np.testing.assert_allclose(aligned[t, 0], features[owner == t, 0].mean())


def test_alignment_pads_when_audio_is_short():
    features = np.ones((10, 3), np.float32)
    aligned = align_to_pose_clock(features, 30, rate=100.0, offset=0.0)
    assert aligned.shape == (30, 3) and np.all(aligned == 1)


def test_bad_specs_are_rejected_with_every_problem():
    with pytest.raises(ConfigError, match="hop=-1.*audio_rate_mode"):
        WindowSpec(hop=-1, audio_rate_mode="fast")
