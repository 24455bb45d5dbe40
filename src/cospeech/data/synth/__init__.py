"""The built-in synthetic multi-speaker corpus, written in the exact PATS on-disk format.

See ``docs/synthetic_corpus.md`` for the generative model and its oracle.
"""

from cospeech.data.synth.corpus import SpeakerProfile, SynthSummary, make_profile, synthesize_corpus

__all__ = ["SpeakerProfile", "SynthSummary", "make_profile", "synthesize_corpus"]
