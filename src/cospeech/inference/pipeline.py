"""``GestureGenerator``: speech of any length in, a speaker's gestures out (15 poses per second).

Like a diffusers pipeline it holds a trained network and everything needed around it (normaliser, speakers,
feature settings) and never trains. ``generate`` runs, for a waveform of n samples at 16 kHz:

1. the run's audio feature (``DataSpec.audio_key`` through ``cospeech.features``; PATS' ``log_mel_400``
   unless the run says otherwise), computed in blocks of ``FEATURE_BLOCK_FRAMES`` pose frames so the STFT
   of an hour of speech never sits in memory at once, and averaged onto the pose clock exactly as the
   training cache does (``cospeech.features.pose_clock``, ``"exact"`` mode): ``T = round(n · 15 / 16000)``
   frames, so the output lasts as long as the speech, less a last frame the features do not reach
   (``pose_frames``);
   if the run was trained with ``audio_level="utterance"``
   (``metadata.data.audio_level``), the features are levelled over the whole input first, exactly as the
   training cache levelled each interval (``cospeech.audio.normalize_level``);
2. z-normalisation with the speaker's audio statistics;
3. the generator on overlapping windows (by default the training window, 64 frames, overlapping by 16),
   ``batch_size`` windows at a time, so memory is bounded by the batch, not the input length (on a CPU
   with several torch threads, each batch and the features run as one part per thread: `_side_by_side`);
4. a raised-cosine cross-fade over each overlap (the weights of the two windows sum to 1 at every frame),
   so there is no seam where one window hands over to the next;
5. denormalisation with the speaker's pose statistics: neck-relative pixels, as PATS ``pose/normalize``.

The reference demo (Speech Drives Templates) instead feeds one whole clip and crops anything longer than
24 s at random; here every second of the input gets poses.

Inputs follow the generator contract (``cospeech.models.interface``): each window batch offers ``audio``,
``style`` and, with a transcript, ``words`` (per window, the words overlapping it, times relative to the
window start); the generator takes what it declares. Inputs it declares as ``sampled`` (a template vector,
say) are drawn **once per utterance** before windowing, from ``seed``, so every window of one speech shares
them. ``load_transcript`` reads word timings (JSON or Praat TextGrid). **No registered generator uses text
yet**: a transcript given to one that does not declare ``words`` is ignored with a warning.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cospeech.audio import (
    AUDIO_LEVELS,
    SAMPLE_RATE,
    AudioLevel,
    check_samples,
    decode_audio,
    level_floor,
    normalize_level,
    speech_level,
    to_waveform,
)
from cospeech.data.text import Word
from cospeech.data.windows import POSE_FPS, align_to_pose_clock, audio_coverage
from cospeech.errors import AudioError, ConfigError, DataError
from cospeech.features import FeatureExtractor, get_feature
from cospeech.inference.export import load_pretrained
from cospeech.inference.styles import StyleMix
from cospeech.inference.text import is_token_key, transcript_text, window_text
from cospeech.models.interface import Generator, run_generator
from cospeech.models.layers import fold_batch_norms
from cospeech.skeletons import Skeleton
from cospeech.training.metadata import RunMetadata

DEFAULT_OVERLAP = 16
"""Pose frames two neighbouring windows share and cross-fade over (1.07 s)."""
DEFAULT_BATCH_SIZE = 32
"""Windows per batch (one forward pass, or one per torch thread on a multi-threaded CPU); with 64-frame
windows, 32 windows ≈ 1.7 min of speech."""
FEATURE_BLOCK_FRAMES = 60 * POSE_FPS
"""Pose frames of features computed at a time (60 s of log_mel_400: a 12 MB STFT instead of 720 MB for an
hour)."""
DEFAULT_AUDIO_KEY = "audio/log_mel_400"
"""The feature ``pose_frames`` and ``pose_clock_features`` compute unless told another."""


@dataclass(eq=False)
class GeneratedGestures:
    """The output of ``GestureGenerator.generate``: poses for every 1/15 s of the speech."""

    poses: np.ndarray
    """(T, J, 2) float32 neck-relative pixel offsets (PATS ``pose/normalize`` units), y pointing down."""
    fps: int
    """Pose frames per second (15)."""
    skeleton: str
    """Skeleton name of the joints (``pats48``)."""
    joint_names: tuple[str, ...]
    """The J joint names, in the order of ``poses``."""
    speaker: str
    """Whose style the gestures are in."""
    audio: np.ndarray
    """(C, n) float32 samples of the speech as given, for muxing into videos: a file's every channel at its
    own rate, as decoded (an array's, at its ``sample_rate``), nominally in [-1, 1] (samples at int16 scale
    divided as for the features, ``cospeech.audio.check_samples``). Not the mono 16 kHz mix the features
    are computed from."""
    sample_rate: int
    """Rate of ``audio`` in Hz (the file's own)."""

    @property
    def num_frames(self) -> int:
        """T."""
        return len(self.poses)

    @property
    def duration(self) -> float:
        """Seconds of speech (the poses cover the same span, to the nearest frame)."""
        return self.audio.shape[-1] / self.sample_rate


class GestureGenerator:
    """A trained generator with its normaliser, speakers and feature settings, ready to turn speech into
    gestures.

    >>> pipe = GestureGenerator.from_pretrained("runs/speech2gesture/version_0")  # or a .ckpt, or an export
    >>> gestures = pipe.generate("talk.wav", speaker="ava")
    >>> gestures.poses.shape  # (round(seconds · 15), 48, 2)

    Parameters
    ----------
    generator : a registered generator (``cospeech.models.Generator``); put in eval mode here and used as
        given (``from_pretrained`` also folds the BatchNorms of the generator it builds into the
        convolutions, ``cospeech.models.layers.fold_batch_norms``: 5–8 % faster on the CPU).
    metadata : the run's metadata: speakers, normaliser, data spec (how the training inputs were made).
    window_frames : frames per window; default the training window (64), the length the model was fitted
        on. Fully convolutional generators (speech2gesture) accept longer windows (e.g. 256), which is faster
        but shows the model contexts it never saw in training.
    overlap_frames : frames shared and cross-faded by neighbouring windows, ``0 ≤ overlap ≤ window / 2``.
    batch_size : windows per batch (one forward pass; on a CPU with n torch threads, n passes side by side).
    """

    def __init__(
        self,
        generator: Generator,
        metadata: RunMetadata,
        *,
        window_frames: int | None = None,
        overlap_frames: int = DEFAULT_OVERLAP,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        window = metadata.data.window_frames if window_frames is None else window_frames
        problems = []
        if window < 1:
            problems.append(f"window_frames={window} must be ≥ 1")
        if not 0 <= 2 * overlap_frames <= window:
            problems.append(f"overlap_frames={overlap_frames} must be in [0, window / 2 = {window / 2}]")
        if batch_size < 1:
            problems.append(f"batch_size={batch_size} must be ≥ 1")
        if problems:
            raise ConfigError("invalid GestureGenerator settings: " + "; ".join(problems))
        self.generator = generator.eval()
        self.metadata = metadata
        self.normalizer = metadata.normalizer
        self.representation = metadata.pose_representation()
        self.window_frames = window
        self.overlap_frames = overlap_frames
        self.batch_size = batch_size
        self.name = metadata.model.name
        self.skeleton: Skeleton = self.representation.skeleton
        self.feature: FeatureExtractor = get_feature(metadata.data.audio_key)
        """The run's audio feature, computed from speech through the registry."""

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike[str],
        *,
        window_frames: int | None = None,
        overlap_frames: int = DEFAULT_OVERLAP,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> GestureGenerator:
        """Load from a run directory, a ``.ckpt`` file, or an exported model directory (on the CPU; use
        ``.to(device)``). The generator is built for inference: BatchNorm folded into the convolutions.

        Raises
        ------
        CheckpointError : one line naming the file: unreadable, not from cospeech, or weights that do not fit
            the recorded generator config.
        """
        pretrained = load_pretrained(source)
        return cls(
            fold_batch_norms(pretrained.build_generator().eval()),  # built here for inference only
            pretrained.metadata,
            window_frames=window_frames,
            overlap_frames=overlap_frames,
            batch_size=batch_size,
        )

    def __repr__(self) -> str:
        return (
            f"GestureGenerator({self.name}, speakers={list(self.speakers)}, device={self.device}, "
            f"window={self.window_frames}, overlap={self.overlap_frames})"
        )

    @property
    def speakers(self) -> tuple[str, ...]:
        """Speaker names the model can imitate (style order)."""
        return self.metadata.speakers

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def uses_text(self) -> bool:
        """Whether the generator takes a transcript: as the run's text key (``text``, e.g. mix_stage trained
        with ``text_key``) or as raw word timings (``words``)."""
        return "text" in self.generator.inputs or "words" in self.generator.inputs

    def to(self, device: str | torch.device) -> GestureGenerator:
        """Move the generator to ``device``; features, windows and cross-fading are computed there too.
        Returns ``self``."""
        self.generator.to(device)
        return self

    def generate(
        self,
        audio: str | os.PathLike[str] | np.ndarray,
        *,
        sample_rate: int | None = None,
        speaker: str | Mapping[str, float],
        seed: int | None = None,
        transcript: str | os.PathLike[str] | Sequence[Word] | None = None,
        inputs: Mapping[str, torch.Tensor] | None = None,
    ) -> GeneratedGestures:
        """Gestures for speech of any length.

        Parameters
        ----------
        audio : a file (any format ``load_audio`` reads) or a waveform ``(n,)`` or ``(n, channels)``.
        sample_rate : int > 0, rate of an ``audio`` array in Hz (required for arrays, not for files).
        speaker : whose style to imitate (see ``speakers``): a name, or for models with a style embedding
            (mix_stage) a mix such as ``"ava=0.5,ben=0.5"`` or ``{"ava": 0.5, "ben": 0.5}``
            (``cospeech.inference.styles.StyleMix``).
        seed : seeds the generator's random draws, sampled inputs included (in a forked RNG, so global
            state is untouched); speech2gesture is deterministic, so it changes nothing there.
        transcript : word timings (a JSON/TextGrid path or ``Word``s); required by models trained with
            text (``uses_text``), ignored with a warning by the others.
        inputs : per-utterance generator inputs ``(1, …)`` given instead of drawn, e.g. SDT's ``template``
            from ``cospeech.inference.templates.template_inputs``; held fixed for every window.

        Returns
        -------
        GeneratedGestures with ``poses`` of shape ``(T, J, 2)``, ``T = pose_frames(n₁₆)`` for the n₁₆
        samples of the speech at 16 kHz (``round(seconds · 15)``, or one less where the log-mel features
        end before the last frame's middle), and the speech's own samples in ``audio``.

        Raises
        ------
        AudioError : unreadable, empty, non-finite or too-short audio.
        ConfigError : unknown speaker or bad mix, a mix for a model without style embeddings, an array
            without ``sample_rate``, or a text model without a transcript.
        """
        style = self.style_mix(speaker)
        source, source_rate, waveform = self._speech(audio, sample_rate)
        words = None if transcript is None else _as_words(transcript)
        device = self.device
        with torch.inference_mode():
            raw = pose_clock_features_torch(  # (T, F) on the device
                torch.from_numpy(waveform).to(device),
                feature=self.feature,
                level=self.metadata.data.audio_level,
            )
            styles = torch.full((1,), style.dominant, dtype=torch.long, device=device)
            z_audio = self.normalizer.normalize("audio", raw[None], styles)[0]
            z_poses = self._generate(z_audio, style, seed=seed, words=words, inputs=inputs)
            pixels = (
                self.representation.to_pixels(z_poses[None], style.dominant)[0].cpu().numpy()
            )  # one transfer
        return GeneratedGestures(
            poses=np.ascontiguousarray(pixels, dtype=np.float32),
            fps=self.metadata.data.fps,
            skeleton=self.skeleton.name,
            joint_names=self.skeleton.joint_names,
            speaker=str(style),
            audio=source,
            sample_rate=source_rate,
        )

    def style_mix(self, speaker: str | Mapping[str, float] | StyleMix) -> StyleMix:
        """The parsed style request. A mix needs a generator with a ``style`` input (a style embedding);
        a mix's statistics (per-speaker normalisation) are its heaviest speaker's."""
        style = speaker if isinstance(speaker, StyleMix) else StyleMix.parse(speaker, self.speakers)
        if style.single is None and "style" not in self.generator.inputs:
            raise ConfigError(
                f"{self.name} has no style input, so it cannot mix speakers' styles ({style}); "
                "name one speaker, or use a multi-speaker model such as mix_stage"
            )
        return style

    def generate_features(
        self,
        audio: np.ndarray,
        *,
        speaker: str | Mapping[str, float] | StyleMix,
        seed: int | None = None,
        words: Sequence[Word] | None = None,
        inputs: Mapping[str, torch.Tensor] | None = None,
    ) -> np.ndarray:
        """The model part of ``generate``: z-normalised audio ``(T, F)`` on the pose clock (an array, or a
        tensor on any device) → z-normalised poses ``(T, 2J)`` as an array, windowed, batched and cross-faded
        on the model's device; ``words`` give text models their ``text``;
        ``inputs`` replace the per-utterance draws of sampled inputs."""
        if not isinstance(audio, torch.Tensor):
            audio = torch.from_numpy(np.asarray(audio, dtype=np.float32))
        F = self.metadata.data.audio_dim
        if audio.ndim != 2 or audio.shape[1] != F or len(audio) < 1:
            raise ConfigError(f"audio features of shape {tuple(audio.shape)}; expected (T ≥ 1, {F})")
        style = self.style_mix(speaker)
        with torch.inference_mode():
            audio = audio.to(self.device, torch.float32)
            return self._generate(audio, style, seed=seed, words=words, inputs=inputs).cpu().numpy()

    def _generate(
        self,
        audio: torch.Tensor,
        style: StyleMix,
        *,
        seed: int | None,
        words: Sequence[Word] | None,
        inputs: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``generate_features`` on the device: audio ``(T, F)`` → poses ``(T, 2J)``, both tensors there.

        The windows are views of the padded input (``unfold``), ``batch_size`` of them per forward pass;
        their outputs are weighted by the cross-fade ramps and added into place (``index_add_``), so nothing
        leaves the device."""
        T = len(audio)
        if words is not None and not self.uses_text:
            warnings.warn(f"{self.name} does not use text; the transcript is ignored", stacklevel=3)
        W = self.window_frames
        starts = window_starts(T, window=W, overlap=self.overlap_frames)
        padded_length = int(starts[-1]) + W
        device = audio.device
        # end padding repeats the last frame, as speech2gesture pads its own input
        padded = torch.cat((audio, audio[-1:].expand(padded_length - T, -1)))
        windows = padded.unfold(0, W, W - self.overlap_frames).transpose(1, 2)  # (N, W, F), views
        text = self._text(words, padded_length, T, style.dominant)
        fade_in, fade_out = (
            torch.from_numpy(w).to(device) for w in crossfade_weights(W, self.overlap_frames)
        )
        weights = torch.ones(len(starts), W, device=device)
        weights[1:] *= fade_in
        weights[:-1] *= fade_out
        fps = self.metadata.data.fps
        outputs = []
        with _seeded(seed, device):
            per_utterance = self._sampled_inputs(inputs or {})
            for first in range(0, len(starts), self.batch_size):
                batch_starts = starts[first : first + self.batch_size]
                B = len(batch_starts)
                available = {
                    "audio": windows[first : first + B],  # (B, W, F)
                    "style": self._style_input(style, B),
                    **{k: v.expand(B, *v.shape[1:]) for k, v in per_utterance.items()},
                }
                if text is not None:
                    batch_text = window_text(*text, words, batch_starts, W, self.metadata.data)
                    available.update({k: torch.from_numpy(v).to(device) for k, v in batch_text.items()})
                if "words" in self.generator.inputs:
                    available["words"] = [_words_in(words or [], int(b), W, fps) for b in batch_starts]
                outputs.append(_forward(self.generator, available, B))
        y = torch.cat(outputs) * weights[..., None]  # (N, W, 2J)
        frames = (torch.from_numpy(starts).to(device)[:, None] + torch.arange(W, device=device)).flatten()
        out = torch.zeros(padded_length, y.shape[-1], device=device)
        return out.index_add_(0, frames, y.flatten(0, 1))[:T]

    def _style_input(self, style: StyleMix, batch_size: int) -> torch.Tensor:
        """``(B,)`` ids for one speaker (exactly the training path), ``(B, S)`` weights for a mix."""
        if style.single is not None:
            return torch.full((batch_size,), style.single, dtype=torch.long, device=self.device)
        weights = torch.from_numpy(style.vector()).to(self.device)
        return weights.expand(batch_size, -1)

    def _text(
        self, words: Sequence[Word] | None, n_frames: int, speech_frames: int, style: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(raw, normalised) text key of the transcript over ``n_frames`` for a model with a ``text``
        input, else None. A text model without words, or with none inside the speech (times in ms?), is a
        ``ConfigError``; words running past its end are warned about."""
        if "text" not in self.generator.inputs:
            return None
        spec = self.metadata.data
        if words is None:
            raise ConfigError(
                f"{self.name} was trained with text ({spec.text_key}): give a transcript with word timings "
                "(--transcript words.json or .TextGrid)"
            )
        if not words:
            raise ConfigError(
                f"the transcript has no words; {self.name} was trained with text and needs them"
            )
        seconds = speech_frames / self.metadata.data.fps
        if min(w.start for w in words) >= seconds:
            raise ConfigError(
                f"no word of the transcript starts within the {seconds:.1f} s of speech (the first at "
                f"{min(w.start for w in words):.1f} s): are its times in seconds?"
            )
        if max(w.end for w in words) > seconds + 1.0:
            warnings.warn(
                f"cospeech: the transcript runs to {max(w.end for w in words):.1f} s but the speech lasts "
                f"{seconds:.1f} s; the words after its end are not used",
                stacklevel=3,
            )
        raw = transcript_text(words, spec, n_frames)
        if is_token_key(spec):
            return raw, raw
        return raw, self.normalizer.normalize("text", raw[None], np.array([style]))[0].astype(np.float32)

    @property
    def generator_pose_dim(self) -> int:
        """2J: pose features per frame the generator outputs."""
        return self.metadata.data.pose_dim

    def _sampled_inputs(self, given: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The generator's ``sampled`` inputs for one utterance, ``(1, …)`` each, so that every window shares
        them: those in ``given``, the others drawn once (from torch's RNG, which ``generate``'s ``seed``
        fixes). A name in ``given`` that is not a sampled input is a ``ConfigError``."""
        sampled = [n for n, spec in self.generator.inputs.items() if spec.sampled]
        unknown = sorted(set(given) - set(sampled))
        if unknown:
            raise ConfigError(
                f"{self.name} has no per-utterance input {unknown}; its sampled inputs: {sampled or 'none'}"
            )
        names = tuple(n for n in sampled if n not in given)
        drawn = self.generator.sample_inputs(names, 1) if names else {}
        return {**drawn, **{k: v.to(self.device) for k, v in given.items()}}

    def _speech(
        self, audio: str | os.PathLike[str] | np.ndarray, sample_rate: int | None
    ) -> tuple[np.ndarray, int, np.ndarray]:
        """(the speech as given (C, n) float32, its rate, the mono 16 kHz waveform for the features), long
        enough for one pose frame."""
        if isinstance(audio, np.ndarray):
            if sample_rate is None:
                raise ConfigError("an audio array needs sample_rate (Hz); files carry their own")
            if sample_rate <= 0:
                raise ConfigError(f"sample_rate must be a positive rate in Hz, got {sample_rate}")
            name, samples, rate = "audio array", audio, sample_rate
        else:
            if sample_rate is not None:
                raise ConfigError(f"{audio}: sample_rate is only for arrays; the file's own rate is used")
            name = str(audio)
            samples, rate = decode_audio(audio)
        source = check_samples(samples, rate, name=name)  # (n, C)
        waveform = to_waveform(source, rate, sr=SAMPLE_RATE, name=name)
        if pose_frames(len(waveform), self.feature) < 1:
            raise AudioError(
                f"{name}: {len(waveform) / SAMPLE_RATE:.3f} s of audio is too short for one pose frame "
                f"(need ≥ {min_samples(self.feature) / SAMPLE_RATE:.3f} s)"
            )
        return np.ascontiguousarray(source.T), rate, waveform


def pose_frames(n_samples: int, feature: FeatureExtractor | str = DEFAULT_AUDIO_KEY) -> int:
    """Pose frames for ``n_samples`` of speech at 16 kHz: ``round(seconds · 15)``, so the poses last as
    long as the speech, except that a last frame whose middle the ``feature`` frames do not reach is left
    out (the training cache's rule, ``cospeech.data.windows.audio_coverage``): its features would be a copy
    of its neighbour's. For ``log_mel_400`` the last feature frame reaches 15–25 ms less far than the
    samples, so this drops one frame for about 28 % of lengths. 0 when too short for one feature frame."""
    feature = get_feature(feature) if isinstance(feature, str) else feature
    n_frames = feature.frame_count(n_samples)
    if n_frames < 1:
        return 0
    T = round(n_samples * POSE_FPS / SAMPLE_RATE)
    return audio_coverage(n_frames, T, rate=feature.rate, offset=feature.offset)


def min_samples(feature: FeatureExtractor) -> int:
    """Samples (at 16 kHz) of the shortest speech with one pose frame (832 for ``log_mel_400``: three
    log-mel frames)."""
    return next(n for n in range(1, SAMPLE_RATE) if pose_frames(n, feature) >= 1)


BLOCK_MARGIN = 2
"""Feature frames each side of a block that a sub-frame without a frame of its own may take as nearest."""


def pose_clock_features(
    waveform: np.ndarray,
    *,
    feature: FeatureExtractor | str = DEFAULT_AUDIO_KEY,
    level: AudioLevel = "none",
    block_frames: int = FEATURE_BLOCK_FRAMES,
) -> np.ndarray:
    """The registered ``feature`` of a 16 kHz waveform on the model clock, in bounded memory.

    Equal (to float rounding) to ``pose_clock(feature, feature.compute(waveform), T)`` on the whole file:
    each block of ``block_frames`` pose frames gets the feature frames assigned to it (plus a margin of
    ``BLOCK_MARGIN`` frames for the nearest-frame rule), computed from just the samples they read
    (``FeatureExtractor.compute_frames``).

    ``level="utterance"`` levels the feature frames before alignment, as the training cache does per
    interval: ``normalize_level`` with the speech level of the whole waveform. The level needs every
    frame, so the blocks are computed twice (first for the per-frame means only), keeping memory bounded.

    Returns
    -------
    features : np.ndarray [shape=(T, feature.audio_dim)], float32, ``T = pose_frames(n, feature)``.

    Raises
    ------
    AudioError : too few samples for one feature frame or one pose frame.
    ConfigError : an unknown ``level``, or ``"utterance"`` for a feature that is not levellable.
    """
    feature, T, n_frames = _feature_geometry(feature, len(waveform), level)
    rate, offset = feature.rate, feature.offset
    owner = np.floor((offset + np.arange(n_frames) / rate) * POSE_FPS).astype(np.int64)  # pose frame of each
    blocks = []  # (t0, t1, k0, k1): pose frames [t0, t1) and the feature frames [k0, k1) they use
    for t0 in range(0, T, block_frames):
        t1 = min(t0 + block_frames, T)
        k0 = max(min(int(np.searchsorted(owner, t0)), n_frames - 1) - BLOCK_MARGIN, 0)
        k1 = n_frames if t1 == T else min(int(np.searchsorted(owner, t1)) + BLOCK_MARGIN, n_frames)
        blocks.append((t0, t1, k0, k1))

    speech = None
    if level == "utterance":
        # the mean of every feature frame, each once, as on the whole file
        means = np.full(n_frames, np.nan)
        for _, _, k0, k1 in blocks:
            means[k0:k1] = feature.compute_frames(waveform, k0, k1).mean(axis=1)
        speech = speech_level(means[:, None])
        floor = level_floor(feature.key, feature.bins)
    out = np.empty((T, feature.audio_dim), dtype=np.float32)
    for t0, t1, k0, k1 in blocks:
        frames = feature.compute_frames(waveform, k0, k1)
        if speech is not None:
            frames = normalize_level(frames, level=speech, floor=floor)
        out[t0:t1] = align_to_pose_clock(
            frames,
            t1 - t0,
            rate=rate,
            offset=offset,
            subframes=feature.subframes,
            first_frame=k0,
            first_pose_frame=t0,
        )
    return out


def pose_clock_features_torch(
    waveform: torch.Tensor,
    *,
    feature: FeatureExtractor | str = DEFAULT_AUDIO_KEY,
    level: AudioLevel = "none",
    block_frames: int = FEATURE_BLOCK_FRAMES,
) -> torch.Tensor:
    """`pose_clock_features` on the waveform's device: a 16 kHz waveform tensor ``(n,)`` → ``(T,
    feature.audio_dim)`` float32 there, equal within float32 tolerance (``compute_torch`` for the NumPy
    features, float32 sums for the averages; ``tests/inference/test_fast_generation.py``).

    The STFT is computed ``block_frames`` pose frames at a time (on the CPU in one part of the frames per
    torch thread, side by side: `_side_by_side`); the feature frames are kept (``bins`` floats each, 92 MB
    for an hour of ``log_mel_400``), so levelling computes them once, not twice.

    Raises
    ------
    As `pose_clock_features`.
    """
    feature, T, n_frames = _feature_geometry(feature, waveform.shape[-1], level)
    device = waveform.device
    step = max(1, round(block_frames * feature.rate / POSE_FPS))  # feature frames per block
    # one part of the frames per torch thread on the CPU, side by side, each computed block by block
    frames = _side_by_side(
        [
            lambda a=a, b=b: torch.cat(
                [feature.compute_frames(waveform, k, min(k + step, b)) for k in range(a, b, step)]
            )
            for a, b in _ranges(device, n_frames)
        ]
    )  # (n_frames, bins)
    if level == "utterance":
        means = frames.mean(dim=1).double().cpu().numpy()
        speech = speech_level(means[:, None])
        floor = torch.from_numpy(level_floor(feature.key, feature.bins)).to(device)
        frames = torch.maximum(frames - np.float32(speech), floor)
    s = feature.subframes
    slots = T * s  # sub-frames on the 15·s Hz clock
    owner = np.floor((feature.offset + np.arange(n_frames) / feature.rate) * (POSE_FPS * s)).astype(np.int64)
    keep = (owner >= 0) & (owner < slots)
    counts = np.bincount(owner[keep], minlength=slots)[:slots]
    index = torch.from_numpy(owner[keep]).to(device)
    sums = torch.zeros(slots, feature.bins, device=device).index_add_(
        0, index, frames[torch.from_numpy(keep).to(device)]
    )
    filled = counts > 0
    centres = (np.flatnonzero(~filled) + 0.5) / (POSE_FPS * s)  # of the sub-frames without a frame
    nearest = np.clip(np.rint((centres - feature.offset) * feature.rate), 0, n_frames - 1).astype(np.int64)
    out = sums / torch.from_numpy(np.maximum(counts, 1)).to(device, torch.float32)[:, None]
    if not filled.all():
        out[torch.from_numpy(~filled).to(device)] = frames[torch.from_numpy(nearest).to(device)]
    return out.reshape(T, s * feature.bins)


_THREAD_SETTING = threading.Lock()
"""Held while `_side_by_side` has torch's intra-op threads set to one, so concurrent calls neither undo each
other's setting nor leave it behind."""


def _ranges(device: torch.device, count: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges that `_side_by_side` splits ``count`` items into: one per torch thread on the
    CPU (at most ``count``), one range elsewhere."""
    parts = max(1, min(torch.get_num_threads(), count)) if device.type == "cpu" else 1
    return list(itertools.pairwise(np.linspace(0, count, parts + 1).astype(int).tolist()))


def _side_by_side(tasks: Sequence[Callable[[], torch.Tensor]]) -> torch.Tensor:
    """The tasks' tensors concatenated (dim 0), the tasks run at once, each on one thread: the caller runs
    the first, one new thread each of the others; torch's intra-op threads are set to 1 meanwhile, then
    restored. Small CPU operators share out poorly between threads, independent parts of the work do not
    (BENCHMARKS.md, Performance: 19 windows of speech2gesture, 2 threads ran them 1.6× as fast as one, 2
    parts side by side 2.0×). An error in a task is raised here, after every thread has finished.

    torch's thread count is process-wide: a thread of the caller's program that makes its first torch call
    meanwhile starts with one thread and keeps it (its own ``generate`` calls then run unsplit on one
    thread: slower, same poses); ``torch.set_num_threads`` in that thread restores it."""
    if len(tasks) == 1:
        return tasks[0]()
    outputs: list[Any] = [None] * len(tasks)

    def run(i: int) -> None:
        torch.set_num_threads(1)  # this thread's OpenMP setting too, before any BLAS call reads it
        try:
            with torch.inference_mode():
                outputs[i] = tasks[i]()
        except BaseException as error:  # raised again in the calling thread
            outputs[i] = error

    threads = torch.get_num_threads()
    with _THREAD_SETTING:
        torch.set_num_threads(1)
        try:
            helpers = [threading.Thread(target=run, args=(i,)) for i in range(1, len(tasks))]
            for helper in helpers:
                helper.start()
            run(0)
            for helper in helpers:
                helper.join()
        finally:
            torch.set_num_threads(threads)
    for output in outputs:
        if isinstance(output, BaseException):
            raise output
    return torch.cat(outputs)


def _forward(generator: Generator, inputs: Mapping[str, Any], batch: int) -> torch.Tensor:
    """``(B, W, 2J)`` float poses of one batch of ``batch`` windows, on the CPU as one part per torch
    thread (`_side_by_side`). The poses equal the whole batch's to float rounding: in eval mode a generator
    is a function of its inputs, its only randomness the ``sampled`` inputs drawn per utterance before the
    windows (``cospeech.models.interface``)."""
    return _side_by_side(
        [
            lambda a=a, b=b: run_generator(
                generator, {k: v[a:b] for k, v in inputs.items()}, training=False
            ).poses.float()
            for a, b in _ranges(next(generator.parameters()).device, batch)
        ]
    )


def window_starts(n_frames: int, *, window: int, overlap: int) -> np.ndarray:
    """Start frames of windows of ``window`` frames, ``window − overlap`` apart, covering ``n_frames``; the
    last may run past the end (its input is padded, its extra output dropped)."""
    hop = window - overlap
    count = max(1, -(-(n_frames - overlap) // hop))
    return np.arange(count, dtype=np.int64) * hop


def crossfade_weights(window: int, overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade_in, fade_out), each ``(window,)``: raised-cosine ramps over the first / last ``overlap`` frames,
    1 elsewhere. ``fade_out[-overlap:]`` of one window plus ``fade_in[:overlap]`` of the next is exactly 1
    (cos(a) + cos(π − a) = 0), so the blend never changes the overall scale."""
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / max(overlap, 1))
    fade_in = np.ones(window, dtype=np.float32)
    fade_out = np.ones(window, dtype=np.float32)
    if overlap:
        fade_in[:overlap] = ramp
        fade_out[-overlap:] = ramp[::-1]
    return fade_in, fade_out


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's RNG (and the CUDA device's) inside the block only; the caller's state is restored."""
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _words_in(words: Sequence[Word], start: int, window: int, fps: int) -> list[Word]:
    """The words overlapping frames ``[start, start + window)``, times relative to the window start."""
    t0, t1 = start / fps, (start + window) / fps
    return [Word(w.word, w.start - t0, w.end - t0) for w in words if w.end > t0 and w.start < t1]


# --------------------------------------------------------------------------------------------- transcripts


PAUSE_LABELS = frozenset({"", "sp", "sil", "spn", "<sil>", "<eps>", "<unk>"})
"""Interval labels aligners (Montreal Forced Aligner, Kaldi) write for pauses and noise, not words."""


def _as_words(transcript: str | os.PathLike[str] | Sequence[Word | Mapping[str, Any]]) -> list[Word]:
    """Words from a file, ``Word``s / ``(word, start, end)`` tuples, or ``{"word", "start", "end"}`` dicts
    (the JSON format, already parsed); sorted by start time."""
    if isinstance(transcript, (str, os.PathLike)):
        return load_transcript(transcript)
    words = []
    for i, w in enumerate(transcript):
        try:
            entry = (w["word"], w["start"], w["end"]) if isinstance(w, Mapping) else tuple(w)
            words.append(Word(str(entry[0]), float(entry[1]), float(entry[2])))
        except (KeyError, IndexError, TypeError, ValueError):
            raise DataError(
                f'transcript entry {i} is not (word, start, end) or {{"word", "start", "end"}}: {w!r}'
            ) from None
    return sorted(words, key=lambda w: w.start)


def load_transcript(path: str | os.PathLike[str]) -> list[Word]:
    """Word timings from a JSON list or a Praat TextGrid, sorted by start time.

    * ``.json``: ``[{"word": "hello", "start": 0.12, "end": 0.48}, …]``, times in seconds.
    * ``.TextGrid`` (long or short text format, UTF-8 or UTF-16): the interval tier named ``words`` (any
      case), else the first interval tier; empty intervals (pauses) are dropped.

    Raises
    ------
    DataError : the file is missing or malformed; the message names the file and the offending entry.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: transcript not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: transcript is neither UTF-8 nor UTF-16 ({exc})") from None
    if path.suffix.lower() == ".json":
        words = _json_words(path, text)
    elif path.suffix.lower() == ".textgrid":
        words = _textgrid_words(path, text)
    else:
        raise DataError(f"{path}: unknown transcript format {path.suffix!r}; use .json or .TextGrid")
    for i, w in enumerate(words):
        if not (math.isfinite(w.start) and math.isfinite(w.end) and 0 <= w.start <= w.end):
            raise DataError(f"{path}: word {i} ({w.word!r}) has invalid times start={w.start}, end={w.end}")
    return sorted(words, key=lambda w: w.start)


def _json_words(path: Path, text: str) -> list[Word]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise DataError(f'{path}: expected a list of {{"word", "start", "end"}} objects')
    words = []
    for i, item in enumerate(items):
        try:
            words.append(Word(str(item["word"]), float(item["start"]), float(item["end"])))
        except (TypeError, KeyError, ValueError):
            expected = '{"word": str, "start": s, "end": s}'
            raise DataError(f"{path}: entry {i} is not {expected}: {item!r}") from None
    return words


_TEXTGRID_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"'  # a string; "" inside is an escaped quote
    r"|(?<![\w\[])([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w\]])"  # a number, not an [index]
)


def _textgrid_words(path: Path, text: str) -> list[Word]:
    """Praat's text formats, long and short, are the same sequence of strings and numbers once names
    (``xmin =``), item indices (``[1]``, excluded by the token pattern) and flags (``<exists>``) are
    ignored; this walks that sequence."""
    tokens: list[str | float] = [
        string.replace('""', '"') if number is None or number == "" else float(number)
        for string, number in _TEXTGRID_TOKEN.findall(text)
    ]
    # ooTextFile, TextGrid, xmin, xmax, tier count
    if tokens[:2] != ["ooTextFile", "TextGrid"] or len(tokens) < 5:
        raise DataError(f"{path}: not a Praat TextGrid (no 'ooTextFile' / 'TextGrid' header)")
    tiers: list[tuple[str, list[Word]]] = []
    position = 5
    try:
        for _ in range(int(tokens[4])):
            kind, name, count = tokens[position], tokens[position + 1], int(tokens[position + 4])
            position += 5
            width = 3 if kind == "IntervalTier" else 2
            entries = tokens[position : position + width * count]
            position += width * count
            if kind == "IntervalTier":
                words = [
                    Word(str(entries[i + 2]).strip(), float(entries[i]), float(entries[i + 1]))
                    for i in range(0, len(entries), 3)
                ]
                tiers.append((str(name), [w for w in words if w.word.lower() not in PAUSE_LABELS]))
    except (IndexError, TypeError, ValueError):
        raise DataError(f"{path}: malformed TextGrid near token {position}") from None
    if not tiers:
        raise DataError(f"{path}: TextGrid has no interval tier")
    named = [words for name, words in tiers if name.lower() == "words"]
    return named[0] if named else tiers[0][1]


def _feature_geometry(
    feature: FeatureExtractor | str, n: int, level: AudioLevel
) -> tuple[FeatureExtractor, int, int]:
    """(the extractor, pose frames T, feature frames) for ``n`` samples, after checking ``level``; shared by
    the NumPy and the torch path."""
    feature = get_feature(feature) if isinstance(feature, str) else feature
    T = pose_frames(n, feature)
    n_frames = feature.frame_count(n)
    if n_frames < 1 or T < 1:
        raise AudioError(f"{n} samples are too short for {feature.key} features on the pose clock")
    if level not in AUDIO_LEVELS:
        raise ConfigError(f"level={level!r}; expected one of {', '.join(AUDIO_LEVELS)}")
    if level == "utterance" and not feature.levellable:
        raise ConfigError(f"{feature.key} is not a log-domain feature; audio_level='utterance' needs one")
    return feature, T, n_frames
