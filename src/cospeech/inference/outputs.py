"""Files for ``GeneratedGestures``: npz, OpenPose-style per-frame JSON, CSV and mp4 with the speech.

Every writer is atomic (``cospeech.files.atomic_write``): the file, or for JSON the whole directory of
frames, appears only when complete.

* ``.npz``: ``poses`` (T, J, 2) float32 neck-relative pixels, ``fps``, ``skeleton``, ``joint_names`` (J,),
  ``speaker``; strings are stored as unicode arrays, so ``np.load(…, allow_pickle=False)`` reads it.
* JSON: one file per frame, ``<prefix>_<frame:012d>_keypoints.json``, laid out as OpenPose writes them
  (``people[0].pose_keypoints_2d`` BODY_25 + ``hand_left_keypoints_2d`` / ``hand_right_keypoints_2d`` 21
  each, every point ``x, y, confidence`` in absolute pixels). Our poses are offsets from the neck, so the
  neck is placed at a fixed canvas point (default (640, 200) on a 1280×720 frame) and every joint at
  neck + offset. Mapping from ``pats48``:

  ======================  ===============================================  ==========
  pats48 joint            OpenPose                                         confidence
  ======================  ===============================================  ==========
  (implicit origin)       BODY_25 1 Neck, at the canvas anchor             1
  RShoulder, RElbow,      BODY_25 2, 3, 4                                  1
  RWrist
  LShoulder, LElbow,      BODY_25 5, 6, 7                                  1
  LWrist
  LHandRoot, LThumb1–4,   hand_left 0 (wrist), 1–4 thumb, 5–8 index,       1
  LIndex1–4 … LLittle1–4  9–12 middle, 13–16 ring, 17–20 little
  RHandRoot … RLittle4    hand_right 0–20, same order                      1
  —                       BODY_25 0 Nose, 8–24 hips, legs, eyes, ears,     0 (x = y = 0)
                          feet: not predicted
  ======================  ===============================================  ==========

  The neck gets confidence 1 although it is not predicted: it is the anchor every limb hangs from, and
  OpenPose consumers drop limbs whose end has confidence 0. ``face_keypoints_2d`` and the 3-D fields are
  empty, as OpenPose writes them when face and 3-D estimation are off.
* ``.csv``: long format ``frame,time,joint,x,y`` (time in s, x/y neck-relative pixels), one row per joint
  per frame.
* ``.mp4``: the skeleton drawn by ``cospeech.render.video.write_video``, H.264 with the speech in AAC as
  the user gave it: the file's own sample rate and channels (``GeneratedGestures.audio``), not the mono
  16 kHz mix the features are computed from; a rate AAC cannot store is resampled to the nearest it can.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cospeech.errors import ConfigError
from cospeech.files import OutputError, atomic_write
from cospeech.inference.pipeline import GeneratedGestures
from cospeech.render.video import write_video
from cospeech.skeletons import FINGERS, HAND_JOINTS, JOINTS_PER_FINGER, PATS48, get_skeleton

FORMATS = ("npz", "json", "csv", "mp4")
"""Output formats, in the order ``write_gestures`` writes them."""
OPENPOSE_CANVAS = (1280, 720)
OPENPOSE_NECK = (640.0, 200.0)
"""Where the neck sits on the OpenPose canvas (pixels from the top-left corner)."""
BODY_25_JOINTS = 25
BODY_25_NECK = 1
BODY_25_FROM_PATS48 = {"RShoulder": 2, "RElbow": 3, "RWrist": 4, "LShoulder": 5, "LElbow": 6, "LWrist": 7}
"""pats48 joint name → BODY_25 index for the body joints we predict."""
KEYPOINTS_SUFFIX = "_keypoints.json"


def _hand_joints(side: str) -> list[int]:
    """pats48 indices of one hand in OpenPose hand order (wrist/root, then 4 joints per finger)."""
    names = [f"{side}HandRoot"] + [f"{side}{f}{k + 1}" for f in FINGERS for k in range(JOINTS_PER_FINGER)]
    return [PATS48.index(name) for name in names]


_BODY_SOURCES = [PATS48.index(name) for name in BODY_25_FROM_PATS48]
_BODY_TARGETS = list(BODY_25_FROM_PATS48.values())
_LEFT_HAND = _hand_joints("L")
_RIGHT_HAND = _hand_joints("R")


def output_paths(stem: str | os.PathLike[str], formats: Sequence[str]) -> dict[str, Path]:
    """Where each format goes for an output stem: ``<stem>.npz``, ``<stem>_keypoints/``, ``<stem>.csv``,
    ``<stem>.mp4`` (suffixes are appended, so a stem like ``talk.v2`` keeps its dot)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown output format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")
    stem = str(stem)
    suffix = {"npz": ".npz", "json": "_keypoints", "csv": ".csv", "mp4": ".mp4"}
    return {f: Path(stem + suffix[f]) for f in FORMATS if f in formats}


