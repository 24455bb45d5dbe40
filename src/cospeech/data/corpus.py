"""The corpus interface every on-disk data format implements, and the registry of formats.

Callers (the window cache, the data module, ``data info``, rendered clips) see only `Corpus`: speakers,
interval ids per split, named arrays per interval, and the two skeletons. A format is one module: a
`Corpus` subclass decorated with ``@register_format("name")``, which registers it on import (a duplicate
name raises). `open_corpus` opens a root in a named format, or asks every registered format whether the
root looks like its own.

>>> corpus = open_corpus("cospeech_data/synth")                 # doctest: +SKIP
>>> corpus.format, corpus.stored_skeleton.name, corpus.model_skeleton.name  # doctest: +SKIP
('pats', 'pats52', 'pats48')
>>> pose = corpus.read("ava", corpus.interval_ids("ava", "train")[0], ["pose/normalize"])  # doctest: +SKIP
>>> corpus.to_model_pose("pose/normalize", pose["pose/normalize"]).shape  # doctest: +SKIP
(T, 96)
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, TypeVar

import numpy as np

from cospeech.data.text import Word
from cospeech.errors import DataError
from cospeech.registry import Registry
from cospeech.skeletons import Skeleton

SPLITS = ("train", "dev", "test")
SYNTH_COMMAND = "cospeech data synth"
"""The command that makes the built-in corpus; named in every "no corpus here" error."""

BUILTIN_FORMAT_MODULES = ("cospeech.data.pats", "cospeech.data.sdt")
"""Modules of the shipped formats, imported on the first registry lookup (not on import of this module,
so that the pose helpers stay free of h5py and pandas)."""


class Corpus(ABC):
    """One corpus root on disk, read interval by interval.

    An interval is a stretch of one speaker's speech; it stores named arrays (``keys``) whose first axis
    is time. Pose keys hold ``(T, 2·J_stored)`` in the flat ``[x…, y…]`` layout of `stored_skeleton`;
    `to_model_pose` turns them into the ``(T, 2·J_model)`` poses models learn (`model_skeleton`).
    """

    format: ClassVar[str]
    """Registered name, set by `register_format`."""
    clips: ClassVar[bool] = False
    """Whether intervals are pre-cut clips of one window each (SDT's 64 frames), so a window may end at an
    interval's last frame; False: the PATS loader's strict ``range(0, T − window, hop)`` (``windows``)."""
    root: Path
    """The directory this corpus was opened from."""

    @classmethod
    @abstractmethod
    def looks_like(cls, root: Path) -> bool:
        """Whether the existing directory ``root`` is laid out in this format. Cheap (file names, no array
        read) and never raises: `open_corpus` asks every format."""

    @property
    @abstractmethod
    def stored_skeleton(self) -> Skeleton:
        """Joints of the pose keys as stored (``pats52`` for PATS)."""

    @property
    @abstractmethod
    def model_skeleton(self) -> Skeleton:
        """Joints models learn, i.e. what `to_model_pose` returns (``pats48`` for PATS)."""

    @property
    @abstractmethod
    def speakers(self) -> list[str]:
        """Speakers present, in the order that defines style ids for "every speaker"."""

    def check_speakers(self, speakers: Iterable[str]) -> None:
        """Raise one `DataError` listing every speaker of ``speakers`` this corpus lacks."""
        unknown = [s for s in speakers if s not in self.speakers]
        if unknown:
            raise DataError(f"{self.root}: no speaker(s) {unknown}; this corpus has {self.speakers}")

    @abstractmethod
    def interval_ids(self, speaker: str, split: str) -> list[str]:
        """Usable interval ids of one speaker and split (one of `SPLITS`), in a fixed order: the order
        fixes window indices and therefore seeded few-shot draws."""

    @abstractmethod
    def interval_path(self, speaker: str, interval_id: str) -> Path:
        """The file holding one interval: named in errors, and its size and time key the window cache."""

    @abstractmethod
    def read(self, speaker: str, interval_id: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Arrays of one interval: ``(T, feature_width(key))`` float32 for 2-D keys. A missing file or key
        or a wrong shape is a `DataError` naming the file and the key."""

    @abstractmethod
    def keys(self, speaker: str, interval_id: str) -> list[str]:
        """Keys stored for one interval (sorted)."""

    @abstractmethod
    def pose_frames(self, speaker: str, interval_id: str) -> int:
        """T, the number of pose frames of one interval, read without loading the arrays where the
        format allows (``data info`` sums it over a whole corpus)."""

    def frame_rate(self, speaker: str, interval_id: str, key: str) -> float | None:
        """Frames per second of a stored audio key if the corpus records it, else None (the window cache
        then infers it, see `cospeech.data.windows.audio_clock`). Only a known rate reveals audio that
        ends before the poses."""
        return None

    def source_span(self, speaker: str, interval_id: str) -> tuple[str, int] | None:
        """(source recording, first pose frame in it) of an interval cut from a longer recording whose
        intervals may overlap (SDT's clips, every 5 frames), so summaries count each frame once; None
        (the default) where intervals never overlap (PATS)."""
        return None

    def transcript(self, speaker: str, interval_id: str) -> list[Word] | None:
        """The interval's words with their spans in seconds, or None if it (or the format) has none."""
        return None

    def text_featurizer(self, speaker: str, interval_id: str, key: str) -> str | None:
        """Name of what made the stored text key ``key`` from words, if the corpus records it (the built-in
        corpus: ``cospeech.data.synth.words.FEATURIZER``), else None (PATS' own preprocessing: BERT
        sub-tokens and features, GoogleNews word2vec). Inference featurises a transcript the same way."""
        return None

    @abstractmethod
    def raw_audio(self, speaker: str, interval_id: str) -> Path | None:
        """The interval's speech file (for rendering with sound), or None if the corpus has none."""

    def has_speech(self, speaker: str, interval_id: str) -> bool:
        """Whether `waveform` has the interval's speech, without decoding it (rendering picks clips by
        this). By default whether there is a `raw_audio` file."""
        return self.raw_audio(speaker, interval_id) is not None

    def waveform(self, speaker: str, interval_id: str) -> np.ndarray | None:
        """The interval's speech, ``(n,)`` float32 mono at 16 kHz, that unstored audio features are
        computed from (``cospeech.features``); None if the corpus has none. By default `raw_audio`
        decoded (``cospeech.audio.load_audio``); a format keeping the speech elsewhere (SDT: inside each
        clip's npz) overrides this."""
        path = self.raw_audio(speaker, interval_id)
        if path is None:
            return None
        from cospeech.audio import load_audio  # decoders only when speech is read

        return load_audio(path)

    @abstractmethod
    def feature_width(self, key: str) -> int:
        """Width of the last axis of a stored 2-D key (pose keys: ``2·J_stored``); a key without a fixed
        width is a `DataError` listing those with one."""

    @property
    def default_pose_key(self) -> str:
        """The pose key models learn unless a run names one (PATS: ``pose/normalize``; SDT: ``pose``); a
        format without one raises `DataError`."""
        raise DataError(f"{self.root}: the {self.format} format has no default pose key; name one (pose_key)")

    @abstractmethod
    def is_pose_key(self, key: str) -> bool:
        """Whether ``key`` stores poses of `stored_skeleton` (what `to_model_pose` accepts)."""

    @abstractmethod
    def to_model_pose(self, key: str, array: np.ndarray) -> np.ndarray:
        """Stored poses ``(T, 2·J_stored)`` of pose key ``key`` → model poses ``(T, 2·J_model)``, both flat
        ``[x…, y…]``; `model_skeleton` names the joints."""

    def word_timings(self, speaker: str, interval_id: str) -> np.ndarray | None:
        """Word timings of one interval, ``(W, 2)`` float64 (start_frame, end_frame) in pose frames and
        stored order, or None if the interval (or the format) has none."""
        return None

    @property
    def box_joints(self) -> tuple[str, ...]:
        """Joints of `stored_skeleton` that models do not predict but the reference's PCK box spans (PATS:
        Nose, REye, LEye; ``PCK_ref`` in ``docs/metrics.md``); empty (the default) for a format that stores
        none, which then has no ``PCK_ref``."""
        return ()

    def to_box_joints(self, key: str, array: np.ndarray) -> np.ndarray:
        """Stored poses ``(T, 2·J_stored)`` of pose key ``key`` → the `box_joints` ``(T, 2·K)``, flat
        ``[x…, y…]``, in the space of `to_model_pose`'s joints (PATS: neck-relative, as stored)."""
        raise DataError(f"{self.root}: the {self.format} format stores no joints for the PCK box")

    @property
    def text_features(self) -> Mapping[str, int]:
        """Text feature keys the format defines, with their widths (``(T, width)`` on the pose clock);
        empty for formats without text."""
        return MappingProxyType({})


CorpusT = TypeVar("CorpusT", bound=Corpus)

_FORMATS: Registry[type[Corpus]] = Registry("corpus format")


def register_format(name: str) -> Callable[[type[CorpusT]], type[CorpusT]]:
    """Class decorator: register a `Corpus` subclass as format ``name`` (and set its ``format``). A name
    already taken raises, so two modules cannot silently shadow each other."""

    def decorator(cls: type[CorpusT]) -> type[CorpusT]:
        if not (isinstance(cls, type) and issubclass(cls, Corpus)):
            raise TypeError(f"register_format({name!r}): {cls!r} is not a Corpus subclass")
        _FORMATS.add(name, cls, cls)
        cls.format = name
        return cls

    return decorator


def _load_builtin_formats() -> None:
    for module in BUILTIN_FORMAT_MODULES:
        importlib.import_module(module)


def list_formats() -> list[str]:
    """Sorted names of the registered corpus formats."""
    _load_builtin_formats()
    return _FORMATS.names()


def corpus_format(name: str) -> type[Corpus]:
    """The `Corpus` class of format ``name``; an unknown name raises `ConfigError` listing the known ones."""
    _load_builtin_formats()
    return _FORMATS[name]


def open_corpus(root: str | Path, format: str | None = None) -> Corpus:
    """Open the corpus at ``root`` in ``format``, or in the one registered format that recognises it.

    A missing root, one no format recognises (the error lists the formats tried) and one that several
    formats claim are each a one-line `DataError` naming the root. An unknown ``format`` is a `ConfigError`.
    """
    root = Path(root)
    if format is not None:
        return corpus_format(format)(root)
    if not root.is_dir():
        raise DataError(f"{root}: corpus root directory not found (make the built-in one: {SYNTH_COMMAND})")
    tried = list_formats()
    claimed = [name for name in tried if _FORMATS[name].looks_like(root)]
    if not claimed:
        raise DataError(
            f"{root}: not a corpus in any known format (tried {', '.join(tried)}; "
            f"make the built-in one: {SYNTH_COMMAND})"
        )
    if len(claimed) > 1:
        raise DataError(
            f"{root}: looks like several corpus formats ({', '.join(claimed)}); name one with format="
        )
    return _FORMATS[claimed[0]](root)
