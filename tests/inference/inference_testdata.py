"""Speech for the inference tests: the synthetic corpus' syllable model, so the audio has real onsets,
pauses and vowels (and the tiny trained model reacts to it)."""

from __future__ import annotations

import numpy as np

from cospeech.audio import SAMPLE_RATE
from cospeech.data.synth.speech import random_voice, render_speech, syllable_timeline


def synthetic_speech(seconds: float, seed: int = 0) -> np.ndarray:
    """(round(seconds · 16000),) float32 speech-like waveform at 16 kHz."""
    rng = np.random.default_rng(seed)
    voice = random_voice(rng)
    return render_speech(syllable_timeline(voice, seconds, rng), voice, seconds, SAMPLE_RATE, rng)
