"""Pose representations: how poses in pixels become what models predict, and back; registered by name.

Pixel space is ``(…, T, J, 2)`` neck-relative offsets in pixels (PATS ``pose/normalize``, y down), what
metrics, renders and outputs use. A representation first re-expresses those pixels as ``(…, 2J)`` in the
``[x…, y…]`` layout (`PoseRepresentation.encode`, invertible: `decode`), then z-normalises per feature with
one row of statistics per speaker style, fitted in the representation's own space. Model space is the
result. Every caller goes through `to_pixels` / `to_model` (or the window cache through `encode`), so
`to_pixels` always gives global neck-relative pixels whatever a run learned, and metrics and renders do not
change. The name is saved with each run (``DataSpec.representation``).

* ``z_flat``: the flat joints as they are.
* ``hierarchical``: SDT's "parted" poses (SDT notes §1.4): the face relative to the nose tip, each hand
  relative to its wrist; every other joint (the anchors included) stays neck-relative.

>>> rep = make_representation("hierarchical", "sdt121")       # doctest: +SKIP
>>> np.allclose(rep.decode(rep.encode(flat)), flat)         # doctest: +SKIP
True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np
import torch

from cospeech.data.poses import flat_to_joints, joints_to_flat
from cospeech.errors import ConfigError
from cospeech.registry import Registry
from cospeech.skeletons import Skeleton, get_skeleton

if TYPE_CHECKING:  # the window cache encodes poses with a representation, and the normaliser reads the cache
    from cospeech.data.normalize import Normalizer

Array = TypeVar("Array", np.ndarray, torch.Tensor)
DEFAULT_REPRESENTATION = "z_flat"
"""The representation of runs that do not name one (and of metadata written before there was a choice)."""

_REPRESENTATIONS: Registry[type[PoseRepresentation]] = Registry("pose representation")
RepresentationT = TypeVar("RepresentationT", bound="type[PoseRepresentation]")


def register_representation(name: str) -> Callable[[RepresentationT], RepresentationT]:
    """Class decorator: register a `PoseRepresentation` subclass as ``name`` (and set its ``name``); a name
    already taken raises `ConfigError`."""

    def decorator(cls: RepresentationT) -> RepresentationT:
        _REPRESENTATIONS.add(name, cls, cls)
        cls.name = name
        return cls

    return decorator


def list_representations() -> list[str]:
    """Sorted names of the registered pose representations."""
    return _REPRESENTATIONS.names()


def check_representation(name: str) -> str:
    """``name`` if registered, else a `ConfigError` listing the known ones."""
    _REPRESENTATIONS[name]
    return name


def make_representation(
    name: str, skeleton: str | Skeleton, normalizer: Normalizer | None = None
) -> PoseRepresentation:
    """Representation ``name`` for poses of ``skeleton``. ``normalizer`` (``pose`` rows ``(S, 2J)`` in the
    representation's space) is needed by `to_pixels` / `to_model` only; `encode` / `decode` work without.
    An unknown name, or a skeleton the representation cannot serve, is a `ConfigError`."""
    return _REPRESENTATIONS[name](skeleton, normalizer)


class PoseRepresentation(ABC):
    """Pixels ``(…, T, J, 2)`` ↔ model space ``(…, T, 2J)`` for one skeleton:
    ``model = (encode(flat(pixels)) − μ_s) / σ_s`` for style s.

    Parameters
    ----------
    skeleton : the model skeleton (J joints), or its name.
    normalizer : statistics with ``pose`` rows ``(S, 2J)``, one per style, fitted on `encode`\\ d poses.
    """

    name: ClassVar[str]

    def __init__(self, skeleton: str | Skeleton, normalizer: Normalizer | None = None) -> None:
        self.skeleton: Skeleton = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
        self.normalizer = normalizer
        width = None if normalizer is None else normalizer.mean["pose"].shape[-1]
        if width is not None and width != 2 * self.skeleton.num_joints:
            raise ValueError(
                f"pose statistics have {width} features; {self.skeleton.name} needs "
                f"{2 * self.skeleton.num_joints}"
            )

    @abstractmethod
    def encode(self, flat: Array) -> Array:
        """Global neck-relative pixels ``(…, 2J)`` → this representation's pixels ``(…, 2J)``."""

    @abstractmethod
    def decode(self, flat: Array) -> Array:
        """Inverse of `encode`: ``(…, 2J)`` → global neck-relative pixels ``(…, 2J)``."""

    def to_pixels(self, model: Array, style: Array | int) -> Array:
        """``(B, T, 2J)`` model space → ``(B, T, J, 2)`` global pixels; ``style`` is ``(B,)`` or one id."""
        flat = self._normalizer().denormalize("pose", model, _styles(style, model))
        return flat_to_joints(self.decode(flat))

    def to_model(self, pixels: Array, style: Array | int) -> Array:
        """``(B, T, J, 2)`` global pixels → ``(B, T, 2J)`` model space; ``style`` is ``(B,)`` or one id."""
        encoded = self.encode(joints_to_flat(pixels))
        return self._normalizer().normalize("pose", encoded, _styles(style, pixels))

    def _normalizer(self) -> Normalizer:
        if self.normalizer is None:
            raise ConfigError(f"pose representation {self.name!r} was made without normalisation statistics")
        return self.normalizer


@register_representation("z_flat")
class FlatRepresentation(PoseRepresentation):
    """The flat neck-relative joints, as stored (PATS, Speech2Gesture)."""

    def encode(self, flat: Array) -> Array:
        return flat

    def decode(self, flat: Array) -> Array:
        return flat


HIERARCHY_ANCHORS: Mapping[str, str] = MappingProxyType(
    {"face": "Face30", "left_hand": "LWrist", "right_hand": "RWrist"}
)
"""Part → the joint its points are made relative to (SDT notes §1.4: 121-indices 39, 6, 3 of ``sdt121``)."""


@register_representation("hierarchical")
class HierarchicalRepresentation(PoseRepresentation):
    """SDT's parted poses (``DATASET.HIERARCHICAL_POSE``, notes §1.4): each point of a part in
    `HIERARCHY_ANCHORS` that the skeleton has (``sdt121``: face, both hands; ``pats48``: the hands) becomes
    an offset from the part's anchor; the anchors and every other joint stay neck-relative. Linear and
    exactly invertible (`decode` adds the anchors back; float rounding aside). A skeleton with none of the
    parts is a `ConfigError`."""

    def __init__(self, skeleton: str | Skeleton, normalizer: Normalizer | None = None) -> None:
        super().__init__(skeleton, normalizer)
        members: list[int] = []
        anchors: list[int] = []
        for part, anchor_name in HIERARCHY_ANCHORS.items():
            if part not in self.skeleton.groups or anchor_name not in self.skeleton.joint_names:
                continue
            anchor = self.skeleton.index(anchor_name)
            points = [j for j in self.skeleton.groups[part] if j != anchor]
            members += points
            anchors += [anchor] * len(points)
        if not members:
            raise ConfigError(
                f"pose representation 'hierarchical' needs a skeleton with a face or hands "
                f"({', '.join(HIERARCHY_ANCHORS)}); {self.skeleton.name} has none"
            )
        J = self.skeleton.num_joints
        self.members = np.array(members + [J + j for j in members])
        """Flat ``[x…, y…]`` columns made relative, x block then y block."""
        self.anchors = np.array(anchors + [J + a for a in anchors])
        """Flat column of each member's anchor."""

    def encode(self, flat: Array) -> Array:
        return self._shift(flat, -1.0)

    def decode(self, flat: Array) -> Array:
        return self._shift(flat, 1.0)

    def _shift(self, flat: Array, sign: float) -> Array:
        """``flat`` with ``sign`` × its anchor columns added to the member columns (anchors unchanged)."""
        if flat.shape[-1] != 2 * self.skeleton.num_joints:
            raise ValueError(
                f"{self.skeleton.name} poses have {2 * self.skeleton.num_joints} features, got shape "
                f"{tuple(flat.shape)}"
            )
        out = flat.clone() if isinstance(flat, torch.Tensor) else flat.copy()
        out[..., self.members] = flat[..., self.members] + sign * flat[..., self.anchors]
        return out


def _styles(style: Array | int, like: Array) -> Array:
    """One style id per batch row, in the array library of ``like``."""
    if isinstance(style, int):
        if isinstance(like, torch.Tensor):
            return torch.full((like.shape[0],), style, dtype=torch.long, device=like.device)
        return np.full(like.shape[0], style, dtype=np.int64)
    return style
