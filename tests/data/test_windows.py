import numpy as np
import pytest

from cospeech.data.windows import WindowSpec, align_to_pose_clock, audio_clock, audio_coverage
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


def test_audio_clock_prefers_the_recorded_rate_then_the_feature_geometry():
    assert audio_clock("audio/log_mel_400", 1000, 150) == (100.0, 0.0125)
    assert audio_clock("audio/log_mel_400", 1000, 150, rate=50.0) == (50.0, 0.0125)
    assert audio_clock("audio/log_mel_512", 300, 150, rate=44_100 / 512) == (44_100 / 512, 0.0)
    # Without a rate, log_mel_512 is sr/512 for the waveform rate sr the measurement is closest to:
    # 10 s at 16 kHz gives 1 + 160000 // 512 = 313 frames (31.3 Hz measured, 31.25 Hz true) …
    assert audio_clock("audio/log_mel_512", 313, 150) == (16_000 / 512, 0.0)
    assert audio_clock("audio/log_mel_512", 1 + 441_000 // 512, 150) == (44_100 / 512, 0.0)
    # … and a measured rate matching no waveform rate is kept.
    assert audio_clock("audio/log_mel_512", 700, 150) == (70.0, 0.0)
    with pytest.raises(ValueError, match="must be > 0"):
        audio_clock("audio/log_mel_512", 300, 150, rate=0.0)


@pytest.mark.parametrize(
    ("n_features", "expected"),
    [(2000, 150), (1000, 150), (998, 150), (667, 100), (660, 99), (1, 0)],
)
def test_audio_coverage_counts_pose_frames_whose_middle_the_audio_reaches(n_features, expected):
    # log_mel_400: frame k centred at 0.0125 + k / 100 s, covering half a hop either side.
    # 667 frames reach 0.0125 + 666.5 / 100 = 6.6775 s: past the middle of pose frame 99 (6.633 s),
    # not that of pose frame 100 (6.7 s); 660 frames reach 6.6075 s, short of pose frame 99's middle.
    assert audio_coverage(n_features, 150, rate=100.0, offset=0.0125) == expected
