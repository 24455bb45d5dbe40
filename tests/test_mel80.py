"""SDT's front end ``audio/mel_80`` (notes sdt §3.2): frame count, power without log, HTK bands, torch
equals NumPy, and the 7 sub-frames per pose frame the SDT generator unpacks."""

import numpy as np
import torch

from cospeech.audio import SAMPLE_RATE
from cospeech.features import get_feature, pose_clock

CLIP_SAMPLES = 68_266
"""The reference's clip: 64 frames at 15 fps of 16 kHz audio (notes sdt §1.2)."""


def _tone(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_a_reference_clip_gives_427_frames_of_80_bins_and_560_features_per_pose_frame():
    feature = get_feature("audio/mel_80")
    mel = feature.compute(_tone(440.0, CLIP_SAMPLES / SAMPLE_RATE))
    assert mel.shape == (427, 80) == (feature.frame_count(CLIP_SAMPLES), feature.bins)
    assert (feature.subframes, feature.audio_dim, feature.levellable) == (7, 560, False)
    assert pose_clock(feature, mel, 64).shape == (64, 560)


def test_power_mel_without_log_on_the_htk_scale():
    feature = get_feature("audio/mel_80")
    quiet, loud = feature.compute(_tone(1000.0, 1.0, 0.1)), feature.compute(_tone(1000.0, 1.0, 0.2))
    np.testing.assert_allclose(loud, 4 * quiet, rtol=1e-4, atol=1e-6)  # power: twice the amplitude, 4×
    assert quiet.min() >= 0

    # HTK mel points from 55 to 7500 Hz: the band peaking nearest 1 kHz holds the tone
    def mel(hz):
        return 2595 * np.log10(1 + hz / 700)

    centres = 700 * (10 ** (np.linspace(mel(55), mel(7500), 82)[1:-1] / 2595) - 1)
    assert quiet.mean(0).argmax() == np.abs(centres - 1000).argmin()


def test_torch_equals_numpy_on_speech_like_noise():
    feature = get_feature("audio/mel_80")
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    expected = feature.compute(noise)
    batch = torch.from_numpy(np.stack([noise, noise]))
    got = feature.compute_torch(batch).numpy()
    assert got.shape == (2, *expected.shape)
    np.testing.assert_allclose(got[1], expected, rtol=1e-4, atol=1e-4 * expected.max())
