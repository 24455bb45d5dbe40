"""From detections to clean 15 fps pose segments: follow one person, drop unusable frames, resample.

1. **Tracking.** The biggest person (bounding box of their confident body points) of the first frame with a
   complete upper body is followed; in each later frame the candidate nearest to the track's last position
   is taken if it lies within ``max_jump`` of its size (the box diagonal), otherwise the frame has lost the
   person. After a loss longer than ``max_gap`` the nearest candidate is taken again, wherever it is.
2. **Frame cleaning** (SDT's preprocessing, ``speech_drives_templates.md`` §1.7, 2_1/2_2): a frame is dropped
   if a body point the target format uses (``used``: the 52 PATS joints, or SDT's 121 and the neck) is
   undetected (confidence 0, or at the image origin: x ≤ 3 and y ≤ 3, SDT's test), or a whole used hand
   or face is; if the mean confidence is below ``min_confidence`` (the estimator's low-confidence frames);
   or if it is an outlier: shoulder width (RShoulder–LShoulder) more than ``shoulder_outlier`` off the
   recording's median (a mis-detection or another person's body), or RShoulder on the neck (no scale).
   Isolated undetected hand or face points (real estimators miss a few fingers in many frames; SDT drops
   such frames) are filled per point by linear interpolation in time between the nearest kept frames
   where that point is detected, if those are at most ``max_gap`` apart; otherwise the frame is dropped
   ("hand points missing too long", "face points missing too long").
3. **Resampling** to 15 fps: kept frames at most ``max_gap`` apart form a segment; a segment is sampled every
   1/15 s from its first kept frame, each point linearly interpolated in time between the kept frames around
   it (so short gaps are bridged and any input rate becomes 15 fps; an input already at 15 fps is copied).
   Longer gaps end the segment: undetected poses are never stored as positions. Segments shorter than one
   training window are left out. Points outside ``used`` are written as undetected (0, 0, score 0).

Every count is kept for the import report (`TrackReport`), the filled points per part too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cospeech.data.importers.detections import PATS52_POINTS, POINTS, Detections
from cospeech.data.windows import POSE_FPS
from cospeech.errors import DataError
from cospeech.skeletons import OPENPOSE137, PATS52

ORIGIN_PX = 3.0
"""SDT's undetected-point test: x ≤ 3 and y ≤ 3 (OpenPose writes 0, 0 for points it did not find)."""
BODY = PATS52_POINTS[: len(PATS52.groups["body"])]
"""The upper body (neck, arms, nose, eyes) whose box is a person's position and size."""
NECK, RSHOULDER, LSHOULDER = (OPENPOSE137.index(n) for n in ("Neck", "RShoulder", "LShoulder"))
UNDETECTED = "undetected points"
"""Drop reason: a used body point, or a whole used hand or face, undetected."""
TOO_LONG = {"left_hand": "hand", "right_hand": "hand", "face": "face"}
"""The part word of the drop reason "<part> points missing too long" (no detection within ``max_gap``)."""
PART_HINTS = {
    "left_hand": "OpenPose writes hands with --hand",
    "right_hand": "OpenPose writes hands with --hand",
    "face": "OpenPose writes the face with --face",
}
"""What to tell a user whose keypoints lack a part in every frame."""
TIME_TOLERANCE = 1e-6
"""Seconds within which a resampled frame counts as a kept frame's own time (not interpolated)."""


@dataclass(frozen=True)
class TrackSettings:
    """Thresholds of tracking, cleaning and resampling (defaults: `import_recording`'s)."""

    min_confidence: float = 0.2
    """Frames whose mean point confidence is below this are dropped."""
    max_gap: float = 0.5
    """Seconds: longer stretches without a usable frame split the recording; shorter ones are interpolated."""
    max_jump: float = 0.5
    """Farthest a followed person moves between frames, as a share of their size (box diagonal)."""
    shoulder_outlier: float = 0.35
    """Largest relative deviation of the shoulder width from the recording's median."""
    min_frames: int = 65
    """Shortest segment kept (pose frames at 15 fps): one 64-frame window plus one (the window rule)."""


@dataclass(frozen=True)
class Segment:
    """A stretch of clean 15 fps poses: ``start`` (s in the recording) and ``joints`` (T, 137, 2) absolute
    pixels, ``confidence`` (T, 137) of the ``openpose137`` points (0 and 0, 0 outside the used ones)."""

    start: float
    joints: np.ndarray
    confidence: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.joints)


