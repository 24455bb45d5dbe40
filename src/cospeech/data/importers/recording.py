"""Import a recording as a corpus: keypoints (any `read_detections` format) + speech → PATS layout.

Steps (``docs/personalise.md``): read the detections; follow one person, clean and resample to 15 fps
(``track``); load the speech at 16 kHz from an audio file or the video's own track (``cospeech.audio``, PyAV
for video containers) with frame k's time as its offset into the speech; cut poses past the end of the
speech; split the usable frames in time order into train | gap | dev | gap | test (SDT's 3_2: 80 % train and
a gap of more than one window between splits, so no window shares frames across splits; dev and test 10 %
each, at least one window); optionally keep only the first ``max_train_minutes`` of train; write each piece
as a PATS interval (``pose/data`` neck absolute and offsets in pixels, ``pose/normalize`` by
`normalize_pose`, ``pose/confidence``, ``audio/log_mel_400`` and ``audio/log_mel_512`` at 16 kHz with their
frame rates, the speech as FLAC under ``raw/``), and a report of what was kept and dropped and why
(``import_<name>.json`` in the root, also returned).

The target root is created, or, if it already is a PATS root, the speaker is added to it (an existing
speaker of that name is refused unless ``overwrite``).
"""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from cospeech.audio import SAMPLE_RATE, load_audio, log_mel_400, log_mel_512
from cospeech.data.importers.detections import PATS52_POINTS, read_detections
from cospeech.data.importers.track import Segment, TrackSettings, clean_segments
from cospeech.data.pats import (
    INTERVALS_CSV,
    PROCESSED_DIR,
    RAW_DIR,
    IntervalRecord,
    normalize_pose,
    read_intervals_table,
    write_interval,
    write_intervals_table,
    write_missing_intervals,
)
from cospeech.data.poses import joints_to_flat
from cospeech.data.sdt import (
    CLIP_FRAMES,
    CLIP_TABLE,
    NPZ_DIR,
    SdtClip,
    SdtCorpus,
    clip_samples,
    write_sdt_corpus,
)
from cospeech.data.synth.corpus import FRAME_RATES, SDT_CLIP_HOP, SDT_SHOULDER_WIDTH
from cospeech.data.windows import POSE_FPS, WINDOW_SECONDS
from cospeech.errors import AudioError, ConfigError, DataError
from cospeech.files import atomic_write
from cospeech.skeletons import OPENPOSE137, SDT_MODEL_JOINTS

WINDOW_FRAMES = int(WINDOW_SECONDS * POSE_FPS)
MIN_PIECE = WINDOW_FRAMES + 1
"""Shortest interval written: one window needs 65 frames (windows start in ``range(0, n − 64, hop)``)."""
SPLIT_GAP = WINDOW_FRAMES + 1
"""Frames left out between train and dev and between dev and test (SDT: 13 × 5 = 65)."""
TRAIN_SHARE, HELD_OUT_SHARE = 0.8, 0.1
MISMATCH_SECONDS, MISMATCH_SHARE = 1.0, 0.1
"""Keypoints and speech whose ends differ by more than both of these (s, share of the longer) get a warning:
most likely a wrong frame rate or files of two recordings."""
SPEECH_SLACK = 0.01
"""Share of a frame a pose frame may end after the speech (sample rounding of the speech's length)."""
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
REPORT_PREFIX = "import_"
FORMATS = ("pats", "sdt")
SDT_POINTS = tuple(sorted({OPENPOSE137.index("Neck"), *SDT_MODEL_JOINTS}))
"""The ``openpose137`` points an SDT clip must have detected: SDT's 121 and the neck they hang from."""


@dataclass(frozen=True)
class ImportResult:
    root: Path
    speaker: str
    report: dict[str, Any]
    report_path: Path


