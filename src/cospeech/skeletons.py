"""Skeleton definitions as data: joint names, order, parents and part groups.

Every joint count in cospeech comes from here; no other module writes 52, 48, 49 or 121 as a literal.

* ``pats52``: the PATS / C-DiffGAN skeleton (Neck root, arms, nose, eyes, 2 × 21 hand joints).
* ``pats48``: the joints PATS models predict: ``pats52`` without Neck, Nose and the eyes (the reference
  mask ``[0, 7, 8, 9]``). Coordinates are offsets from the neck, so the neck is the implicit origin.
* ``s2g49``: the Speech2Gesture (Ginosar et al. 2019) keypoints: Neck, arms, 2 × 21 hand joints; the same
  joints as ``pats52`` without Nose and eyes.
* ``openpose137``: what OpenPose writes with face and hands on, in its order: BODY_25 (0–24), face 70
  (25–94), left hand 21 (95–115), right hand 21 (116–136); the joints of the Speech Drives Templates files
  (SDT notes §1.3).
* ``sdt121``: the Speech Drives Templates keypoints: ``openpose137`` with legs, ears and feet removed and the
  neck subtracted and dropped (`SDT_MODEL_JOINTS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from cospeech.errors import ConfigError

FINGERS = ("Thumb", "Index", "Middle", "Ring", "Little")
JOINTS_PER_FINGER = 4
HAND_JOINTS = 1 + len(FINGERS) * JOINTS_PER_FINGER  # root + 5 fingers × 4 = 21 (OpenPose hand model)


@dataclass(frozen=True)
class Skeleton:
    """A named tree of 2-D joints.

    ``parents[j]`` is the index of joint ``j``'s parent, or -1 for joints hanging from the origin (the
    root, or joints whose parent was removed, e.g. the shoulders of ``pats48`` hang from the implicit neck).
    ``groups`` maps a body part (``body``, ``left_hand``, ``right_hand``, ``face``) to its joint indices and
    drives colours and line widths when rendering.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.joint_names) != len(self.parents):
            raise ValueError(
                f"skeleton {self.name}: {len(self.joint_names)} names, {len(self.parents)} parents"
            )
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"skeleton {self.name}: duplicate joint names")
        for j, p in enumerate(self.parents):
            if not -1 <= p < len(self.parents) or p == j:
                raise ValueError(f"skeleton {self.name}: joint {j} has invalid parent {p}")
        object.__setattr__(self, "groups", MappingProxyType(dict(self.groups)))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        """Index of a joint by name; the error lists the known names."""
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise ConfigError(
                f"skeleton {self.name} has no joint {joint_name!r}; known: {', '.join(self.joint_names)}"
            ) from None

    def limbs(self) -> list[tuple[int, int]]:
        """(parent, child) pairs, one per drawn bone; joints hanging from the origin have none."""
        return [(p, j) for j, p in enumerate(self.parents) if p >= 0]

    def group_of(self, joint: int) -> str:
        """The part a joint belongs to (``body`` if no group claims it)."""
        for group, members in self.groups.items():
            if joint in members:
                return group
        return "body"

    def subset(self, keep: Sequence[int], name: str) -> Skeleton:
        """A skeleton of the joints ``keep`` (in that order). A removed parent is replaced by its nearest
        kept ancestor, or -1 if none is kept."""
        position = {old: new for new, old in enumerate(keep)}

        def kept_ancestor(j: int) -> int:
            p = self.parents[j]
            while p >= 0 and p not in position:
                p = self.parents[p]
            return position.get(p, -1)

        groups = {
            g: tuple(position[j] for j in members if j in position) for g, members in self.groups.items()
        }
        return Skeleton(
            name=name,
            joint_names=tuple(self.joint_names[j] for j in keep),
            parents=tuple(kept_ancestor(j) for j in keep),
            groups={g: m for g, m in groups.items() if m},
        )


def _hand(prefix: str, first: int, wrist: int) -> tuple[list[str], list[int]]:
    """Names and parents of a 21-joint OpenPose hand whose root sits at index ``first``."""
    names = [f"{prefix}HandRoot"]
    parents = [wrist]
    for f, finger in enumerate(FINGERS):
        for k in range(JOINTS_PER_FINGER):
            names.append(f"{prefix}{finger}{k + 1}")
            parents.append(first if k == 0 else first + 1 + f * JOINTS_PER_FINGER + k - 1)
    return names, parents


