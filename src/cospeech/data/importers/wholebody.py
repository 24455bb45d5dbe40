"""COCO-WholeBody 133-point predictions, as MMPose's inferencer (RTMW, DWPose models) saves them.

Layout (COCO-WholeBody, Jin et al. ECCV 2020; MMPose ``coco_wholebody.py``): 0 nose, 1 left eye, 2 right eye,
3–4 ears, 5 left shoulder, 6 right shoulder, 7 left elbow, 8 right elbow, 9 left wrist, 10 right wrist,
11–16 hips, knees, ankles, 17–22 feet, 23–90 face (68), 91–111 left hand, 112–132 right hand (21 each, in
OpenPose's hand order). There is no neck: it is the shoulders' midpoint, with the lower of their two
confidences (as DWPose and MMPose's ``coco_wholebody_openpose`` conversion make it).

Files read:

* one JSON for a video: a list of ``{"frame_id": k, "instances": [person, …]}`` (MMPose's
  ``pred_out_dir`` output for a video);
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

from cospeech.data.importers.detections import CHANNELS, Detections, frame_times
from cospeech.errors import DataError
from cospeech.skeletons import HAND_JOINTS, PATS52

POINTS = 133
BODY = (6, 8, 10, 5, 7, 9, 0, 2, 1)
"""Index of RShoulder, RElbow, RWrist, LShoulder, LElbow, LWrist, Nose, REye, LEye (``pats52`` 1–9)."""
LEFT_HAND, RIGHT_HAND = 91, 112
SHOULDERS = (5, 6)
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def read_wholebody(path: str | Path, *, fps: float | None) -> Detections:
    """COCO-WholeBody predictions at ``path`` (one video JSON, or a folder of per-frame files).

    Raises
    ------
    DataError : unreadable JSON, people without 133 keypoints, frames without numbers, or no ``fps``.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
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
        if not isinstance(data, list) or not all(isinstance(f, Mapping) and "instances" in f for f in data):
            raise DataError(f"{path}: expected a list of {{'frame_id': k, 'instances': [...]}} (MMPose)")
        indices = [int(f.get("frame_id", k)) for k, f in enumerate(data)]
        order = np.argsort(indices, kind="stable")
        indices = [indices[k] for k in order]
        frames = [_people(data[k]["instances"], path) for k in order]
    if not frames:
        raise DataError(f"{path}: no frames")
    return Detections(frame_times(indices, fps, path), frames, "coco-wholebody 133")


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
    out = np.zeros((len(instances), PATS52.num_joints, CHANNELS))
    for p, person in enumerate(instances):
        points = _person(person, path)
        neck = points[list(SHOULDERS)]
        out[p, 0, :2] = neck[:, :2].mean(axis=0)
        out[p, 0, 2] = neck[:, 2].min()
        out[p, 1 : 1 + len(BODY)] = points[list(BODY)]
        first = 1 + len(BODY)
        out[p, first : first + HAND_JOINTS] = points[LEFT_HAND : LEFT_HAND + HAND_JOINTS]
        out[p, first + HAND_JOINTS :] = points[RIGHT_HAND : RIGHT_HAND + HAND_JOINTS]
    return out


def _person(person: Any, path: Path) -> np.ndarray:
    """One person as (133, 3): x, y, score."""
    try:
        keypoints = np.asarray(person["keypoints"], dtype=np.float64)
        if keypoints.ndim == 3 and keypoints.shape[0] == 1:  # MMPose keeps a leading instance axis
            keypoints = keypoints[0]
        if keypoints.shape == (POINTS, CHANNELS):
            return keypoints
        scores = np.asarray(person["keypoint_scores"], dtype=np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: a person without keypoints and keypoint_scores ({exc})") from None
    if keypoints.shape != (POINTS, 2) or scores.shape != (POINTS,):
        raise DataError(
            f"{path}: a person with keypoints {keypoints.shape} and scores {scores.shape}; expected "
            f"({POINTS}, 2) and ({POINTS},) (COCO-WholeBody)"
        )
    return np.concatenate([keypoints, scores[:, None]], axis=1)