def import_recording(
    keypoints: str | Path,
    out: str | Path,
    name: str,
    *,
    audio: str | Path | None = None,
    video: str | Path | None = None,
    fps: float | None = None,
    max_train_minutes: float | None = None,
    settings: TrackSettings | None = None,
    overwrite: bool = False,
    layout: str = "pats",
) -> ImportResult:
    """Write the recording (``keypoints`` + speech from ``audio`` or ``video``) as speaker ``name`` of the
    PATS root ``out``.

    Parameters
    ----------
    keypoints : OpenPose JSON folder or COCO-WholeBody JSON file/folder (`read_detections`).
    out : PATS root to create, or an existing one to add the speaker to.
    name : speaker name: lower-case letters, digits and ``_``, starting with a letter.
    audio, video : exactly one: the speech (WAV/FLAC/MP3…) or the video whose audio track holds it.
    fps : frame rate of the keypoint files; default: the video's, else an error.
    max_train_minutes : keep only the first this many minutes of the training split.
    layout : ``"pats"`` (PATS intervals of the ``pats52`` joints) or ``"sdt"`` (SDT clips of OpenPose's 137
        points, `cospeech.data.sdt`; the face must then be in the keypoints).

    Raises
    ------
    ConfigError : a bad name, both or neither of audio/video, a taken speaker name.
    AudioError : the speech cannot be read (a video without an audio track, …).
    DataError : unreadable keypoints, no usable frames, or too little for train, dev and test.
    """
    if not NAME.match(name):
        raise ConfigError(f"--name {name!r}: use lower-case letters, digits and _, starting with a letter")
    if (audio is None) == (video is None):
        raise ConfigError("give the speech as exactly one of --audio FILE or --video FILE")
    if max_train_minutes is not None and not max_train_minutes > 0:
        raise ConfigError(f"--minutes {max_train_minutes}: must be > 0")
    if layout not in FORMATS:
        raise ConfigError(f"--format {layout!r}: expected one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another --out")
    existing = (out / INTERVALS_CSV).is_file() if layout == "pats" else SdtCorpus.looks_like(out)
    if out.exists() and not existing and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not a {layout.upper()} root; choose another --out")
    previous = read_intervals_table(out) if existing and layout == "pats" else []
    taken = any(r.speaker == name for r in previous) or (
        layout == "sdt" and (out / name / CLIP_TABLE).exists()
    )
    if taken and not overwrite:
        raise ConfigError(f"{out}: already has speaker {name!r}; choose another --name or pass --overwrite")
    speech_path = Path(audio if audio is not None else video)
    try:  # fails first (e.g. a video without audio), before any work
        waveform = load_audio(speech_path)
    except AudioError as err:
        raise AudioError(f"{err} (the speech: --{'audio' if audio is not None else 'video'})") from None
    if fps is None and video is not None:
        fps = video_frame_rate(Path(video))
    detections = read_detections(keypoints, fps=fps)
    used = PATS52_POINTS if layout == "pats" else SDT_POINTS
    speech_seconds = len(waveform) / SAMPLE_RATE
    beyond = 0
    try:  # the cleaning and splitting errors name the keypoints they are about, and the speech if it cut them
        segments, track = clean_segments(detections, settings or TrackSettings(), used)
        segments, beyond = _within_speech(segments, speech_seconds)
        pieces, split_report = split_in_time(segments, max_train_minutes)
    except DataError as err:
        cut = f"; {beyond} frame(s) after the end of the speech ({speech_path}, {speech_seconds:.1f} s) cut"
        raise DataError(f"{keypoints}: {err}{cut if beyond else ''}") from None
    keypoints_end = _end_time(detections.times)

    report: dict[str, Any] = {
        "speaker": name,
        "format": layout,
        "keypoints": str(keypoints),
        "speech": {"file": str(speech_path), "seconds": round(speech_seconds, 3)},
        "keypoints_end_seconds": round(keypoints_end, 3),
        **track.as_dict(),
        "frames_beyond_speech": beyond,
        "max_train_minutes": max_train_minutes,
        **split_report,
    }
    # a new root appears complete or not at all; an existing one gets its files one by one, the table last
    out.parent.mkdir(parents=True, exist_ok=True)
    with nullcontext(out) if existing else atomic_write(out) as root:
        root.mkdir(exist_ok=True)
        if layout == "pats":
            report["intervals"] = _write_pats(root, name, pieces, waveform, speech_path.name, previous)
            if not existing:
                write_missing_intervals(root, [])
        else:
            report["intervals"] = _write_sdt(root, name, pieces, waveform, speech_path.stem)
        report_path = root / f"{REPORT_PREFIX}{name}.json"
        with atomic_write(report_path) as tmp:
            tmp.write_text(json.dumps(report, indent=1))
    return ImportResult(out, name, report, out / report_path.name)


