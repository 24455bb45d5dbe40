"""Style accuracy's speaker classifier on real poses of the built-in corpus (real HDF5 files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cospeech.data.pats import PatsCorpus
from cospeech.data.poses import flat_to_joints
from cospeech.errors import ConfigError
from cospeech.metrics.speaker_style import SpeakerClassifier, window_style_features

WINDOW = 64


def _windows(
    corpus: PatsCorpus, speakers: list[str], splits: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Half-overlapping 64-frame pixel windows (N, 64, 48, 2) and speaker ids of ``splits``."""
    windows, ids = [], []
    for s, speaker in enumerate(speakers):
        for split in splits:
            for interval in corpus.interval_ids(speaker, split):
                stored = corpus.read(speaker, interval, ["pose/normalize"])["pose/normalize"]
                joints = flat_to_joints(corpus.to_model_pose("pose/normalize", stored))
                for start in range(0, len(joints) - WINDOW + 1, WINDOW // 2):
                    windows.append(joints[start : start + WINDOW])
                    ids.append(s)
    return np.stack(windows), np.array(ids)


def test_real_speakers_are_told_apart_and_wrong_requests_score_low(synth_root: Path) -> None:
    corpus = PatsCorpus(synth_root)
    speakers = corpus.speakers[:3]
    train, train_ids = _windows(corpus, speakers, ("train",))
    held, held_ids = _windows(corpus, speakers, ("dev", "test"))
    clf = SpeakerClassifier.fit(train, train_ids)
    assert clf.num_speakers == 3
    real = clf.style_accuracy(held, held_ids)
    wrong = clf.style_accuracy(held, (held_ids + 1) % 3)
    assert real > 0.8, real
    assert wrong < 0.2, wrong


def test_features_see_motion_not_only_posture() -> None:
    rng = np.random.default_rng(0)
    still = np.zeros((2, 16, 3, 2))
    moving = still + rng.normal(0, 5, size=still.shape)
    f_still, f_moving = window_style_features(still), window_style_features(moving)
    assert f_still.shape == (2, 7 * 3)
    assert np.all(f_still[:, 12:] == 0) and np.all(f_moving[:, 12:] > 0)


@pytest.mark.parametrize(
    "windows, ids, message",
    [
        (np.zeros((4, 64, 48)), np.array([0, 1, 0, 1]), "expected \\(N ≥ 1, T ≥ 2, J, 2\\)"),
        (np.full((2, 8, 3, 2), np.nan), np.array([0, 1]), "NaN"),
        (np.zeros((4, 8, 3, 2)), np.array([0, 1]), "4 windows but speaker ids"),
        (np.zeros((2, 8, 3, 2)), np.array([0, 0]), "at least two speakers"),
    ],
)
def test_bad_input_is_one_clear_error(windows: np.ndarray, ids: np.ndarray, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SpeakerClassifier.fit(windows, ids)
