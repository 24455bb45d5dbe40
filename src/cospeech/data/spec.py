"""``DataSpec``: what the data module feeds the models, published once the data is read.

Model config fields that depend on the data (pose width from the skeleton, audio feature width, number of
speaker styles, window length) are filled from ``model_fields()`` instead of being typed in YAML (as nanoGPT
takes ``vocab_size`` from its data's metadata). The spec is saved with every run (``RunMetadata``), so
inference repeats exactly how the inputs were made: which feature, at which rate, on which skeleton.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from cospeech.audio import AUDIO_LEVELS
from cospeech.data.representation import DEFAULT_REPRESENTATION, check_representation
from cospeech.data.text import BERT_VOCAB_SIZE, TEXT_KEYS, TOKENS_KEY
from cospeech.errors import ConfigError
from cospeech.skeletons import get_skeleton


@dataclass(frozen=True)
class DataSpec:
    """The data a run was trained on, as the models see it."""

    format: str
    """Corpus format name (``pats``)."""
    skeleton: str
    """Model skeleton of the predicted joints (``pats48``); the pose width is ``2 · J``."""
    pose_key: str
    """Stored pose key of the training targets (``pose/normalize``: neck-relative pixels)."""
    audio_key: str
    """Stored audio feature the models consume (``audio/log_mel_400``)."""
    audio_dim: int
    """F: audio features per frame."""
    speakers: tuple[str, ...]
    """Speaker names; position = style id."""
    fps: int
    """Pose frames per second (15)."""
    window_seconds: float
    """Training window length; ``window_frames = int(window_seconds · fps)``."""
    audio_rate_mode: str
    """How audio was aligned to the pose clock (``exact`` or the reference's ``pats`` constants)."""
    normalization: str
    """Whose statistics z-normalise each speaker (``pooled``, ``source``, ``per_speaker``)."""
    text: Mapping[str, int] = field(default_factory=dict)
    """Text feature keys the corpus format defines, with their widths (``text/bert``: 768)."""
    train_windows: int = 0
    """Training windows in the run (after any few-shot draw)."""
    train_intervals: int = 0
    """Training intervals the windows come from."""
    audio_level: str = "none"
    """How audio features were levelled (``cospeech.audio.AudioLevel``): ``none`` as computed, or
    ``utterance`` relative to each interval's speech level with a floor; inference repeats it per input.
    Defaulted so that metadata written before the option existed reads as ``none``, which it was."""
    text_key: str | None = None
    """Stored text key the batches carry as ``text`` (one of ``cospeech.data.text.TEXT_KEYS``), or None
    for audio only. Defaulted (like the two below) so that older metadata reads as it was trained."""
    repeat_text: bool = True
    """Whether ``text`` is per frame (True) or one row per token with ``token_duration`` (False)."""
    text_featurizer: str | None = None
    """What made the stored ``text_key`` from words, when the corpus records it (the built-in corpus:
    ``cospeech.data.synth.words.FEATURIZER``); None for PATS' own BERT/word2vec preprocessing. Inference
    featurises a transcript with it (``cospeech.inference.text``)."""
    pose_clusters: int = 0
    """K of the per-frame k-means pose cluster labels (``cluster``) in every batch; 0 = none."""
    box_joints: tuple[str, ...] = ()
    """Joints of the stored skeleton that models do not predict and dev/test batches carry as
    ``box_joints`` for the reference's PCK box (``PCK_ref``; PATS: Nose, REye, LEye); empty when the corpus
    stores none (then there is no ``PCK_ref``)."""
    representation: str = DEFAULT_REPRESENTATION
    """Pose representation of model space (``cospeech.data.representation``: ``z_flat``, ``hierarchical``);
    the normaliser's ``pose`` statistics are in its space. Defaulted so older metadata reads as ``z_flat``."""

    def __post_init__(self) -> None:
        get_skeleton(self.skeleton)  # an unknown skeleton fails here, listing the known ones
        check_representation(self.representation)  # so does an unknown representation
        problems = [
            f"{name}={getattr(self, name)!r} must be an integer ≥ {low}"
            for name, low in (("audio_dim", 1), ("fps", 1), ("train_windows", 0), ("train_intervals", 0))
            if type(getattr(self, name)) is not int or getattr(self, name) < low
        ]
        if isinstance(self.window_seconds, bool) or not isinstance(self.window_seconds, (int, float)):
            problems.append(f"window_seconds={self.window_seconds!r} must be a number of seconds")
        if not isinstance(self.speakers, tuple) or not self.speakers:
            problems.append(f"speakers={self.speakers!r} must be a non-empty list of names")
        elif not all(isinstance(s, str) for s in self.speakers):
            problems.append(f"speakers={self.speakers!r} must be names")
        for name in ("format", "pose_key", "audio_key", "audio_rate_mode", "normalization"):
            if not isinstance(getattr(self, name), str):
                problems.append(f"{name}={getattr(self, name)!r} must be a string")
        if not isinstance(self.box_joints, tuple) or not all(isinstance(j, str) for j in self.box_joints):
            problems.append(f"box_joints={self.box_joints!r} must be a list of joint names")
        if self.audio_level not in AUDIO_LEVELS:
            problems.append(f"audio_level={self.audio_level!r} must be one of {', '.join(AUDIO_LEVELS)}")
        if self.text_key is not None and self.text_key not in TEXT_KEYS:
            problems.append(f"text_key={self.text_key!r} must be None or one of {', '.join(TEXT_KEYS)}")
        elif self.text_key not in (None, TOKENS_KEY) and self.text_key not in self.text:
            problems.append(f"text_key={self.text_key!r} has no width in text={dict(self.text)}")
        if self.text_featurizer is not None and not isinstance(self.text_featurizer, str):
            problems.append(f"text_featurizer={self.text_featurizer!r} must be a name or null")
        if not isinstance(self.repeat_text, bool):
            problems.append(f"repeat_text={self.repeat_text!r} must be true or false")
        if type(self.pose_clusters) is not int or self.pose_clusters < 0:
            problems.append(f"pose_clusters={self.pose_clusters!r} must be an integer ≥ 0")
        if problems:
            raise ConfigError(f"invalid data spec: {'; '.join(problems)}")

    @property
    def pose_dim(self) -> int:
        """2J: pose features per frame in model space."""
        return 2 * get_skeleton(self.skeleton).num_joints

    @property
    def num_styles(self) -> int:
        """S: number of speaker styles."""
        return len(self.speakers)

    @property
    def window_frames(self) -> int:
        """Pose frames in a training window (64 for 4.3 s at 15 fps)."""
        return int(self.window_seconds * self.fps)

    @property
    def text_dim(self) -> int:
        """Text features per frame (768 for ``text/bert``, 300 for ``text/w2v``); 0 without text or for
        ``text/tokens`` (ids, see `text_vocab`)."""
        return 0 if self.text_key in (None, TOKENS_KEY) else int(self.text[self.text_key])

    @property
    def text_vocab(self) -> int:
        """Token ids are below this: 30522 (BERT's WordPiece vocabulary) for ``text/tokens``, else 0."""
        return BERT_VOCAB_SIZE if self.text_key == TOKENS_KEY else 0

    def model_fields(self) -> dict[str, int]:
        """Values of the ``from_data`` fields of model configs, by field name."""
        return {
            "pose_dim": self.pose_dim,
            "audio_dim": self.audio_dim,
            "num_styles": self.num_styles,
            "window": self.window_frames,
            "text_dim": self.text_dim,
            "text_vocab": self.text_vocab,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for checkpoints and ``config.json`` of exports)."""
        out = asdict(self)
        out["speakers"] = list(self.speakers)
        out["box_joints"] = list(self.box_joints)
        out["text"] = dict(self.text)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DataSpec:
        """Inverse of ``to_dict``. Raises ``ConfigError`` naming missing or unknown keys."""
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing, unknown = sorted(required - set(values)), sorted(set(values) - names)
        if missing or unknown:
            raise ConfigError(f"data spec: missing keys {missing}, unknown keys {unknown}")
        values = dict(values)
        for name in ("speakers", "box_joints"):
            if isinstance(values.get(name), (list, tuple)):
                values[name] = tuple(values[name])
        return cls(**values)