def write_gestures(
    gestures: GeneratedGestures, stem: str | os.PathLike[str], formats: Sequence[str] = ("npz",)
) -> list[Path]:
    """Write ``gestures`` in each of ``formats`` at ``output_paths(stem, formats)``; returns the paths."""
    writers = {"npz": write_npz, "json": write_openpose_json, "csv": write_csv, "mp4": write_mp4}
    return [writers[f](gestures, path) for f, path in output_paths(stem, formats).items()]


def write_npz(gestures: GeneratedGestures, path: str | os.PathLike[str]) -> Path:
    """``poses``, ``fps``, ``skeleton``, ``joint_names``, ``speaker`` in an uncompressed ``.npz``."""
    path = Path(path)
    with atomic_write(path) as temporary, open(temporary, "wb") as file:
        np.savez(
            file,
            poses=gestures.poses.astype(np.float32),
            fps=np.int64(gestures.fps),
            skeleton=np.str_(gestures.skeleton),
            joint_names=np.array(gestures.joint_names, dtype=np.str_),
            speaker=np.str_(gestures.speaker),
        )
    return path


def write_csv(gestures: GeneratedGestures, path: str | os.PathLike[str]) -> Path:
    """Long-format CSV: ``frame,time,joint,x,y``, one row per joint per frame."""
    path = Path(path)
    with atomic_write(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(("frame", "time", "joint", "x", "y"))
        for t, frame in enumerate(gestures.poses):
            time = f"{t / gestures.fps:.4f}"
            rows = zip(gestures.joint_names, frame, strict=True)
            writer.writerows((t, time, name, f"{x:.3f}", f"{y:.3f}") for name, (x, y) in rows)
    return path


def openpose_keypoints(
    gestures: GeneratedGestures, *, neck: tuple[float, float] = OPENPOSE_NECK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(body (T, 25, 3), left hand (T, 21, 3), right hand (T, 21, 3)) as OpenPose ``x, y, confidence`` in
    absolute pixels, the neck at ``neck``; joints we do not predict are ``0, 0, 0``."""
    if gestures.skeleton != PATS48.name:
        raise ConfigError(f"OpenPose JSON is written from {PATS48.name} poses, not {gestures.skeleton}")
    absolute = gestures.poses.astype(np.float64) + np.asarray(neck, dtype=np.float64)  # (T, J, 2)
    T = len(absolute)
    body = np.zeros((T, BODY_25_JOINTS, 3))
    body[:, BODY_25_NECK] = (*neck, 1.0)
    body[:, _BODY_TARGETS, :2] = absolute[:, _BODY_SOURCES]
    body[:, _BODY_TARGETS, 2] = 1.0
    hands = []
    for joints in (_LEFT_HAND, _RIGHT_HAND):
        hand = np.ones((T, HAND_JOINTS, 3))
        hand[..., :2] = absolute[:, joints]
        hands.append(hand)
    return body, hands[0], hands[1]


def write_openpose_json(
    gestures: GeneratedGestures,
    directory: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    neck: tuple[float, float] = OPENPOSE_NECK,
) -> Path:
    """A directory of OpenPose-style ``<prefix>_<frame:012d>_keypoints.json`` files, one per frame.

    ``prefix`` defaults to the directory's name without a ``_keypoints`` ending. An existing ``directory``
    is replaced only if it holds nothing but ``*_keypoints.json`` files (an earlier output).
    """
    directory = Path(directory)
    if directory.is_file() or (
        directory.is_dir() and any(not p.name.endswith(KEYPOINTS_SUFFIX) for p in directory.iterdir())
    ):
        raise OutputError(f"{directory}: exists and is not a keypoints directory; choose a new path")
    prefix = directory.name.removesuffix("_keypoints") if prefix is None else prefix
    body, left, right = openpose_keypoints(gestures, neck=neck)
    with atomic_write(directory) as temporary:
        temporary.mkdir()
        for t in range(len(body)):
            person = {
                "person_id": [-1],
                "pose_keypoints_2d": _flat(body[t]),
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": _flat(left[t]),
                "hand_right_keypoints_2d": _flat(right[t]),
                "pose_keypoints_3d": [],
                "face_keypoints_3d": [],
                "hand_left_keypoints_3d": [],
                "hand_right_keypoints_3d": [],
            }
            document = {"version": 1.3, "people": [person]}
            (temporary / f"{prefix}_{t:012d}{KEYPOINTS_SUFFIX}").write_text(json.dumps(document))
    return directory


def _flat(points: np.ndarray) -> list[float]:
    """(K, 3) → OpenPose's flat ``[x0, y0, c0, x1, …]`` with 3 decimals."""
    return [round(float(v), 3) for v in points.reshape(-1)]


def write_mp4(
    gestures: GeneratedGestures, path: str | os.PathLike[str], *, size: tuple[int, int] = (1280, 720)
) -> Path:
    """The gestures drawn on a skeleton, one panel, with the speech muxed at its own rate and channels
    (H.264 + AAC)."""
    return write_video(
        path,
        [("generated", gestures.poses)],
        get_skeleton(gestures.skeleton),
        fps=gestures.fps,
        audio=gestures.audio,
        sample_rate=gestures.sample_rate,
        size=size,
        speaker=gestures.speaker,
    )