def _pats52() -> Skeleton:
    body = ["Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "Nose", "REye", "LEye"]
    body_parents = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 7]
    left_first = len(body)
    left_names, left_parents = _hand("L", left_first, wrist=body.index("LWrist"))
    right_first = left_first + HAND_JOINTS
    right_names, right_parents = _hand("R", right_first, wrist=body.index("RWrist"))
    return Skeleton(
        name="pats52",
        joint_names=tuple(body + left_names + right_names),
        parents=tuple(body_parents + left_parents + right_parents),
        groups={
            "body": tuple(range(left_first)),
            "left_hand": tuple(range(left_first, right_first)),
            "right_hand": tuple(range(right_first, right_first + HAND_JOINTS)),
        },
    )


# OpenPose face-70 contour chains (start, end) inclusive; each chain is drawn as a polyline.
_FACE_CHAINS = ((0, 16), (17, 21), (22, 26), (27, 30), (31, 35), (36, 41), (42, 47), (48, 59), (60, 67))
_FACE_POINTS = 70
_FACE_NOSE_TIP = 30  # the SDT hierarchical representation makes face points relative to this one


BODY25 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe",
    "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
"""OpenPose BODY_25 keypoints in its output order."""
_BODY25_PARENTS = (1, -1, 1, 2, 3, 1, 5, 6, 1, 8, 9, 10, 8, 12, 13, 0, 0, 15, 16, 14, 19, 14, 11, 22, 11)


def _openpose137() -> Skeleton:
    body = list(BODY25)
    face_first = len(body)
    face_names = [f"Face{k}" for k in range(_FACE_POINTS)]
    face_parents = [face_first + _FACE_NOSE_TIP] * _FACE_POINTS
    for start, end in _FACE_CHAINS:
        for k in range(start + 1, end + 1):
            face_parents[k] = face_first + k - 1
    face_parents[_FACE_NOSE_TIP] = body.index("Nose")
    left_first = face_first + _FACE_POINTS
    left_names, left_parents = _hand("L", left_first, wrist=body.index("LWrist"))
    right_first = left_first + HAND_JOINTS
    right_names, right_parents = _hand("R", right_first, wrist=body.index("RWrist"))
    return Skeleton(
        name="openpose137",
        joint_names=tuple(body + face_names + left_names + right_names),
        parents=tuple(_BODY25_PARENTS + tuple(face_parents) + tuple(left_parents + right_parents)),
        groups={
            "body": tuple(range(face_first)),
            "face": tuple(range(face_first, left_first)),
            "left_hand": tuple(range(left_first, right_first)),
            "right_hand": tuple(range(right_first, right_first + HAND_JOINTS)),
        },
    )


PATS52 = _pats52()
PATS_MASKED_JOINTS = tuple(PATS52.index(n) for n in ("Neck", "Nose", "REye", "LEye"))
PATS_MODEL_JOINTS = tuple(j for j in range(PATS52.num_joints) if j not in PATS_MASKED_JOINTS)
PATS48 = PATS52.subset(PATS_MODEL_JOINTS, name="pats48")
S2G49 = PATS52.subset([j for j in range(PATS52.num_joints) if j not in PATS_MASKED_JOINTS[1:]], name="s2g49")
OPENPOSE137 = _openpose137()
SDT_DROPPED_BODY = ("Neck", "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REar", "LEar",
                    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")  # fmt: skip
"""``openpose137`` points SDT's loader removes: the neck (the origin), legs, ears and feet (notes §1.3)."""
SDT_MODEL_JOINTS = tuple(
    j for j in range(OPENPOSE137.num_joints) if OPENPOSE137.joint_names[j] not in SDT_DROPPED_BODY
)
"""The 121 ``openpose137`` indices of ``sdt121``, in order."""
SDT121 = OPENPOSE137.subset(SDT_MODEL_JOINTS, name="sdt121")

SKELETONS: Mapping[str, Skeleton] = MappingProxyType(
    {s.name: s for s in (PATS52, PATS48, S2G49, OPENPOSE137, SDT121)}
)


def get_skeleton(name: str) -> Skeleton:
    """Look a skeleton up by name; the error lists the known ones."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise ConfigError(f"unknown skeleton {name!r}; known: {', '.join(SKELETONS)}") from None
