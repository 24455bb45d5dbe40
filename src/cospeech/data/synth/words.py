"""The words of the synthetic speakers, and their PATS text features (``text/tokens``, ``text/bert``,
``text/w2v``, ``text/meta``).

The speakers draw words from a fixed 60-word `VOCABULARY` (English words of 1–3 syllables, Zipf-like
frequencies, see `word_probabilities`); a word's syllable count (`SYLLABLES`) fixes how many syllables of the
speech it groups. Three `GESTURE_WORDS` (each 0.5 % of the words) make the speaker gesture in a way the
audio does not reveal: the synthetic voice has no phonemes beyond four vowels drawn per syllable, so any
word's syllables sound like any other's, and only the transcript tells which word was said.

Features are frame-aligned exactly as PATS stores them (reference notes
``pats_data_and_cdiffgan_evaluation.md`` §1.4, §2.5), with two simplifications for a made-up corpus:

* every word is **one token** (PATS splits words into BERT sub-tokens): its id is
  ``FIRST_TOKEN_ID + vocabulary index``, inside BERT's 30522-id range so embedding tables sized for
  ``bert-base-uncased`` accept it, but not BERT's id of that word;
* ``text/bert`` and ``text/w2v`` hold one fixed pseudo-random vector per word (seeded from a BLAKE2 hash of
  key and word, so the same word has the same vector in every interval, for every speaker, on every machine)
  instead of contextual BERT / GoogleNews word2vec embeddings.

To featurise a transcript of synthetic words the way the corpus does:

>>> words = [Word("we", 0.21, 0.43), Word("wide", 0.43, 0.65)]   # (word, start s, end s)
>>> word_features(words, "text/tokens", n_frames=10)                # (T,) int64 ids; bert, w2v: (T, D)
array([1010, 1010, 1010, 1010, 1010, 1010, 1057, 1057, 1057, 1057])
>>> word_meta(words, n_frames=10).values.tolist()                   # text/meta: Word, start/end_frame
[['we', 0.0, 6.0], ['wide', 6.0, 10.0]]
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping, Sequence
from functools import cache
from types import MappingProxyType

import numpy as np
import pandas as pd

from cospeech.data.pats import TEXT_WIDTHS
from cospeech.data.text import TEXT_KEYS, TOKENS_KEY, Word, word_frames
from cospeech.errors import ConfigError, DataError

_REGULAR = (
    ("the", 1), ("and", 1), ("to", 1), ("a", 1), ("of", 1), ("i", 1), ("you", 1), ("it", 1), ("that", 1),
    ("is", 1), ("we", 1), ("so", 1), ("but", 1), ("was", 1), ("they", 1), ("just", 1), ("like", 1),
    ("know", 1), ("think", 1), ("this", 1), ("what", 1), ("can", 1), ("not", 1), ("all", 1), ("more", 1),
    ("well", 1), ("time", 1), ("good", 1), ("right", 1), ("now", 1),
    ("people", 2), ("really", 2), ("very", 2), ("about", 2), ("little", 2), ("maybe", 2), ("something", 2),
    ("never", 2), ("always", 2), ("going", 2), ("other", 2), ("only", 2), ("because", 2), ("over", 2),
    ("after", 2), ("money", 2), ("story", 2), ("problem", 2),
    ("family", 3), ("everything", 3), ("important", 3), ("another", 3), ("beautiful", 3), ("probably", 3),
    ("remember", 3), ("understand", 3), ("already", 3),
)  # fmt: skip
"""Regular words in frequency-rank order, with their syllable counts."""

GESTURE_WORDS: Mapping[str, str] = {
    "wide": "both hands move outward, 1.5 x the speaker's gesture amplitude",
    "high": "the dominant hand rises, 2 x the speaker's gesture amplitude",
    "together": "both hands move inward, 1.5 x the speaker's gesture amplitude, and a little up",
}
"""Gesture-bearing words and the gesture each one brings (`gesture.word_gesture_offsets` moves the hands):
whenever one is spoken, the hands complete the movement at the word's onset, hold it until shortly after
the word ends, then retract."""
GESTURE_WORD_PROBABILITY = 0.005
"""Chance that a drawn word is a given gesture-bearing word: 3 × 0.5 % of all words, about one every 25 s
of speech, so that a word gesture is rising, held or retracting in about 6 % of the frames. At 3 % each
(25–40 % of the frames) the words swamped the audio-driven motion: the audio-only quickstart closed 0.13
of the mean-pose-to-oracle gap instead of 0.42 without them (docs/synthetic_corpus.md)."""
_GESTURE_SYLLABLES = {"wide": 1, "high": 1, "together": 3}

VOCABULARY: tuple[str, ...] = tuple(w for w, _ in _REGULAR) + tuple(GESTURE_WORDS)
"""The 60 words, lower-case; a word's index here fixes its token id."""
SYLLABLES: Mapping[str, int] = {**dict(_REGULAR), **_GESTURE_SYLLABLES}
"""Syllables of each word."""


