"""What every keypoint reader returns: the people detected in each frame, on OpenPose's 137 points
(``openpose137``: BODY_25, face 70, two hands), and the frame times; and the one entry point that recognises
the format of a path. ``PATS52_POINTS`` picks the ``pats52`` joints out of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cospeech.errors import DataError
from cospeech.skeletons import OPENPOSE137, PATS52

CHANNELS = 3
"""x, y (pixels, image axes: y down) and the estimator's confidence (0 = not detected)."""
POINTS = OPENPOSE137.num_joints
PATS52_POINTS = tuple(OPENPOSE137.index(name) for name in PATS52.joint_names)
"""Index in ``openpose137`` of each ``pats52`` joint (the same names: BODY_25's and OpenPose's hands)."""


@dataclass(frozen=True)
class Detections:
    """The people a pose estimator found in each frame of a recording.

    ``frames[f]`` is ``(P_f, 137, 3)`` float64: P_f people (0 if none), the ``openpose137`` points, and x,
    y (pixels) and confidence in [0, 1]. A point the estimator did not find (or the format lacks) has
    confidence 0 and x, y = 0, 0, as OpenPose writes it. ``times`` (F,) are the frames' times in seconds
    from the start of the recording (the speech's time 0), increasing.
    """

    times: np.ndarray
    frames: list[np.ndarray]
    source: str
    """Format and layout read (``openpose BODY_25``, ``coco-wholebody 133``…), for the report."""

    def __post_init__(self) -> None:
        if len(self.times) != len(self.frames):
            raise ValueError(f"{len(self.times)} frame times for {len(self.frames)} frames")
        for people in self.frames:
            if people.ndim != 3 or people.shape[1:] != (POINTS, CHANNELS):
                raise ValueError(f"people of shape {people.shape}; expected (P, {POINTS}, 3)")


def frame_times(indices: list[int], fps: float | None, where: Path) -> np.ndarray:
    """Times (s) of frames numbered ``indices`` at ``fps``; a missing or bad rate is a `DataError`."""
    if fps is None:
        raise DataError(
            f"{where}: the keypoint files carry no frame times; give the recording's frame rate (--fps N, "
            "or --video FILE to read it from the video)"
        )
    if not (np.isfinite(fps) and fps > 0):
        raise DataError(f"{where}: frame rate {fps!r} must be a positive number of frames per second")
    order = np.asarray(indices, dtype=np.float64)
    if len(order) > 1 and not (np.diff(order) > 0).all():
        raise DataError(f"{where}: frame numbers repeat or go backwards")
    return order / float(fps)


def read_detections(path: str | Path, *, fps: float | None = None) -> Detections:
    """Keypoints of a recording from ``path``: an OpenPose JSON folder (``*_keypoints.json``), or a
    COCO-WholeBody prediction file (one JSON for a video) or folder of per-frame JSON files.

    ``fps``: frame rate of the keypoint files (frame k at k / fps s); needed when the files carry no times.

    Raises
    ------
    DataError : the path is missing, holds no keypoint files, or a file is not in the format its name says.
    """
    from cospeech.data.importers import openpose, wholebody

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: keypoint file or folder not found")
    if path.is_dir() and any(path.glob(f"*{openpose.SUFFIX}")):
        return openpose.read_openpose(path, fps=fps)
    if path.suffix == ".json" or (path.is_dir() and any(path.glob("*.json"))):
        return wholebody.read_wholebody(path, fps=fps)
    raise DataError(
        f"{path}: no keypoints found; expected an OpenPose folder of *{openpose.SUFFIX} files or "
        "COCO-WholeBody JSON (a file, or a folder of per-frame files)"
    )
