"""COCO-WholeBody 133-point predictions, as MMPose's inferencer (RTMW, DWPose models) saves them.

Layout (COCO-WholeBody, Jin et al. ECCV 2020; MMPose ``coco_wholebody.py``): 0 nose, 1 left eye, 2 right eye,
3–4 ears, 5 left shoulder, 6 right shoulder, 7 left elbow, 8 right elbow, 9 left wrist, 10 right wrist,
11–16 hips, knees, ankles, 17–22 feet, 23–90 face (68), 91–111 left hand, 112–132 right hand (21 each, in
OpenPose's hand order). They fill OpenPose's 137 points: the body its BODY_25 slots, the neck (which
COCO lacks) the shoulders' midpoint and MidHip the hips', each with the lower of the two scores (as DWPose
and MMPose's ``coco_wholebody_openpose`` conversion make the neck); the 68 face points OpenPose's face
0–67, its two pupils (68, 69) the centres of the eye contours.

Files read:

* one JSON for a video: a list of ``{"frame_id": k, "instances": [person, …]}`` (MMPose's
  ``pred_out_dir`` output for a video), or a folder holding only that file;
* a folder of per-frame JSON files (MMPose's output for images), each a list of people or
  ``{"instances": [...]}``, the frame number being the last group of digits in the file name.

A person is ``{"keypoints": [[x, y], …] * 133, "keypoint_scores": [s] * 133}`` (or ``keypoints`` as
``[[x, y, s], …]``). Times are frame / fps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cospeech.data.importers.detections import CHANNELS, POINTS, Detections, frame_times
from cospeech.errors import DataError
from cospeech.skeletons import HAND_JOINTS

WHOLEBODY_POINTS = 133
BODY17_IN_BODY25 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
"""BODY_25 index of each COCO body point: nose, left/right eye, ears, shoulders, elbows, wrists, hips, knees,
ankles (COCO lists left before right; BODY_25 right before left)."""
FEET = (17, 23)
"""COCO-WholeBody's six foot points, in BODY_25's order (19–24: left big toe, small toe, heel, then right)."""
FACE68, FACE_FIRST = (23, 91), 25
"""COCO-WholeBody's 68 face points: OpenPose face points 0–67 (the same 68-point layout)."""
EYES68 = ((36, 42), (42, 48))
"""Face-68 contours of the right and left eye: OpenPose's pupils (face 68, 69) are their centres here."""
HANDS = ((91, 95), (112, 116))
"""COCO-WholeBody's left and right hands → ``openpose137``'s (same 21-point order)."""
NECK, MIDHIP = 1, 8
SHOULDERS, HIPS = (5, 6), (11, 12)
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def read_wholebody(path: str | Path, *, fps: float | None) -> Detections:
    """COCO-WholeBody predictions at ``path`` (one video JSON, or a folder of per-frame files).

    Raises
    ------
    DataError : unreadable JSON, people without 133 keypoints, frames without numbers, or no ``fps``.
    """
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else []
    if len(files) == 1 and _is_video(_load(files[0])):  # a folder holding one video's predictions
        path = files[0]
    if path.is_dir():
        numbered = []
        for file in files:
            match = _NUMBER.search(file.stem)
            if match is None:
                raise DataError(f"{file}: no frame number in the file name")
            numbered.append((int(match.group(1)), file))
        numbered.sort()
        indices = [n for n, _ in numbered]
        frames = [_people(_instances(_load(file), file), file) for _, file in numbered]
    else:
        data = _load(path)
        if not _is_video(data):
            raise DataError(f"{path}: expected a list of {{'frame_id': k, 'instances': [...]}} (MMPose)")
        try:
            indices = [int(f.get("frame_id", k)) for k, f in enumerate(data)]
        except (TypeError, ValueError):
            raise DataError(f"{path}: a frame_id that is not a whole frame number") from None
        order = np.argsort(indices, kind="stable")
        indices = [indices[k] for k in order]
        frames = [_people(_instances(data[k], path), path) for k in order]
    if not frames:
        raise DataError(f"{path}: no frames")
    return Detections(frame_times(indices, fps, path), frames, "coco-wholebody 133")


def _is_video(data: Any) -> bool:
    """Whether ``data`` is a video's predictions: a list of ``{"frame_id", "instances"}`` frames."""
    return isinstance(data, list) and all(isinstance(f, Mapping) and "instances" in f for f in data)


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc})") from None


def _instances(data: Any, path: Path) -> list[Any]:
    people = data.get("instances") if isinstance(data, Mapping) else data
    if not isinstance(people, list):
        raise DataError(f"{path}: expected a list of people or {{'instances': [...]}}")
    return people


def _people(instances: list[Any], path: Path) -> np.ndarray:
    out = np.zeros((len(instances), POINTS, CHANNELS))
    for p, person in enumerate(instances):
        points = _person(person, path)
        out[p, list(BODY17_IN_BODY25)] = points[:17]
        for target, pair in ((NECK, SHOULDERS), (MIDHIP, HIPS)):  # midpoints, the lower score
            out[p, target, :2] = points[list(pair), :2].mean(axis=0)
            out[p, target, 2] = points[list(pair), 2].min()
        out[p, 19:25] = points[FEET[0] : FEET[1]]
        face = points[FACE68[0] : FACE68[1]]
        out[p, FACE_FIRST : FACE_FIRST + len(face)] = face
        for k, (low, high) in enumerate(EYES68):
            out[p, FACE_FIRST + len(face) + k, :2] = face[low:high, :2].mean(axis=0)
            out[p, FACE_FIRST + len(face) + k, 2] = face[low:high, 2].min()
        for first, (low, _) in zip((FACE_FIRST + 70, FACE_FIRST + 70 + HAND_JOINTS), HANDS, strict=True):
            out[p, first : first + HAND_JOINTS] = points[low : low + HAND_JOINTS]
    return out


def _person(person: Any, path: Path) -> np.ndarray:
    """One person as (133, 3): x, y, score."""
    try:
        keypoints = np.asarray(person["keypoints"], dtype=np.float64)
        if keypoints.ndim == 3 and keypoints.shape[0] == 1:  # MMPose keeps a leading instance axis
            keypoints = keypoints[0]
        if keypoints.shape == (WHOLEBODY_POINTS, CHANNELS):
            return keypoints
        scores = np.asarray(person["keypoint_scores"], dtype=np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: a person without keypoints and keypoint_scores ({exc})") from None
    if keypoints.shape != (WHOLEBODY_POINTS, 2) or scores.shape != (WHOLEBODY_POINTS,):
        raise DataError(
            f"{path}: a person with keypoints {keypoints.shape} and scores {scores.shape}; expected "
            f"({WHOLEBODY_POINTS}, 2) and ({WHOLEBODY_POINTS},) (COCO-WholeBody)"
        )
    return np.concatenate([keypoints, scores[:, None]], axis=1)
