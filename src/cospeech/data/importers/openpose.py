"""OpenPose JSON folders: one ``<name>_<frame number>_keypoints.json`` per frame (``--write_json``).

Each file holds ``{"people": [{"pose_keypoints_2d": [x, y, c] * 25 (BODY_25) or * 18 (COCO),
"hand_left_keypoints_2d": [x, y, c] * 21, "hand_right_keypoints_2d": …, "face_keypoints_2d": …}, …]}``;
an undetected point is written as 0, 0 with confidence 0, and a run without ``--hand`` writes empty hand
lists (every hand point then counts as undetected). The body layouts (OpenPose ``output_format.md``):

* BODY_25: 0 Nose, 1 Neck, 2 RShoulder, 3 RElbow, 4 RWrist, 5 LShoulder, 6 LElbow, 7 LWrist, 8 MidHip,
  9–14 legs, 15 REye, 16 LEye, 17 REar, 18 LEar, 19–24 feet;
* COCO 18: 0–7 as BODY_25, 8–13 legs, 14 REye, 15 LEye, 16 REar, 17 LEar.

Hands are OpenPose's 21-point model (wrist root, then thumb, index, middle, ring, little, 4 points each),
the order of ``pats52``'s hands. The frame number is the last group of digits in the file name; times are
frame / fps (OpenPose writes none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cospeech.data.importers.detections import CHANNELS, Detections, frame_times
from cospeech.errors import DataError
from cospeech.skeletons import HAND_JOINTS, PATS52

SUFFIX = "_keypoints.json"
PATS_BODY = ("Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "Nose", "REye", "LEye")
"""The ``pats52`` body joints, in its order."""
BODY_LAYOUTS: Mapping[int, tuple[str, tuple[int, ...]]] = {
    25: ("BODY_25", (1, 2, 3, 4, 5, 6, 7, 0, 15, 16)),
    18: ("COCO", (1, 2, 3, 4, 5, 6, 7, 0, 14, 15)),
}
"""Body points per person → (model name, index of each `PATS_BODY` joint in that model)."""
HAND_KEYS = ("hand_left_keypoints_2d", "hand_right_keypoints_2d")
"""``pats52`` stores the left hand first, then the right."""
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def read_openpose(folder: str | Path, *, fps: float | None) -> Detections:
    """Every ``*_keypoints.json`` of ``folder`` as `Detections` at ``fps`` (frames by their number).

    Raises
    ------
    DataError : no such files, a file that is not OpenPose JSON, a body of another size than 25 or 18
        points, two layouts in one folder, or no ``fps``.
    """
    folder = Path(folder)
    files = sorted(folder.glob(f"*{SUFFIX}"))
    if not files:
        raise DataError(f"{folder}: no OpenPose *{SUFFIX} files")
    numbered = []
    for path in files:
        match = _NUMBER.search(path.name[: -len(SUFFIX)])
        if match is None:
            raise DataError(f"{path}: no frame number in the name (OpenPose writes <name>_<frame>{SUFFIX})")
        numbered.append((int(match.group(1)), path))
    numbered.sort()
    layouts: set[str] = set()
    frames = []
    for _, path in numbered:
        people, layout = _read_frame(path)
        frames.append(people)
        layouts.update(layout)
    if len(layouts) > 1:
        raise DataError(f"{folder}: frames of different body models ({', '.join(sorted(layouts))})")
    times = frame_times([n for n, _ in numbered], fps, folder)
    return Detections(times, frames, f"openpose {next(iter(layouts), 'BODY_25')}")


def _read_frame(path: Path) -> tuple[np.ndarray, set[str]]:
    try:
        data = json.loads(path.read_text())
        people = data["people"]
        if not isinstance(people, list):
            raise TypeError("'people' is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not an OpenPose keypoint file ({exc.__class__.__name__}: {exc})") from None
    out = np.zeros((len(people), PATS52.num_joints, CHANNELS))
    layouts = set()
    for p, person in enumerate(people):
        body = _points(person.get("pose_keypoints_2d"), path, "pose_keypoints_2d")
        if len(body) not in BODY_LAYOUTS:
            raise DataError(
                f"{path}: pose_keypoints_2d has {len(body)} points; expected 25 (BODY_25) or 18 (COCO)"
            )
        name, indices = BODY_LAYOUTS[len(body)]
        layouts.add(name)
        out[p, : len(PATS_BODY)] = body[list(indices)]
        for h, key in enumerate(HAND_KEYS):
            hand = _points(person.get(key), path, key)
            if len(hand) == HAND_JOINTS:
                first = len(PATS_BODY) + h * HAND_JOINTS
                out[p, first : first + HAND_JOINTS] = hand
            elif len(hand):
                raise DataError(f"{path}: {key} has {len(hand)} points; expected {HAND_JOINTS}")
    return out, layouts


def _points(values: Sequence[float] | None, path: Path, key: str) -> np.ndarray:
    """A flat ``[x, y, c] * n`` list as (n, 3); an absent or empty list is (0, 3)."""
    array = np.asarray(values if values is not None else [], dtype=np.float64)
    if array.ndim != 1 or len(array) % CHANNELS:
        raise DataError(f"{path}: {key} is not a flat list of x, y, confidence triples")
    return array.reshape(-1, CHANNELS)


def write_openpose(
    folder: str | Path, joints: np.ndarray, confidence: np.ndarray, *, name: str = "frame"
) -> list[Path]:
    """Write one person per frame as OpenPose BODY_25 + hands JSON: ``folder/<name>_<k:012d>_keypoints.json``.

    ``joints`` (T, 52, 2) absolute pixels and ``confidence`` (T, 52) in [0, 1] of the ``pats52`` joints.
    BODY_25 points ``pats52`` lacks (MidHip, legs, ears, feet) are written as OpenPose writes undetected
    points, 0, 0 with confidence 0; the face list is empty (as without ``--face``). Files are written
    atomically; returns their paths.
    """
    from cospeech.files import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _, indices = BODY_LAYOUTS[25]
    points = np.concatenate(
        [np.asarray(joints, np.float64), np.asarray(confidence, np.float64)[..., None]], -1
    )
    paths = []
    for k, frame in enumerate(points):
        body = np.zeros((25, CHANNELS))
        body[list(indices)] = frame[: len(PATS_BODY)]
        hands = [frame[len(PATS_BODY) + h * HAND_JOINTS :][:HAND_JOINTS] for h in range(2)]
        person = {
            "person_id": [-1],
            "pose_keypoints_2d": _flat(body),
            "face_keypoints_2d": [],
            **{key: _flat(hand) for key, hand in zip(HAND_KEYS, hands, strict=True)},
            **{f"{part}_keypoints_3d": [] for part in ("pose", "face", "hand_left", "hand_right")},
        }
        path = folder / f"{name}_{k:012d}{SUFFIX}"
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps({"version": 1.3, "people": [person]}))
        paths.append(path)
    return paths


def _flat(points: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in points.reshape(-1)]