@dataclass
class TrackReport:
    """What tracking and cleaning kept and dropped, and why (frames of the input, seconds at 15 fps)."""

    source: str
    frames_read: int
    input_fps: float
    dropped: Counter = field(default_factory=Counter)
    people_per_frame: dict[int, int] = field(default_factory=dict)
    reacquired: int = 0
    gaps_bridged: int = 0
    gaps_bridged_seconds: float = 0.0
    splits_at_gaps: int = 0
    short_segments: int = 0
    short_segments_seconds: float = 0.0
    points_filled: Counter = field(default_factory=Counter)
    """Undetected hand/face points of kept frames filled by interpolation in time, per part."""

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "frames_read": self.frames_read,
            "input_fps": round(self.input_fps, 3),
            "people_per_frame": {str(k): v for k, v in sorted(self.people_per_frame.items())},
            "frames_dropped": dict(self.dropped),
            "person_reacquired": self.reacquired,
            "gaps_interpolated": {"count": self.gaps_bridged, "seconds": round(self.gaps_bridged_seconds, 3)},
            "points_interpolated": dict(self.points_filled),
            "splits_at_long_gaps": self.splits_at_gaps,
            "segments_too_short": {
                "count": self.short_segments,
                "seconds": round(self.short_segments_seconds, 3),
            },
        }


def clean_segments(
    detections: Detections, settings: TrackSettings | None = None, used: Sequence[int] = PATS52_POINTS
) -> tuple[list[Segment], TrackReport]:
    """Follow one person through ``detections``, drop unusable frames, resample to 15 fps.

    ``used``: the ``openpose137`` points the target keeps (default the ``pats52`` joints); the body ones
    must be detected in a kept frame, the hand and face ones are filled in time where undetected.
    Returns the segments in time order and the report. Raises `DataError` if no frame is usable.
    """
    settings = settings or TrackSettings()
    times = np.asarray(detections.times, dtype=np.float64)
    steps = np.diff(times)
    report = TrackReport(
        detections.source, len(times), float(1.0 / np.median(steps)) if len(steps) else float("nan")
    )
    report.people_per_frame = dict(Counter(len(p) for p in detections.frames))
    chosen = _follow(detections, settings, report)
    kept = np.zeros(len(times), dtype=bool)
    joints = np.zeros((len(times), POINTS, 2))
    confidence = np.zeros((len(times), POINTS))
    holes = np.zeros((len(times), POINTS), dtype=bool)  # undetected hand/face points of kept frames
    used = list(used)
    parts = {part: np.isin(used, members) for part, members in OPENPOSE137.groups.items()}
    missing: Counter = Counter()  # body parts with undetected points, over the frames dropped for them
    for f, person in enumerate(chosen):
        if person is None:
            continue
        detected = _detected(person[used])
        reason = _unusable(person[used], detected, parts, settings.min_confidence)
        if reason:
            report.dropped[reason] += 1
            if reason == UNDETECTED:
                missing.update(_parts(used, ~detected))
            continue
        kept[f] = True
        joints[f, used], confidence[f, used] = person[used, :2], person[used, 2]
        holes[f, used] = ~detected
    if kept.any():
        width = np.linalg.norm(joints[:, RSHOULDER] - joints[:, LSHOULDER], axis=-1)
        median = np.median(width[kept])
        neck_offset = np.linalg.norm(joints[:, RSHOULDER] - joints[:, NECK], axis=-1)
        outlier = kept & ((np.abs(width / median - 1) > settings.shoulder_outlier) | (neck_offset < 1.0))
        report.dropped["outlier (shoulder width)"] += int(outlier.sum())
        kept &= ~outlier
        _fill(times, kept, joints, confidence, holes, settings, report)
    if not kept.any():
        always = sorted(part for part, count in missing.items() if count == report.dropped[UNDETECTED])
        hints = "; ".join(dict.fromkeys(PART_HINTS[p] for p in always if p in PART_HINTS))
        hint = f"; the {', '.join(always)} points are undetected in every frame" if always else ""
        hint += f" ({hints})" if hints else ""
        raise DataError(
            f"no usable frame among {len(times)} ({detections.source}): dropped {dict(report.dropped)}{hint}"
        )
    return _resample(times[kept], joints[kept], confidence[kept], settings, report), report


def _follow(detections: Detections, settings: TrackSettings, report: TrackReport) -> list[np.ndarray | None]:
    """The followed person in each frame (52, 3), or None where they were not found."""
    chosen: list[np.ndarray | None] = []
    centre: np.ndarray | None = None
    size = 0.0
    last_time = -np.inf
    for t, people in zip(detections.times, detections.frames, strict=True):
        boxes = [_box(person) for person in people]
        candidates = [k for k, box in enumerate(boxes) if box is not None]
        if not candidates:
            chosen.append(None)
            report.dropped["no person detected" if not len(people) else "no upper body detected"] += 1
            continue
        if centre is None:
            pick = max(candidates, key=lambda k: boxes[k][1])
        else:
            distance = {k: float(np.linalg.norm(boxes[k][0] - centre)) for k in candidates}
            pick = min(candidates, key=distance.__getitem__)
            if t - last_time > settings.max_gap:
                report.reacquired += 1
            elif distance[pick] > settings.max_jump * size:
                chosen.append(None)
                report.dropped["followed person not found (others only)"] += 1
                continue
        centre, size = boxes[pick]
        last_time = t
        chosen.append(people[pick])
    return chosen


