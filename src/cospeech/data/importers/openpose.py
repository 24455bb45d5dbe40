"""OpenPose JSON folders: one ``<name>_<frame number>_keypoints.json`` per frame (``--write_json``).

Each file holds ``{"people": [{"pose_keypoints_2d": [x, y, c] * 25 (BODY_25) or * 18 (COCO),
"hand_left_keypoints_2d": [x, y, c] * 21, "hand_right_keypoints_2d": …, "face_keypoints_2d": …}, …]}``;
an undetected point is written as 0, 0 with confidence 0, and a run without ``--hand`` writes empty hand
lists (every hand point then counts as undetected). The body layouts (OpenPose ``output_format.md``):

* BODY_25: 0 Nose, 1 Neck, 2 RShoulder, 3 RElbow, 4 RWrist, 5 LShoulder, 6 LElbow, 7 LWrist, 8 MidHip,
  9–14 legs, 15 REye, 16 LEye, 17 REar, 18 LEar, 19–24 feet;
* COCO 18: 0–7 as BODY_25, 8–13 legs, 14 REye, 15 LEye, 16 REar, 17 LEar.

Face (70 points, with ``--face``) and hands (21-point model: wrist root, then thumb, index, middle, ring,
little, 4 points each, with ``--hand``) complete OpenPose's 137 points (``openpose137``); a COCO 18 body
fills the BODY_25 slots it has. The frame number is the last group of digits in the file name; times are
frame / fps (OpenPose writes none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cospeech.data.importers.detections import CHANNELS, POINTS, Detections, frame_times
from cospeech.errors import DataError
from cospeech.skeletons import HAND_JOINTS

SUFFIX = "_keypoints.json"
BODY25_POINTS = 25
FACE_POINTS = 70
COCO18_IN_BODY25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
"""BODY_25 index of each COCO 18 point (COCO 18 has no MidHip, 8, nor feet, 19–24)."""
BODY_LAYOUTS: Mapping[int, tuple[str, tuple[int, ...]]] = {
    25: ("BODY_25", tuple(range(BODY25_POINTS))),
    18: ("COCO", COCO18_IN_BODY25),
}
"""Body points per person → (model name, ``openpose137`` index of each of its points)."""
PARTS = (
    ("face_keypoints_2d", BODY25_POINTS, FACE_POINTS),
    ("hand_left_keypoints_2d", BODY25_POINTS + FACE_POINTS, HAND_JOINTS),
    ("hand_right_keypoints_2d", BODY25_POINTS + FACE_POINTS + HAND_JOINTS, HAND_JOINTS),
)
"""OpenPose's per-part lists: key, first ``openpose137`` index, points (an empty list: not estimated)."""
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
    out = np.zeros((len(people), POINTS, CHANNELS))
    layouts = set()
    for p, person in enumerate(people):
        if not isinstance(person, Mapping):
            raise DataError(f"{path}: a person that is not an object of keypoint lists")
        body = _points(person.get("pose_keypoints_2d"), path, "pose_keypoints_2d")
        if len(body) not in BODY_LAYOUTS:
            raise DataError(
                f"{path}: pose_keypoints_2d has {len(body)} points; expected 25 (BODY_25) or 18 (COCO)"
            )
        name, indices = BODY_LAYOUTS[len(body)]
        layouts.add(name)
        out[p, list(indices)] = body
        for key, first, count in PARTS:
            part = _points(person.get(key), path, key)
            if len(part) == count:
                out[p, first : first + count] = part
            elif len(part):
                raise DataError(f"{path}: {key} has {len(part)} points; expected {count}")
    return out, layouts


def _points(values: Sequence[float] | None, path: Path, key: str) -> np.ndarray:
    """A flat ``[x, y, c] * n`` list as (n, 3); an absent or empty list is (0, 3)."""
    try:
        array = np.asarray(values if values is not None else [], dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty((0, 0))  # not numbers: refused below
    if array.ndim != 1 or len(array) % CHANNELS:
        raise DataError(f"{path}: {key} is not a flat list of x, y, confidence triples")
    return array.reshape(-1, CHANNELS)


def write_openpose(folder: str | Path, points: np.ndarray, *, name: str = "frame") -> list[Path]:
    """Write one person per frame as OpenPose JSON: ``folder/<name>_<k:012d>_keypoints.json``.

    ``points`` (T, 137, 3): ``openpose137`` x, y (absolute pixels) and confidence; points not found are
    0, 0 with confidence 0, as OpenPose writes them. The body is written as BODY_25; a part none of whose
    points was found in the whole recording (the face, say) as an empty list, as OpenPose writes a part it
    did not estimate. Files are written atomically; returns their paths.
    """
    from cospeech.files import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    points = np.asarray(points, dtype=np.float64)
    estimated = {key: bool((points[:, first : first + n, 2] > 0).any()) for key, first, n in PARTS}
    paths = []
    for k, frame in enumerate(points):
        person = {
            "person_id": [-1],
            "pose_keypoints_2d": _flat(frame[:BODY25_POINTS]),
            **{key: _flat(frame[first : first + n]) if estimated[key] else [] for key, first, n in PARTS},
            **{f"{part}_keypoints_3d": [] for part in ("pose", "face", "hand_left", "hand_right")},
        }
        path = folder / f"{name}_{k:012d}{SUFFIX}"
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps({"version": 1.3, "people": [person]}))
        paths.append(path)
    return paths


def _flat(points: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in points.reshape(-1)]
