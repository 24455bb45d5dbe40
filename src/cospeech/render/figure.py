"""The person around a skeleton: head, neck and torso shapes, the side of every bone, and the view that
frames a whole clip.

Model skeletons hold arms and hands only (``pats48``: shoulders, elbows, wrists, fingers, as offsets from
the implicit neck), so a drawing of their joints alone is a floating "U". Here the rest of the person is
placed from what the skeleton has, in pose units (neck-relative pixels, y down):

* **head**: with a ``Nose`` and both eyes (``pats52``, ``sdt121``; the PATS joints the reference re-inserts
  for its metrics, ``docs/metrics.md``), a circle centred between the eyes of radius
  ``HEAD_RADIUS_PER_NOSE`` × the neck–nose distance; otherwise a circle above the neck, perpendicular to
  the shoulder line, ``HEAD_RISE`` shoulder widths up and ``HEAD_RADIUS`` shoulder widths wide (adult
  proportions: head breadth ≈ 0.4 × biacromial breadth; the OpenPose neck point sits on the shoulder line);
* **neck**: a bone from the neck to the bottom of the head;
* **torso**: a quadrilateral from the shoulders down ``TORSO_LENGTH`` shoulder widths, narrowing by
  ``HIP_INSET`` on each side (no skeleton here has hips).

Bones are coloured by side (``draw_groups``): a body joint named ``L…``/``R…`` (``LElbow``; eyes and ears
belong to the head) is the person's left/right, so an arm and its hand share a hue and the two sides never
swap colours.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cospeech.skeletons import Skeleton

HEAD_JOINTS = ("Nose", "REye", "LEye")
"""Joints the head is placed from when a skeleton has them all."""
HEAD_RISE = 0.6
"""Head centre above the neck, in shoulder widths, for skeletons without a nose."""
HEAD_RADIUS = 0.3
"""Head radius in shoulder widths, for skeletons without a nose."""
HEAD_RADIUS_PER_NOSE = 0.55
"""Head radius in neck–nose distances, for skeletons with a nose and eyes."""
TORSO_LENGTH = 1.4
"""Shoulder-to-hip distance in shoulder widths."""
HIP_INSET = 0.1
"""How far each hip sits inside its shoulder, in shoulder widths."""
_MIN_WIDTH = 1e-3  # pose units; shoulders closer than this (a collapsed pose) still give a tiny figure

BOX_MARGIN = 0.06
"""Space left around the figure on each side of the view, as a share of its extent."""
BOX_PERCENTILE = 2.0
"""Frames whose extent is beyond this percentile (low and high) are let out of the view: a few wild
predicted frames must not shrink a whole clip."""


@dataclass(frozen=True)
class FigureShapes:
    """Head, neck and torso of one or more poses, in pose units; ``...`` is the poses' batch shape."""

    head_centre: np.ndarray
    """(..., 2)"""
    head_radius: np.ndarray
    """(...,)"""
    neck_top: np.ndarray
    """(..., 2) where the neck bone meets the head (the neck bone starts at the origin)."""
    torso: np.ndarray
    """(..., 4, 2) right shoulder, left shoulder, left hip, right hip."""

    def points(self) -> np.ndarray:
        """(..., 8, 2): the torso's corners and the head's extremes (left, right, top, bottom), what a
        view must hold to show the whole figure."""
        r = self.head_radius[..., None]
        c = self.head_centre
        zero = np.zeros_like(r)
        extremes = np.stack(
            [c - np.concatenate([r, zero], -1), c + np.concatenate([r, zero], -1),
             c - np.concatenate([zero, r], -1), c + np.concatenate([zero, r], -1)], axis=-2,
        )  # fmt: skip
        return np.concatenate([self.torso, extremes], axis=-2)


@dataclass(frozen=True)
class _Anchors:
    shoulders: tuple[int, int]  # (right, left)
    face: tuple[int, int, int] | None  # (nose, right eye, left eye)


@functools.lru_cache(maxsize=32)
def _anchors(names: tuple[str, ...]) -> _Anchors | None:
    if "RShoulder" not in names or "LShoulder" not in names:
        return None
    face = None
    if all(n in names for n in HEAD_JOINTS):
        face = tuple(names.index(n) for n in HEAD_JOINTS)
    return _Anchors((names.index("RShoulder"), names.index("LShoulder")), face)


def has_figure(skeleton: Skeleton) -> bool:
    """Whether ``figure_shapes`` can place a person around ``skeleton`` (it needs both shoulders)."""
    return _anchors(skeleton.joint_names) is not None


