"""A built-in speaker exported as a recording a user could have: an mp4 (the skeleton drawn, the speech on
its audio track) and the OpenPose JSON folder a pose estimator would have written for it
(``docs/personalise.md``).

The speaker's intervals are laid end to end in time order (their ids sort so) into one recording at 15 fps:
frame k is at k / 15 s of the speech. ``recording.json`` lists where each interval starts, so a round trip
(``cospeech data import``) can be compared with the corpus frame by frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from cospeech.audio import SAMPLE_RATE, load_audio
from cospeech.data.importers.detections import PATS52_POINTS
from cospeech.data.importers.openpose import write_openpose
from cospeech.data.pats import PatsCorpus
from cospeech.data.poses import flat_to_joints
from cospeech.data.windows import POSE_FPS
from cospeech.errors import DataError
from cospeech.files import atomic_write
from cospeech.render.video import write_video
from cospeech.skeletons import OPENPOSE137, PATS52

KEYPOINTS_DIR = "keypoints"
MANIFEST = "recording.json"


@dataclass(frozen=True)
class Recording:
    folder: Path
    video: Path | None
    keypoints: Path
    frames: int
    seconds: float


def export_recording(
    root: str | Path,
    speaker: str,
    out: str | Path,
    *,
    video: bool = True,
    size: tuple[int, int] = (640, 360),
) -> Recording:
    """Write ``speaker`` of the PATS corpus ``root`` as a recording in ``out``: ``keypoints/`` (OpenPose
    BODY_25 + hands JSON, absolute pixels from ``pose/data``, ``pose/confidence``), ``<speaker>.mp4``
    (``size`` pixels, H.264 + AAC; skipped with ``video=False``), ``<speaker>.flac`` (the speech) and
    ``recording.json`` (each interval's id, split, first frame and frame count).

    Raises `DataError` for an unknown speaker or an interval without its speech file under ``raw/``."""
    corpus = PatsCorpus(root)
    corpus.check_speakers([speaker])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = sorted(
        (i, split) for split in ("train", "dev", "test") for i in corpus.interval_ids(speaker, split)
    )
    joints, confidence, speech, manifest = [], [], [], []
    frame = 0
    for interval_id, split in ids:
        arrays = corpus.read(speaker, interval_id, ["pose/data", "pose/confidence"])
        data = flat_to_joints(arrays["pose/data"])  # (T, 52, 2): neck absolute, offsets
        absolute = data + data[:, :1]
        absolute[:, 0] = data[:, 0]
        sound = corpus.raw_audio(speaker, interval_id)
        if sound is None:
            raise DataError(
                f"{corpus.root}: interval {interval_id} of {speaker} has no speech file under raw/"
            )
        waveform = load_audio(sound)
        span = round(len(data) / POSE_FPS * SAMPLE_RATE)  # the poses' span, so frames stay on k / 15 s
        speech.append(np.pad(waveform[:span], (0, max(0, span - len(waveform)))))
        joints.append(absolute)
        confidence.append(arrays["pose/confidence"][:, : PATS52.num_joints])
        manifest.append({"id": interval_id, "split": split, "first_frame": frame, "frames": len(data)})
        frame += len(data)
    all_joints, all_confidence = np.concatenate(joints), np.concatenate(confidence)
    waveform = np.concatenate(speech).astype(np.float32)
    keypoints = out / KEYPOINTS_DIR
    points = np.zeros((len(all_joints), OPENPOSE137.num_joints, 3))  # OpenPose's 137, undetected: zeros
    points[:, list(PATS52_POINTS), :2] = all_joints
    points[:, list(PATS52_POINTS), 2] = all_confidence
    write_openpose(keypoints, points, name=speaker)
    with atomic_write(out / f"{speaker}.flac") as tmp:
        soundfile.write(tmp, waveform, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    movie = None
    if video:
        offsets = all_joints - all_joints[:, :1]
        movie = write_video(
            out / f"{speaker}.mp4", [(speaker, offsets)], PATS52, audio=waveform, size=size, speaker=speaker
        )
    with atomic_write(out / MANIFEST) as tmp:
        payload = {
            "corpus": str(Path(root).resolve()),
            "speaker": speaker,
            "fps": POSE_FPS,
            "intervals": manifest,
        }
        tmp.write_text(json.dumps(payload, indent=1))
    return Recording(out, movie, keypoints, len(all_joints), len(all_joints) / POSE_FPS)
