"""Which speaker's style to generate in: one speaker, or a mix such as ``"ava=0.5,ben=0.5"``.

Multi-speaker generators with a style embedding (Mix-StAGE) take the style as mixing weights over the
speakers they were trained on and interpolate the embedding rows (Ahuja et al., ECCV 2020, §4: style
embeddings live in one space, so their convex combinations are styles too). One speaker is the plain id,
exactly as in training; weights are normalised to sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cospeech.errors import ConfigError


@dataclass(frozen=True)
class StyleMix:
    """Mixing weights over a model's speakers (``weights[i]`` for ``speakers[i]``, summing to 1)."""

    speakers: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def parse(cls, request: str | Mapping[str, float], speakers: Sequence[str]) -> StyleMix:
        """``"ben"``, ``"ava=0.5,ben=0.5"`` (weights ≥ 0, normalised) or ``{"ava": 1, "ben": 3}``.

        Raises ``ConfigError`` naming the problem: unknown speaker (with the known ones), a weight that is
        not a finite number ≥ 0, a speaker named twice, or weights summing to 0."""
        speakers = tuple(speakers)
        if isinstance(request, str):
            parts = [p.strip() for p in request.split(",") if p.strip()]
            if not parts:
                raise ConfigError(f"empty style {request!r}; name a speaker: {', '.join(speakers)}")
            weighted = ["=" in p for p in parts]
            if len(parts) > 1 and not all(weighted):
                raise ConfigError(f"style {request!r}: give every speaker a weight, e.g. ava=0.5,ben=0.5")
            pairs = [_pair(p) for p in parts] if all(weighted) else [(parts[0], 1.0)]
        else:
            pairs = [(str(k), _weight(str(k), v)) for k, v in request.items()]
        names = [name for name, _ in pairs]
        unknown = [n for n in names if n not in speakers]
        if unknown:
            raise ConfigError(f"unknown speaker {unknown[0]!r}; this model knows: {', '.join(speakers)}")
        if len(set(names)) < len(names):
            raise ConfigError(f"style names a speaker twice: {', '.join(names)}")
        total = sum(w for _, w in pairs)
        if total <= 0:
            raise ConfigError("style weights sum to 0; give at least one speaker a positive weight")
        weights = dict(pairs)
        return cls(speakers, tuple(weights.get(s, 0.0) / total for s in speakers))

    @property
    def single(self) -> int | None:
        """The style id when one speaker has all the weight, else None."""
        nonzero = [i for i, w in enumerate(self.weights) if w > 0]
        return nonzero[0] if len(nonzero) == 1 else None

    @property
    def dominant(self) -> int:
        """Id of the speaker with the largest weight (the first on ties): whose normalisation statistics a
        mix uses when the model normalises per speaker."""
        return int(np.argmax(self.weights))

    def vector(self) -> np.ndarray:
        """``(S,)`` float32 weights."""
        return np.asarray(self.weights, dtype=np.float32)

    def __str__(self) -> str:
        if self.single is not None:
            return self.speakers[self.single]
        return ",".join(f"{s}={w:g}" for s, w in zip(self.speakers, self.weights, strict=True) if w > 0)


def _pair(part: str) -> tuple[str, float]:
    name, sep, value = part.partition("=")
    if not sep:
        raise ConfigError(f"style {part!r}: expected speaker=weight")
    return name.strip(), _weight(name.strip(), value.strip())


def _weight(name: str, value: object) -> float:
    try:
        weight = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"style weight of {name!r} is {value!r}, not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise ConfigError(f"style weight of {name!r} is {value!r}; weights must be finite and ≥ 0")
    return weight