def figure_shapes(joints: np.ndarray, skeleton: Skeleton) -> FigureShapes:
    """Head, neck and torso of poses ``joints`` ``(..., J, 2)`` (neck-relative, y down) of ``skeleton``.

    Raises ``ValueError`` for a skeleton without both shoulders (see ``has_figure``).
    """
    anchors = _anchors(skeleton.joint_names)
    if anchors is None:
        raise ValueError(f"skeleton {skeleton.name} has no RShoulder and LShoulder to place a figure from")
    joints = np.asarray(joints, np.float32)
    right, left = joints[..., anchors.shoulders[0], :], joints[..., anchors.shoulders[1], :]
    width = np.maximum(np.linalg.norm(left - right, axis=-1), _MIN_WIDTH)[..., None]  # (..., 1)
    across = (left - right) / width  # unit vector, the person's right → left
    down = np.stack([-across[..., 1], across[..., 0]], axis=-1)  # across turned 90°, pointing down
    hips = (left + down * TORSO_LENGTH * width - across * HIP_INSET * width,
            right + down * TORSO_LENGTH * width + across * HIP_INSET * width)  # fmt: skip
    torso = np.stack([right, left, *hips], axis=-2)
    if anchors.face is None:
        centre = -down * HEAD_RISE * width
        radius = HEAD_RADIUS * width[..., 0]
    else:
        nose, eye_r, eye_l = (joints[..., k, :] for k in anchors.face)
        centre = (eye_r + eye_l) / 2
        radius = np.maximum(HEAD_RADIUS_PER_NOSE * np.linalg.norm(nose, axis=-1), _MIN_WIDTH)
    distance = np.maximum(np.linalg.norm(centre, axis=-1), _MIN_WIDTH)
    # the neck bone ends where it enters the head; a head over the neck point gets none (length 0)
    neck_top = centre * np.clip(1 - radius / distance, 0, None)[..., None]
    return FigureShapes(centre, radius, neck_top, torso)


def draw_groups(skeleton: Skeleton) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The skeleton's groups with ``body`` split into ``right_arm``, ``left_arm``, ``face`` (nose and eyes,
    drawn thin inside the head) and the rest (``body``: the neck); hands and face keep their groups.
    Drives bone colours and widths."""
    groups: dict[str, list[int]] = {}
    for name, members in skeleton.groups.items():
        for j in members:
            groups.setdefault(_side(skeleton.joint_names[j]) if name == "body" else name, []).append(j)
    return tuple((name, tuple(members)) for name, members in groups.items())


def _side(joint_name: str) -> str:
    if joint_name in HEAD_JOINTS or joint_name in ("REar", "LEar"):
        return "face"  # thin lines inside the head
    if len(joint_name) > 1 and joint_name[0] in "LR" and joint_name[1].isupper():
        return "left_arm" if joint_name[0] == "L" else "right_arm"
    return "body"


def figure_box(
    sequences: Sequence[np.ndarray], skeleton: Skeleton, *, aspect: float
) -> tuple[float, float, float, float]:
    """The view ``(x0, y0, x1, y1)`` in pose units that frames every pose of ``sequences`` (each
    ``(T, J, 2)``) with its head and torso, ``aspect`` (width / height) wide, with ``BOX_MARGIN`` around.

    One view for a whole clip and all its panels: the figure fills the frame at a fixed scale, so motion
    and the speakers' sizes compare across panels and frames. Frames beyond the ``BOX_PERCENTILE``
    extents are left out (they may leave the frame)."""
    lows, highs = [], []
    for poses in sequences:
        points = np.asarray(poses, np.float32)
        if has_figure(skeleton):
            points = np.concatenate([points, figure_shapes(points, skeleton).points()], axis=-2)
        points = np.concatenate([points, np.zeros_like(points[..., :1, :])], axis=-2)  # the neck
        lows.append(points.min(axis=-2))
        highs.append(points.max(axis=-2))
    low = np.percentile(np.concatenate(lows), BOX_PERCENTILE, axis=0)
    high = np.percentile(np.concatenate(highs), 100 - BOX_PERCENTILE, axis=0)
    extent = np.maximum(high - low, 1.0)
    low, high = low - BOX_MARGIN * extent, high + BOX_MARGIN * extent
    (x0, y0), (x1, y1) = low, high
    width, height = x1 - x0, y1 - y0
    if width < aspect * height:  # widen around the middle to the panel's shape
        grow = (aspect * height - width) / 2
        x0, x1 = x0 - grow, x1 + grow
    else:
        grow = (width / aspect - height) / 2
        y0, y1 = y0 - grow, y1 + grow
    return float(x0), float(y0), float(x1), float(y1)
