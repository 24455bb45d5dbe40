"""Text inputs from a transcript at inference, made the way the training corpus made its text keys.

A text model (Mix-StAGE with ``text_key``) was trained on a stored ``text/*`` key of its corpus. For new
speech the same key must be made from a transcript's word timings: each word's value repeated over its
pose frames by PATS' rule (``cospeech.data.text.word_frames``), z-normalised with the run's statistics, and,
for ``repeat_text: false`` runs, one row per token per window exactly as the data module slices training
windows (``cospeech.data.text``).

What makes a word's value is recorded with the run (``DataSpec.text_featurizer``, from the corpus files):
the built-in corpus' words (``cospeech.data.synth.words``) are made here. PATS' own keys come from
``bert-base-uncased`` and GoogleNews word2vec, which cospeech does not download; a run trained on them
cannot featurise a new transcript, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from cospeech.data.spec import DataSpec
from cospeech.data.synth.words import FEATURIZER as SYNTH_FEATURIZER
from cospeech.data.synth.words import word_features
from cospeech.data.text import (
    TOKENS_KEY,
    Word,
    change_points,
    token_rows,
    uses_word_timings,
    word_frames,
    word_starts,
)
from cospeech.errors import ConfigError

Featurizer = Callable[[Sequence[Word], str, int], np.ndarray]
"""``(words, key, n_frames) → (T,) int64 token ids or (T, D) float32 features`` on the pose clock."""

FEATURIZERS: Mapping[str, Featurizer] = {SYNTH_FEATURIZER: word_features}
"""Featurizers by the name a corpus records in its text keys."""


def transcript_text(words: Sequence[Word], spec: DataSpec, n_frames: int) -> np.ndarray:
    """The run's text key for ``words`` over ``n_frames`` pose frames, raw (not normalised).

    Raises
    ------
    ConfigError : the run has no text key, or its text was made by a featurizer cospeech cannot run here
        (PATS' BERT / word2vec), naming it.
    DataError : a word the featurizer does not know, or word times out of order.
    """
    if spec.text_key is None:
        raise ConfigError("this model was trained without text; it takes no transcript")
    if spec.text_featurizer is None:
        raise ConfigError(
            f"this model was trained on {spec.text_key} as PATS made it (bert-base-uncased / word2vec), "
            "which cospeech cannot compute for a new transcript without those models; train with a corpus "
            "that records its text featurizer (the built-in corpus does) to generate from transcripts"
        )
    featurizer = FEATURIZERS.get(spec.text_featurizer)
    if featurizer is None:
        raise ConfigError(
            f"unknown text featurizer {spec.text_featurizer!r} recorded with the model; "
            f"known: {', '.join(FEATURIZERS)}"
        )
    return featurizer(words, spec.text_key, n_frames)


def window_text(
    raw: np.ndarray,
    normalized: np.ndarray,
    words: Sequence[Word],
    starts: np.ndarray,
    window: int,
    spec: DataSpec,
) -> dict[str, np.ndarray]:
    """The ``text`` input (and ``token_duration`` for one-row-per-token runs) of windows ``starts``.

    Parameters
    ----------
    raw, normalized : np.ndarray [shape=(T, …)], the utterance's text key as made and as the model sees it
        (token ids are both the same); T covers every window.
    words : the transcript (word timings in seconds), for the token starts of feature keys.
    starts : np.ndarray [shape=(B,)], first frame of each window.
    window : frames per window.

    Returns
    -------
    ``{"text": (B, W, …)}`` for per-frame text, else ``{"text": (B, L, …), "token_duration": (B, L)}``
    zero-padded rows, the token starts found as in training (``cospeech.data.text``).
    """
    frames = starts[:, None] + np.arange(window)
    values = normalized[frames]
    if spec.repeat_text:
        return {"text": values}
    if uses_word_timings(spec.text_key):
        start, end = word_frames(words, len(raw))
        token_starts = [word_starts(start, end, int(s), window) for s in starts]
    else:
        token_starts = [change_points(raw[f]) for f in frames]
    rows, duration, _ = token_rows(values, token_starts)
    return {"text": rows, "token_duration": duration}


def is_token_key(spec: DataSpec) -> bool:
    """Whether the run's text is token ids (never normalised)."""
    return spec.text_key == TOKENS_KEY
