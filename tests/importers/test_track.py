"""Frame cleaning on detections made here: isolated undetected hand points are interpolated in time, an
undetected body point or a hand point missing longer than the gap limit drops the frame."""

from __future__ import annotations

import numpy as np

from cospeech.data.importers.detections import PATS52_POINTS, POINTS, Detections
from cospeech.data.importers.recording import summary_lines
from cospeech.data.importers.track import clean_segments
from cospeech.skeletons import OPENPOSE137

FRAMES = 200
FINGER = OPENPOSE137.groups["right_hand"][8]
WRIST = OPENPOSE137.index("RWrist")
REST = {  # the rest of an import report, for its printed lines
    "speech": {"seconds": 13.3},
    "keypoints_end_seconds": 13.3,
    "split_seconds": {"train": 10.0, "dev": 1.0, "test": 1.0},
    "frames_beyond_speech": 0,
    "usable_seconds": 12.0,
    "split_gap_seconds": 0.0,
    "pieces_too_short_seconds": 0.0,
    "train_beyond_minutes_seconds": 0.0,
}


def _detections(edit) -> Detections:
    """One person at 15 fps whose points move right by 1 px a frame (x = 100 + 5·point + f), ``edit``ed."""
    frames = []
    for f in range(FRAMES):
        person = np.zeros((1, POINTS, 3))
        person[0, PATS52_POINTS, 0] = 100 + 5 * np.arange(len(PATS52_POINTS)) + f
        person[0, PATS52_POINTS, 1] = 200 + 3 * np.arange(len(PATS52_POINTS))
        person[0, PATS52_POINTS, 2] = 0.9
        edit(f, person[0])
        frames.append(person)
    return Detections(np.arange(FRAMES) / 15, frames, "test")


def _undetect(person, point):
    person[point] = 0.0  # as OpenPose writes a point it did not find


def test_a_few_missing_finger_points_are_interpolated_and_the_frames_kept():
    missing = {10: [FINGER], 11: [FINGER], 40: [FINGER, FINGER + 1], 70: [OPENPOSE137.groups["left_hand"][3]]}
    (segment,), report = clean_segments(
        _detections(lambda f, p: [_undetect(p, j) for j in missing.get(f, [])])
    )
    assert segment.frames == FRAMES and not report.dropped.get("undetected points")
    assert report.points_filled == {"right_hand": 4, "left_hand": 1}
    expected = 100 + 5 * PATS52_POINTS.index(FINGER) + np.arange(FRAMES)  # the straight line, exactly
    np.testing.assert_allclose(segment.joints[:, FINGER, 0], expected)
    np.testing.assert_allclose(segment.confidence[:, FINGER], 0.9)
    assert (segment.joints[:, PATS52_POINTS] > 3).all()  # no undetected (0, 0) stored
    assert report.as_dict()["points_interpolated"] == {"right_hand": 4, "left_hand": 1}
    lines = summary_lines({**report.as_dict(), **REST})
    assert "undetected points interpolated: left_hand 1, right_hand 4" in lines


def test_a_missing_wrist_or_a_whole_hand_still_drops_the_frame():
    missing = {50: [WRIST], 60: list(OPENPOSE137.groups["left_hand"])}
    (segment,), report = clean_segments(
        _detections(lambda f, p: [_undetect(p, j) for j in missing.get(f, [])])
    )
    assert report.dropped["undetected points"] == 2 and not report.points_filled
    assert segment.frames == FRAMES  # the two frames are bridged from their neighbours, as before


def test_a_finger_missing_longer_than_the_gap_limit_drops_those_frames():
    gone = range(100, 110)  # 10 frames: its detections around are 11 / 15 s > 0.5 s apart
    (first, second), report = clean_segments(
        _detections(lambda f, p: _undetect(p, FINGER) if f in gone else None)
    )
    assert +report.dropped == {"hand points missing too long": len(gone)} and not report.points_filled
    assert (first.start, first.frames, second.frames) == (0, 100, 90)
    assert second.start == 110 / 15 and report.splits_at_gaps == 1
    assert "dropped frames: hand points missing too long 10" in summary_lines({**report.as_dict(), **REST})
