"""Speech-like audio for the synthetic corpus: words of syllables in phrases, with pauses, pitch, loudness.

A speaker talks in **phrases** (4–14 syllables, up to 16 to finish the last word) separated by **pauses**.
A phrase is a sequence of **words** drawn from the vocabulary of ``words.py``; each word brings its fixed
number of syllables, and spans them. Each **syllable** has an onset time, a duration set by the speaker's
rate, a **stress** (loudness, 0.45 unstressed … 1 stressed) and a **vowel** (one of four formant
patterns). The waveform is a sum of harmonics of a declining, jittered pitch contour, weighted by the
vowel's formants and shaped by an attack–decay envelope, with a short noise burst (a consonant) at each
onset. What a listener could hear — onsets, loudness, vowel — is exactly what the gesture model in
``gesture.py`` reacts to. Stress and vowel are drawn per syllable whatever the word, and no pause separates
the words of a phrase, so the words themselves cannot be heard: only the transcript
(`Syllables.spoken_words`) tells them, and with them the gestures of ``words.GESTURE_WORDS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cospeech.data.synth.words import (
    GESTURE_WORD_PROBABILITY,
    SYLLABLES,
    VOCABULARY,
    Word,
    word_probabilities,
)

VOWEL_FORMANTS = np.array([[730.0, 1090.0], [270.0, 2290.0], [570.0, 840.0], [440.0, 1020.0]])
"""(F1, F2) in Hz of the four vowels (roughly /a/, /i/, /ɔ/, /u/); the vowel picks the gesture shape."""
N_VOWELS = len(VOWEL_FORMANTS)
N_HARMONICS = 10
FORMANT_BANDWIDTH = 160.0


@dataclass(frozen=True)
class VoiceStyle:
    """How one speaker sounds."""

    pitch_hz: float
    """Mean fundamental frequency."""
    syllables_per_second: float
    """Speaking rate inside phrases."""
    pause_seconds: tuple[float, float]
    """Range of pause lengths between phrases."""
    stress_probability: float
    """Chance that a syllable is stressed (loud); stressed syllables trigger gestures."""


@dataclass(frozen=True)
class Syllables:
    """The syllable timeline of one interval (arrays (n,), one entry per syllable) and its words."""

    onset: np.ndarray
    """Start time in seconds."""
    duration: np.ndarray
    stress: np.ndarray
    """Loudness in (0, 1]; ≥ ``STRESSED`` counts as stressed."""
    vowel: np.ndarray
    """Vowel index in 0..3."""
    phrase: np.ndarray
    """Phrase index, for pauses and phrase-level pitch declination."""
    word: np.ndarray
    """Index in ``words`` of the word the syllable belongs to (non-decreasing)."""
    words: tuple[str, ...]
    """The words spoken, in order (vocabulary words)."""

    def spoken_words(self) -> list[Word]:
        """The transcript: each word with its span in seconds (first syllable's onset to last one's end)."""
        end = self.onset + self.duration
        first = np.searchsorted(self.word, np.arange(len(self.words)), side="left")
        last = np.searchsorted(self.word, np.arange(len(self.words)), side="right") - 1
        return [
            Word(w, float(self.onset[a]), float(end[b]))
            for w, a, b in zip(self.words, first, last, strict=True)
        ]


STRESSED = 0.8


def random_voice(rng: np.random.Generator) -> VoiceStyle:
    return VoiceStyle(
        pitch_hz=float(rng.uniform(95, 235)),
        syllables_per_second=float(rng.uniform(3.2, 5.6)),
        pause_seconds=(float(rng.uniform(0.2, 0.35)), float(rng.uniform(0.5, 0.9))),
        stress_probability=float(rng.uniform(0.25, 0.4)),
    )


def syllable_timeline(
    voice: VoiceStyle,
    seconds: float,
    rng: np.random.Generator,
    gesture_word_probability: float = GESTURE_WORD_PROBABILITY,
) -> Syllables:
    """Phrases of whole words and pauses filling ``seconds``; speech starts after a short lead-in. A phrase
    takes words until it has at least 4–14 syllables (drawn per phrase); the last word that fits ends it.
    Words are drawn with `words.word_probabilities` (``gesture_word_probability`` per gesture-bearing word;
    outside [0, 1/3) a `ConfigError`)."""
    probability = np.array([word_probabilities(gesture_word_probability)[w] for w in VOCABULARY])
    onsets, durations, stresses, vowels, phrases, word_of = [], [], [], [], [], []
    words: list[str] = []
    t = float(rng.uniform(0.1, 0.4))
    phrase = 0
    mean_syllable = 1.0 / voice.syllables_per_second
    while t < seconds - 0.3:
        length = int(rng.integers(4, 15))
        spoken = 0
        while spoken < length:
            word = VOCABULARY[rng.choice(len(VOCABULARY), p=probability)]
            n = SYLLABLES[word]
            duration = mean_syllable * rng.uniform(0.7, 1.3, n)
            if t + duration.sum() > seconds - 0.05:
                t = seconds  # the interval ends inside this word: the speech stops before it
                break
            stressed = rng.random(n) < voice.stress_probability
            stress = np.where(stressed, rng.uniform(0.85, 1.0, n), rng.uniform(0.4, 0.6, n))
            onsets.extend(t + np.cumsum(duration) - duration)
            durations.extend(duration)
            stresses.extend(stress)
            vowels.extend(rng.integers(N_VOWELS, size=n))
            phrases.extend([phrase] * n)
            word_of.extend([len(words)] * n)
            words.append(word)
            t += float(duration.sum())
            spoken += n
        t += float(rng.uniform(*voice.pause_seconds))
        phrase += 1
    return Syllables(
        onset=np.array(onsets),
        duration=np.array(durations),
        stress=np.array(stresses),
        vowel=np.array(vowels, dtype=np.int64),
        phrase=np.array(phrases, dtype=np.int64),
        word=np.array(word_of, dtype=np.int64),
        words=tuple(words),
    )


def render_speech(
    syllables: Syllables, voice: VoiceStyle, seconds: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """The waveform (n,) float32 in [-1, 1] of a syllable timeline."""
    n = round(seconds * sr)
    t = np.arange(n, dtype=np.float64) / sr
    index = np.searchsorted(syllables.onset, t, side="right") - 1
    inside = (index >= 0) & (
        t < syllables.onset[np.maximum(index, 0)] + syllables.duration[np.maximum(index, 0)]
    )
    index = np.where(inside, index, 0)
    if len(syllables.onset) == 0:
        return np.zeros(n, dtype=np.float32)

    # pitch: speaker mean, declining within a phrase, raised on stressed syllables, slow jitter
    phrase_start = np.array(
        [syllables.onset[syllables.phrase == p][0] for p in range(syllables.phrase.max() + 1)]
    )
    since_phrase = t - phrase_start[syllables.phrase[index]]
    accent = 1.0 + 0.25 * (syllables.stress[index] - 0.5)
    wobble = 1.0 + 0.02 * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 2 * np.pi))
    f0 = voice.pitch_hz * accent * wobble * np.clip(1.0 - 0.06 * since_phrase, 0.75, 1.0)
    phase = 2 * np.pi * np.cumsum(f0) / sr

    # vowel colour: harmonic weights from the syllable's formants (per syllable, looked up per sample)
    harmonics = np.arange(1, N_HARMONICS + 1)
    syllable_f0 = voice.pitch_hz * (1.0 + 0.25 * (syllables.stress - 0.5))
    freqs = syllable_f0[:, None] * harmonics[None, :]
    formants = VOWEL_FORMANTS[syllables.vowel]
    weights = (
        sum(np.exp(-0.5 * ((freqs - formants[:, k, None]) / FORMANT_BANDWIDTH) ** 2) for k in range(2))
        + 0.05 / harmonics[None, :]
    )
    per_sample = weights[index].astype(np.float32)
    voiced = _harmonic_sum(per_sample, phase)

    # envelope: 15 ms attack, exponential decay over the syllable, loudness = stress
    since = t - syllables.onset[index]
    duration = syllables.duration[index]
    envelope = np.minimum(since / 0.015, 1.0) * np.exp(-2.5 * since / duration) * syllables.stress[index]
    envelope = np.where(inside, envelope, 0.0)
    burst = np.where(inside & (since < 0.03), rng.standard_normal(n) * 0.25 * syllables.stress[index], 0.0)
    burst = np.diff(burst, prepend=0.0)  # crude high-pass: consonant hiss
    breath = 0.002 * rng.standard_normal(n)  # room noise keeps pauses from being digital silence
    wave = envelope * voiced / N_HARMONICS * 4.0 + burst + breath
    peak = np.abs(wave).max()
    return (0.8 * wave / peak).astype(np.float32) if peak > 0 else wave.astype(np.float32)


def _harmonic_sum(weights: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Σ_h weights[:, h] · sin((h+1)·phase), by the Chebyshev recurrence
    sin((h+1)φ) = 2 cos φ · sin(hφ) − sin((h−1)φ): one sin and one cos instead of one sin per harmonic."""
    two_cos = (2.0 * np.cos(phase)).astype(np.float32)
    previous = np.zeros_like(two_cos)
    current = np.sin(phase).astype(np.float32)
    total = weights[:, 0] * current
    for h in range(1, weights.shape[1]):
        previous, current = current, two_cos * current - previous
        total += weights[:, h] * current
    return total
