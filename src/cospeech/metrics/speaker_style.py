"""Style accuracy: does a generated window move like the speaker whose style was requested?

Style transfer (Mix-StAGE, ECCV 2020) is judged by asking a **speaker classifier trained on real poses**
which speaker a generated window looks like; the fraction assigned to the requested speaker is the *style
accuracy*. Mix-StAGE reports a learned classifier's score ("style IS"); here the classifier is a plain,
reproducible one (scikit-learn logistic regression on per-window posture and motion statistics), so the
number depends on nothing but the training poses and the seed. Read it against two references measured with
the same classifier: held-out **real** windows (how separable the speakers are at all, the ceiling) and the
**mean-pose baseline** of the requested speaker (how much a static posture alone gives away).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cospeech.errors import ConfigError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def window_style_features(windows: np.ndarray) -> np.ndarray:
    """Per-window posture and motion statistics, ``(N, T, J, 2)`` pixels → ``(N, 7J)``.

    Per joint: mean position (x, y), spread (std of x and y over the window), and the mean, 90th percentile
    and std of its speed (px/frame). Posture says where a speaker holds the hands; the speed statistics say
    how much and how sharply they move. Translation of the whole body is not removed: PATS poses are
    neck-relative already.

    Raises ``ConfigError`` unless the input is ``(N ≥ 1, T ≥ 2, J, 2)`` and finite.
    """
    windows = np.asarray(windows, dtype=np.float64)
    if windows.ndim != 4 or windows.shape[-1] != 2 or windows.shape[0] < 1 or windows.shape[1] < 2:
        raise ConfigError(f"pose windows of shape {windows.shape}; expected (N ≥ 1, T ≥ 2, J, 2) pixels")
    if not np.isfinite(windows).all():
        raise ConfigError("pose windows contain NaN or infinite values")
    N = len(windows)
    speed = np.linalg.norm(np.diff(windows, axis=1), axis=-1)  # (N, T-1, J)
    return np.concatenate(
        [
            windows.mean(axis=1).reshape(N, -1),
            windows.std(axis=1).reshape(N, -1),
            speed.mean(axis=1),
            np.percentile(speed, 90, axis=1),
            speed.std(axis=1),
        ],
        axis=1,
    )


@dataclass(frozen=True)
class SpeakerClassifier:
    """A speaker classifier on pose windows (logistic regression on ``window_style_features``).

    >>> clf = SpeakerClassifier.fit(train_windows, train_speakers)   # (N, T, J, 2) pixels, (N,) ids
    >>> clf.style_accuracy(generated, requested)                      # fraction in [0, 1]
    """

    model: Pipeline
    num_speakers: int

    @classmethod
    def fit(cls, windows: np.ndarray, speakers: np.ndarray, *, seed: int = 0) -> SpeakerClassifier:
        """Fit on real windows ``(N, T, J, 2)`` with speaker ids ``(N,)`` in ``0 … S−1``.

        Raises ``ConfigError`` for mismatched lengths, ids that are not ``0 … S−1``, or fewer than two
        speakers."""
        speakers = np.asarray(speakers)
        features = window_style_features(windows)
        if speakers.shape != (len(features),):
            raise ConfigError(f"{len(features)} windows but speaker ids of shape {speakers.shape}")
        present = np.unique(speakers)
        if len(present) < 2 or present.min() < 0 or not np.issubdtype(speakers.dtype, np.integer):
            raise ConfigError(f"speaker ids must be integers ≥ 0 of at least two speakers, got {present}")
        from sklearn.linear_model import LogisticRegression  # imported where used (cospeech.metrics)
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))
        model.fit(features, speakers)
        return cls(model, int(present.max()) + 1)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Speaker id each window ``(N, T, J, 2)`` is assigned to, ``(N,)`` int64."""
        return self.model.predict(window_style_features(windows)).astype(np.int64)

    def style_accuracy(self, windows: np.ndarray, requested: np.ndarray | int) -> float:
        """Fraction of ``windows`` assigned to the ``requested`` speaker (one id, or ``(N,)`` ids)."""
        predicted = self.predict(windows)
        requested = np.broadcast_to(np.asarray(requested), predicted.shape)
        return float((predicted == requested).mean())