Piece = tuple[str, float, np.ndarray, np.ndarray]
"""(split, start s, joints (T, 137, 2) px, confidence (T, 137)) of one stretch written."""


def _write_pats(
    root: Path, name: str, pieces: list[Piece], waveform: np.ndarray, video_fn: str,
    previous: list[IntervalRecord],
) -> list[dict[str, Any]]:  # fmt: skip
    """One PATS interval per piece (``pats52`` joints, features, speech under ``raw/``), then the table
    with ``previous``'s other speakers; a replaced speaker's leftover files removed last."""
    records = [r for r in previous if r.speaker != name]
    raw = root / RAW_DIR / f"{name}_cropped"
    raw.mkdir(parents=True, exist_ok=True)
    written = []
    for k, (split, start, joints, confidence) in enumerate(pieces):
        interval_id = f"{name}_{k:04d}"
        first = round(start * SAMPLE_RATE)
        speech = waveform[first : first + round(len(joints) / POSE_FPS * SAMPLE_RATE)]
        arrays = interval_arrays(joints[:, list(PATS52_POINTS)], confidence[:, list(PATS52_POINTS)], speech)
        write_interval(root, name, interval_id, arrays, frame_rates=FRAME_RATES)
        with atomic_write(raw / f"{interval_id}.flac") as tmp:
            soundfile.write(tmp, speech, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
        seconds = len(joints) / POSE_FPS
        records.append(
            IntervalRecord(
                interval_id, name, split, seconds, _clock(start), _clock(start + seconds), video_fn=video_fn
            )
        )
        written.append(
            {"id": interval_id, "split": split, "start": round(start, 3), "seconds": round(seconds, 3)}
        )
    write_intervals_table(root, records)
    kept = {f"{w['id']}{suffix}" for w in written for suffix in (".h5", ".flac")}
    for folder in (root / PROCESSED_DIR / name, raw):  # a replaced speaker's files the table dropped
        for stale in [p for p in folder.iterdir() if p.name not in kept]:
            stale.unlink()
    return written


def _write_sdt(
    root: Path, name: str, pieces: list[Piece], waveform: np.ndarray, video_fn: str
) -> list[dict[str, Any]]:
    """SDT clips of the pieces, as SDT's ``2_3`` and ``3_1`` make them (notes SDT §1.7): x, y rescaled so
    the recording's mean shoulder width is 331.085 px (undetected points stay at the origin), then every
    64-frame window at stride 5 with its 68,266 samples of speech, in its piece's split."""
    right, left = OPENPOSE137.index("RShoulder"), OPENPOSE137.index("LShoulder")
    widths = np.concatenate([np.linalg.norm(j[:, right] - j[:, left], axis=-1) for _, _, j, _ in pieces])
    scale = SDT_SHOULDER_WIDTH / float(widths.mean())
    samples = clip_samples(CLIP_FRAMES)
    clips, written = [], []
    for split, start, joints, confidence in pieces:
        seen = confidence[..., None] > 0
        pose = np.concatenate([np.where(seen, joints * scale, 0.0), confidence[..., None]], -1)  # (T, 137, 3)
        pose = pose.transpose(0, 2, 1)  # (T, 3, 137)
        first_frame = round(start * POSE_FPS)
        count = 0
        for offset in range(0, len(pose) - CLIP_FRAMES + 1, SDT_CLIP_HOP):
            first = round(start * SAMPLE_RATE) + int(offset * SAMPLE_RATE / POSE_FPS)
            audio = waveform[first : first + samples]
            audio = np.pad(audio, (0, samples - len(audio)))
            clips.append(
                SdtClip(
                    name, split, video_fn, first_frame + offset, pose[offset : offset + CLIP_FRAMES], audio
                )
            )
            count += 1
        written.append({"split": split, "start": round(start, 3), "seconds": round(len(pose) / POSE_FPS, 3),
                        "clips": count})  # fmt: skip
    folder = root / name / NPZ_DIR
    write_sdt_corpus(root, clips)
    kept = {f"{clip.name}.npz" for clip in clips}
    for stale in [p for p in folder.iterdir() if p.name not in kept]:  # a replaced speaker's old clips
        stale.unlink()
    return written


def interval_arrays(joints: np.ndarray, confidence: np.ndarray, speech: np.ndarray) -> dict[str, np.ndarray]:
    """PATS arrays of one interval from absolute joints (T, 52, 2) px, confidence (T, 52) and the 16 kHz
    speech of the same span."""
    data = joints - joints[:, :1]  # offsets from the neck …
    data[:, 0] = joints[:, 0]  # … which stays absolute
    return {
        "pose/data": joints_to_flat(data),
        "pose/normalize": joints_to_flat(normalize_pose(data)),
        "pose/confidence": np.concatenate([confidence, confidence], axis=1),
        "audio/log_mel_400": log_mel_400(speech, sr=SAMPLE_RATE),
        "audio/log_mel_512": log_mel_512(speech, sr=SAMPLE_RATE),
    }


def split_in_time(
    segments: list[Segment], max_train_minutes: float | None = None
) -> tuple[list[tuple[str, float, np.ndarray, np.ndarray]], dict[str, Any]]:
    """Cut ``segments`` (time order) into train | gap | dev | gap | test on their concatenated frames.

    Dev and test get 10 % each (at least `MIN_PIECE` frames), the gaps `SPLIT_GAP` frames, train the rest
    (at least `MIN_PIECE`). Pieces shorter than `MIN_PIECE` are left out (no window fits). Returns the
    pieces ``(split, start s, joints, confidence)`` in time order and the report's split section.

    Raises `DataError` when the usable frames cannot hold all three splits."""
    total = sum(s.frames for s in segments)
    held = max(MIN_PIECE, round(HELD_OUT_SHARE * total))
    need = MIN_PIECE + 2 * SPLIT_GAP + 2 * held
    if total < need:
        raise DataError(
            f"only {total / POSE_FPS:.1f} s of usable keypoints (after dropping frames and gaps); train, "
            f"dev and test need at least {need / POSE_FPS:.1f} s"
        )
    train_end = total - 2 * held - 2 * SPLIT_GAP
    bounds = [
        ("train", 0, train_end),
        ("dev", train_end + SPLIT_GAP, train_end + SPLIT_GAP + held),
        ("test", total - held, total),
    ]
    pieces = []
    short = 0
    offset = 0
    for segment in segments:
        for split, low, high in bounds:
            a, b = max(low, offset) - offset, min(high, offset + segment.frames) - offset
            if b - a >= MIN_PIECE:
                start = segment.start + a / POSE_FPS
                pieces.append((split, start, segment.joints[a:b], segment.confidence[a:b]))
            elif b > a:
                short += b - a
        offset += segment.frames
    beyond_minutes = 0
    if max_train_minutes is not None:  # the first minutes of train; the rest is left out
        budget = round(max_train_minutes * 60 * POSE_FPS)
        trimmed = []
        for split, start, joints, confidence in pieces:
            keep = min(len(joints), budget) if split == "train" else len(joints)
            if keep < MIN_PIECE:
                keep = 0
            beyond_minutes += len(joints) - keep
            if split == "train":
                budget -= keep
            if keep:
                trimmed.append((split, start, joints[:keep], confidence[:keep]))
        pieces = trimmed
    seconds = {s: round(sum(len(p[2]) for p in pieces if p[0] == s) / POSE_FPS, 3) for s, _, _ in bounds}
    if not seconds["train"]:
        raise DataError(f"--minutes {max_train_minutes}: less than one training window ({MIN_PIECE} frames)")
    return pieces, {
        "usable_seconds": round(total / POSE_FPS, 3),
        "split_seconds": seconds,
        "split_gap_seconds": round(2 * SPLIT_GAP / POSE_FPS, 3),
        "pieces_too_short_seconds": round(short / POSE_FPS, 3),
        "train_beyond_minutes_seconds": round(beyond_minutes / POSE_FPS, 3),
    }


def video_frame_rate(path: Path) -> float:
    """Average frame rate of the first video stream of ``path`` (PyAV); `DataError` without one."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: no video stream to read the frame rate from; give --fps")
            rate = container.streams.video[0].average_rate
    except av.error.FFmpegError as exc:
        raise DataError(f"{path}: not a readable video ({exc})") from None
    if not rate:
        raise DataError(f"{path}: the video does not state its frame rate; give --fps")
    return float(rate)


def _within_speech(segments: list[Segment], seconds: float) -> tuple[list[Segment], int]:
    """Segments cut where their frames end after the speech does; how many frames were cut."""
    kept, cut = [], 0
    for s in segments:
        frames = min(s.frames, max(0, int(np.floor((seconds - s.start) * POSE_FPS + SPEECH_SLACK))))
        cut += s.frames - frames
        if frames:
            kept.append(Segment(s.start, s.joints[:frames], s.confidence[:frames]))
    return kept, cut


def _end_time(times: np.ndarray) -> float:
    """Seconds from the speech's start to the end of the last keypoint frame (its time plus one frame)."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    return float(times[-1]) + step


def _clock(seconds: float) -> str:
    """``H:MM:SS.ffffff``, PATS' ``start_time`` form."""
    whole, micro = divmod(round(seconds * 1e6), 1_000_000)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}.{micro:06d}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The import report as a few printed lines: what was read, kept, dropped and why, and the splits."""
    dropped = {k: v for k, v in report["frames_dropped"].items() if v}
    gaps = report["gaps_interpolated"]
    short = report["segments_too_short"]
    splits = report["split_seconds"]
    speech, end = report["speech"]["seconds"], report["keypoints_end_seconds"]
    lines = [
        f"read {report['frames_read']} frames ({report['source']}, {report['input_fps']:g} fps) up to "
        f"{end:.1f} s, speech {speech:.1f} s",
        "dropped frames: " + (", ".join(f"{k} {v}" for k, v in dropped.items()) or "none"),
        "undetected points interpolated: "
        + (", ".join(f"{k} {v}" for k, v in report["points_interpolated"].items()) or "none"),
        f"gaps interpolated: {gaps['count']} ({gaps['seconds']:.2f} s); recording split at "
        f"{report['splits_at_long_gaps']} long gap(s); {short['count']} piece(s) too short for a window "
        f"({short['seconds']:.1f} s); {report['frames_beyond_speech']} frame(s) after the speech ends",
        f"usable {report['usable_seconds']:.1f} s → train {splits['train']:.1f} s, "
        f"dev {splits['dev']:.1f} s, test {splits['test']:.1f} s (gaps between splits "
        f"{report['split_gap_seconds']:.1f} s, left out "
        f"{report['pieces_too_short_seconds'] + report['train_beyond_minutes_seconds']:.1f} s more)",
    ]
    if abs(speech - end) > max(MISMATCH_SECONDS, MISMATCH_SHARE * max(speech, end)):
        lines.append(
            f"warning: the keypoints end at {end:.1f} s but the speech at {speech:.1f} s: is the frame rate "
            f"right (frame k is at k / {report['input_fps']:g} s; --fps) and are they of the same recording?"
        )
    return lines