def _box(person: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Centre and diagonal of the detected body points; None without neck and both shoulders."""
    if not _detected(person[[NECK, RSHOULDER, LSHOULDER]]).all():
        return None
    body = person[list(BODY)]
    points = body[_detected(body), :2]
    return points.mean(axis=0), float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def _detected(points: np.ndarray) -> np.ndarray:
    """Per point: confidence > 0 and not at the image origin (SDT's x ≤ 3 and y ≤ 3)."""
    at_origin = (points[:, 0] <= ORIGIN_PX) & (points[:, 1] <= ORIGIN_PX)
    return (points[:, 2] > 0) & ~at_origin & np.isfinite(points).all(axis=1)


def _parts(points: Sequence[int], flags: np.ndarray) -> set[str]:
    """The ``openpose137`` parts (body, face, left_hand, right_hand) of the ``points`` whose flag is set."""
    flagged = {p for p, flag in zip(points, flags, strict=True) if flag}
    return {part for part, members in OPENPOSE137.groups.items() if flagged.intersection(members)}


def _unusable(
    person: np.ndarray, detected: np.ndarray, parts: dict[str, np.ndarray], min_confidence: float
) -> str | None:
    """Why a frame of the used points ``person`` (U, 3) is dropped, or None; ``parts``: masks over U."""
    whole_part_undetected = any(m.any() and not detected[m].any() for p, m in parts.items() if p != "body")
    if not detected[parts["body"]].all() or whole_part_undetected:
        return UNDETECTED
    if person[:, 2].mean() < min_confidence:
        return "low confidence"
    return None


def _fill(
    times: np.ndarray,
    kept: np.ndarray,
    joints: np.ndarray,
    confidence: np.ndarray,
    holes: np.ndarray,
    settings: TrackSettings,
    report: TrackReport,
) -> None:
    """Interpolate each point's ``holes`` in time between the nearest kept frames of the same segment where
    it is detected, at most ``max_gap`` apart; frames with a hole that cannot be filled are dropped (in
    place: ``kept``, ``joints``, ``confidence``; the filled points of the kept frames are counted)."""
    index = np.flatnonzero(kept)
    breaks = np.flatnonzero(np.diff(times[index]) > settings.max_gap + TIME_TOLERANCE) + 1
    unfilled: dict[int, str] = {}
    for segment in np.split(index, breaks):
        for point in np.flatnonzero(holes[segment].any(axis=0)):
            seen, gaps = segment[~holes[segment, point]], segment[holes[segment, point]]
            if not len(seen):
                fillable = np.zeros(len(gaps), dtype=bool)
            else:
                after = np.searchsorted(times[seen], times[gaps])
                before, after = seen[np.maximum(after - 1, 0)], seen[np.minimum(after, len(seen) - 1)]
                span = times[after] - times[before]
                fillable = (times[before] < times[gaps]) & (times[gaps] < times[after])
                fillable &= span <= settings.max_gap + TIME_TOLERANCE
                w = np.where(fillable, (times[gaps] - times[before]) / np.where(span > 0, span, 1), 0)
                ww = w[:, None]
                joints[gaps, point] = (1 - ww) * joints[before, point] + ww * joints[after, point]
                confidence[gaps, point] = (1 - w) * confidence[before, point] + w * confidence[after, point]
            part = TOO_LONG[OPENPOSE137.group_of(point)]
            for f in gaps[~fillable]:
                unfilled.setdefault(int(f), f"{part} points missing too long")
    report.dropped.update(unfilled.values())
    kept[list(unfilled)] = False
    filled = holes[kept]
    counts = {part: int(filled[:, list(members)].sum()) for part, members in OPENPOSE137.groups.items()}
    report.points_filled = Counter({part: n for part, n in counts.items() if n})


def _resample(
    times: np.ndarray,
    joints: np.ndarray,
    confidence: np.ndarray,
    settings: TrackSettings,
    report: TrackReport,
) -> list[Segment]:
    """Kept frames → 15 fps segments, split where kept frames are more than ``max_gap`` apart."""
    steps = np.diff(times)
    typical = float(np.median(steps)) if len(steps) else 1.0 / POSE_FPS
    breaks = np.flatnonzero(steps > settings.max_gap + TIME_TOLERANCE) + 1
    report.splits_at_gaps = len(breaks)
    bridged = steps[(steps <= settings.max_gap + TIME_TOLERANCE) & (steps > 1.5 * typical)]
    report.gaps_bridged, report.gaps_bridged_seconds = len(bridged), float((bridged - typical).sum())
    segments = []
    for part in np.split(np.arange(len(times)), breaks):
        t = times[part]
        count = int(np.floor((t[-1] - t[0]) * POSE_FPS + TIME_TOLERANCE)) + 1
        if count < settings.min_frames:
            report.short_segments += 1
            report.short_segments_seconds += count / POSE_FPS
            continue
        grid = t[0] + np.arange(count) / POSE_FPS
        flat = joints[part].reshape(len(part), -1)
        out = np.stack([np.interp(grid, t, flat[:, c]) for c in range(flat.shape[1])], axis=1)
        conf = np.stack([np.interp(grid, t, confidence[part][:, j]) for j in range(confidence.shape[1])], 1)
        segments.append(Segment(float(t[0]), out.reshape(count, -1, 2), conf))
    return segments