@cache
def word_probabilities(gesture_word_probability: float = GESTURE_WORD_PROBABILITY) -> Mapping[str, float]:
    """Chance of each `VOCABULARY` word per draw (read-only; sums to 1): ``gesture_word_probability`` for
    each gesture-bearing word, Zipf (∝ 1/rank) over the regular words for the rest. A probability outside
    [0, 1/3) (three gesture-bearing words) is a `ConfigError`."""
    share = len(GESTURE_WORDS) * gesture_word_probability
    if not 0.0 <= share < 1.0:
        raise ConfigError(
            f"gesture_word_probability must be in [0, {1 / len(GESTURE_WORDS):.4f}) "
            f"({len(GESTURE_WORDS)} gesture-bearing words), got {gesture_word_probability}"
        )
    zipf = 1.0 / np.arange(1, len(_REGULAR) + 1)
    zipf *= (1 - share) / zipf.sum()
    return MappingProxyType(
        {
            **{w: float(p) for (w, _), p in zip(_REGULAR, zipf, strict=True)},
            **dict.fromkeys(GESTURE_WORDS, float(gesture_word_probability)),
        }
    )


FEATURIZER = "cospeech-synth-words-v1"
"""What made the corpus' text keys (their ``featurizer`` attribute): `word_features` of this module. Inference
featurises a transcript with it for models trained on the built-in corpus; bump it if features change."""
FIRST_TOKEN_ID = 1000
"""Token id of ``VOCABULARY[0]``; ids stay clear of BERT's special tokens (0 ``[PAD]``, 100–103)."""


def token_id(word: str) -> int:
    """The ``text/tokens`` id of a vocabulary word (case-insensitive, like ``bert-base-uncased``); a word
    outside `VOCABULARY` is a `DataError`."""
    return FIRST_TOKEN_ID + _index(word)


def word_vector(word: str, key: str) -> np.ndarray:
    """The fixed ``(TEXT_WIDTHS[key],)`` float32 vector of a vocabulary word for ``text/bert`` or
    ``text/w2v``: standard normal, seeded from a BLAKE2b hash of key and word (never Python's ``hash``,
    which differs between processes). Returns a read-only array."""
    if key not in TEXT_WIDTHS:
        raise DataError(f"no word vectors for key {key!r}; keys with vectors: {list(TEXT_WIDTHS)}")
    return _vector(VOCABULARY[_index(word)], key)


@cache
def _vector(word: str, key: str) -> np.ndarray:
    digest = hashlib.blake2b(f"{key}\0{word}".encode(), digest_size=8).digest()
    vector = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(TEXT_WIDTHS[key])
    vector = vector.astype(np.float32)
    vector.flags.writeable = False
    return vector


def _index(word: str) -> int:
    try:
        return _INDEX[word.strip(string.punctuation).lower()]  # "So," as an ASR transcript writes it
    except KeyError:
        raise DataError(
            f"word {word!r} is not in the synthetic vocabulary ({len(VOCABULARY)} words: "
            f"{', '.join(VOCABULARY[:5])}, …)"
        ) from None


_INDEX = {w: i for i, w in enumerate(VOCABULARY)}


def word_meta(words: Sequence[Word], n_frames: int) -> pd.DataFrame:
    """PATS' ``text/meta`` table: one row per word, columns ``Word`` (str), ``start_frame`` and
    ``end_frame`` (float64 pose frames, `word_frames`)."""
    start, end = word_frames(words, n_frames)
    return pd.DataFrame(
        {
            "Word": [w.word for w in words],
            "start_frame": start.astype(np.float64),
            "end_frame": end.astype(np.float64),
        }
    )


def word_features(words: Sequence[Word], key: str, n_frames: int) -> np.ndarray:
    """Frame-aligned feature ``key`` of a transcript, each word's value repeated over its `word_frames`:
    ``text/tokens`` (T,) int64 `token_id`; ``text/bert`` (T, 768) / ``text/w2v`` (T, 300) float32
    `word_vector`. T = ``n_frames`` pose frames at 15 fps. An unknown key or word is a `DataError`."""
    if key not in TEXT_KEYS:
        raise DataError(f"no synthetic text feature {key!r}; keys: {list(TEXT_KEYS)}")
    start, end = word_frames(words, n_frames)
    if key == TOKENS_KEY:
        values = np.array([token_id(w.word) for w in words], dtype=np.int64)
    else:
        values = np.stack([word_vector(w.word, key) for w in words])
    return np.repeat(values, end - start, axis=0)
