"""Keypoint readers and cleaning on small files made here: OpenPose BODY_25 and COCO 18 folders,
COCO-WholeBody video and per-frame JSON; several people per frame, gaps, other frame rates, bad frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cospeech.data.importers import read_detections
from cospeech.data.importers.detections import PATS52_POINTS
from cospeech.data.importers.track import clean_segments
from cospeech.errors import DataError
from cospeech.skeletons import PATS52

# OpenPose's documented body layouts (output_format.md), written out independently of the reader's tables.
BODY25 = {"Nose": 0, "Neck": 1, "RShoulder": 2, "RElbow": 3, "RWrist": 4, "LShoulder": 5, "LElbow": 6,
          "LWrist": 7, "REye": 15, "LEye": 16}  # fmt: skip
COCO18 = {**BODY25, "REye": 14, "LEye": 15}
# COCO-WholeBody (Jin et al. 2020): body 0–16, feet 17–22, face 23–90, left hand 91–111, right 112–132.
WHOLEBODY = {"Nose": 0, "LEye": 1, "REye": 2, "LShoulder": 5, "RShoulder": 6, "LElbow": 7, "RElbow": 8,
             "LWrist": 9, "RWrist": 10}  # fmt: skip
BODY_NAMES = PATS52.joint_names[:10]
HAND = 21
P = list(PATS52_POINTS)  # the pats52 joints among OpenPose's 137 points the readers return


def person(t: np.ndarray, scale: float = 1.0, origin: tuple[float, float] = (400.0, 200.0)) -> np.ndarray:
    """(T, 52, 3): a smoothly moving upper body (pixels) with confidence 0.9, at time(s) ``t``."""
    rng = np.random.default_rng(0)
    template = rng.uniform(-60, 60, (PATS52.num_joints, 2))
    template[0] = 0
    template[PATS52.index("RShoulder")] = (-50, 5)
    template[PATS52.index("LShoulder")] = (50, 5)
    phase = rng.uniform(0, 2 * np.pi, PATS52.num_joints)
    t = np.asarray(t, dtype=np.float64)[:, None]
    wave = 6 * np.stack([np.sin(1.3 * t + phase), np.cos(0.9 * t + phase)], -1)
    wave[:, [0, 1, 4]] = 0  # neck and shoulders still: a steady shoulder width
    xy = scale * (template + wave) + np.asarray(origin)
    return np.concatenate([xy, np.full((*xy.shape[:2], 1), 0.9)], -1)


def openpose_person(joints: np.ndarray, layout: dict[str, int], points: int) -> dict:
    body = np.zeros((points, 3))
    for name, index in layout.items():
        body[index] = joints[BODY_NAMES.index(name)]
    return {
        "person_id": [-1],
        "pose_keypoints_2d": body.ravel().tolist(),
        "hand_left_keypoints_2d": joints[10 : 10 + HAND].ravel().tolist(),
        "hand_right_keypoints_2d": joints[10 + HAND :].ravel().tolist(),
        "face_keypoints_2d": [],
    }


def write_openpose(folder: Path, frames: list[list[np.ndarray]], layout=BODY25, points=25) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, people in enumerate(frames):
        data = {"version": 1.3, "people": [openpose_person(p, layout, points) for p in people]}
        (folder / f"talk_{k:012d}_keypoints.json").write_text(json.dumps(data))
    return folder


def wholebody_person(joints: np.ndarray) -> dict:
    points = np.zeros((133, 3))
    for name, index in WHOLEBODY.items():
        points[index] = joints[BODY_NAMES.index(name)]
    points[91:112] = joints[10 : 10 + HAND]
    points[112:133] = joints[10 + HAND :]
    return {
        "keypoints": points[:, :2].tolist(),
        "keypoint_scores": points[:, 2].tolist(),
        "bbox": [[0, 0, 1, 1]],
    }


def test_openpose_two_people_at_30_fps_follows_the_biggest_and_resamples_to_15(tmp_path):
    t = np.arange(300) / 30.0  # 10 s at 30 fps
    speaker, other = person(t), person(t, scale=0.5, origin=(900.0, 400.0))
    frames = [[speaker[k], other[k]] if k % 2 else [other[k], speaker[k]] for k in range(len(t))]
    detections = read_detections(write_openpose(tmp_path / "op", frames), fps=30)
    assert detections.source == "openpose BODY_25" and len(detections.frames[0]) == 2
    (segment,), report = clean_segments(detections)
    assert report.input_fps == pytest.approx(30) and report.people_per_frame == {2: 300}
    assert segment.frames == 150  # every 1/15 s from 0 to 9.93 s
    np.testing.assert_allclose(segment.joints[:, P], speaker[::2, :, :2], atol=1e-6)  # the big one, always
    np.testing.assert_allclose(segment.confidence[:, P], 0.9)
    assert not segment.confidence[:, 25:95].any()  # no face in these files: undetected


def test_openpose_coco18_maps_the_eyes_from_their_own_indices(tmp_path):
    t = np.arange(80) / 15.0
    speaker = person(t)
    frames = [[speaker[k]] for k in range(len(t))]
    detections = read_detections(write_openpose(tmp_path / "coco", frames, COCO18, 18), fps=15)
    assert detections.source == "openpose COCO"
    np.testing.assert_allclose(detections.frames[5][0][P], speaker[5])


def test_short_gaps_are_interpolated_and_long_gaps_split_the_recording(tmp_path):
    t = np.arange(600) / 30.0  # 20 s
    speaker = person(t)
    frames: list[list[np.ndarray]] = [[speaker[k]] for k in range(len(t))]
    for k in range(100, 106):  # 0.2 s without anyone: bridged
        frames[k] = []
    for k in range(300, 360):  # 2 s: the recording splits
        frames[k] = []
    frames[150][0] = frames[150][0].copy()
    frames[150][0][PATS52.index("RWrist")] = (0, 0, 0)  # an undetected body point, as OpenPose writes it
    frames[160][0] = frames[160][0].copy()
    frames[160][0][:, 2] = 0.05  # a low-confidence frame
    frames[170][0] = frames[170][0].copy()
    frames[170][0][PATS52.index("LShoulder"), 0] += 80  # a mis-detection: shoulders 1.8x as wide
    detections = read_detections(write_openpose(tmp_path / "gaps", frames), fps=30)
    segments, report = clean_segments(detections)
    assert [s.start for s in segments] == [0.0, 12.0]
    assert report.splits_at_gaps == 1
    assert report.gaps_bridged == 4 and report.gaps_bridged_seconds == pytest.approx(9 / 30)  # 6 + 3 × 1
    assert report.dropped == {
        "no person detected": 66,
        "undetected points": 1,
        "low confidence": 1,
        "outlier (shoulder width)": 1,
    }
    first = segments[0]
    assert first.frames == 150  # 0 … 9.93 s: the last kept frame before the long gap is at 9.967 s
    np.testing.assert_allclose(
        first.joints[:50, P], speaker[:100:2, :, :2], atol=1e-6
    )  # before any gap: exact
    np.testing.assert_allclose(first.joints[:, P], speaker[:300:2, :, :2], atol=0.1)  # linear across 0.23 s
    assert np.isfinite(first.joints).all() and (first.joints[:, P] > 3).all()  # no zeros stored as positions


def test_a_person_lost_among_others_is_not_swapped_for_them(tmp_path):
    t = np.arange(90) / 15.0
    speaker, other = person(t), person(t, origin=(1000.0, 200.0))
    frames = [[speaker[k], other[k]] for k in range(len(t))]
    for k in range(40, 43):  # the speaker is missed; only the other person is found
        frames[k] = [other[k]]
    segments, report = clean_segments(read_detections(write_openpose(tmp_path / "op", frames), fps=15))
    assert report.dropped["followed person not found (others only)"] == 3
    (segment,) = segments
    assert np.abs(segment.joints[:, P[0], 0] - 400).max() < 50  # always near the speaker's neck


def test_wholebody_video_json_and_per_frame_files(tmp_path):
    t = np.arange(150) / 25.0
    speaker = person(t)
    frames = [{"frame_id": k, "instances": [wholebody_person(speaker[k])]} for k in range(len(t))]
    video = tmp_path / "talk.json"
    video.write_text(json.dumps(frames))
    detections = read_detections(video, fps=25)
    assert detections.source == "coco-wholebody 133"
    np.testing.assert_allclose(detections.times, t)
    expected = speaker[7].copy()
    expected[0, :2] = (
        speaker[7, PATS52.index("RShoulder"), :2] + speaker[7, PATS52.index("LShoulder"), :2]
    ) / 2
    np.testing.assert_allclose(detections.frames[7][0][P], expected)  # the neck: the shoulders' midpoint
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(len(t)):
        (folder / f"img_{k:05d}.json").write_text(json.dumps([wholebody_person(speaker[k])]))
    per_frame = read_detections(folder, fps=25)
    np.testing.assert_allclose(per_frame.frames[7][0][P], expected)
    (segment,), _ = clean_segments(per_frame)
    assert segment.frames == 90  # 25 → 15 fps over 5.96 s
    alone = tmp_path / "predictions"
    alone.mkdir()
    video.rename(alone / video.name)  # MMPose's pred_out_dir holding the one video file
    np.testing.assert_allclose(read_detections(alone, fps=25).frames[7][0][P], expected)
    np.testing.assert_allclose(segment.joints[::3, P[1:]], speaker[::5, 1:, :2])  # where the two clocks meet


def test_missing_frame_rate_and_malformed_files_are_one_line_errors(tmp_path):
    frames = [[person(np.zeros(1))[0]]] * 3
    folder = write_openpose(tmp_path / "op", frames)
    with pytest.raises(DataError, match="carry no frame times; give the recording's frame rate"):
        read_detections(folder)
    (folder / "talk_000000000003_keypoints.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}')
    with pytest.raises(DataError, match="has 1 points; expected 25 .BODY_25. or 18 .COCO."):
        read_detections(folder, fps=15)
    with pytest.raises(DataError, match="no keypoints found"):
        read_detections(tmp_path)
    with pytest.raises(DataError, match="no usable frame"):
        clean_segments(read_detections(write_openpose(tmp_path / "empty", [[], []]), fps=15))
    for people, problem in (([1], "a person that is not an object"), ([{"pose_keypoints_2d": ["a"] * 75}],
                            "pose_keypoints_2d is not a flat list")):  # fmt: skip
        (folder / "talk_000000000003_keypoints.json").write_text(json.dumps({"people": people}))
        with pytest.raises(DataError, match=f"talk_000000000003_keypoints.json: {problem}"):
            read_detections(folder, fps=15)
    good = {"frame_id": 0, "instances": [wholebody_person(person(np.zeros(1))[0])]}
    for frame, problem in (({"frame_id": "x", "instances": []}, "a frame_id that is not a whole frame"),
                           ({"frame_id": 1, "instances": None}, "expected a list of people")):  # fmt: skip
        (tmp_path / "video.json").write_text(json.dumps([good, frame]))
        with pytest.raises(DataError, match=f"video.json: {problem}"):
            read_detections(tmp_path / "video.json", fps=15)


def with_face(body: np.ndarray) -> np.ndarray:
    """(T, 137, 3) OpenPose points: ``body``'s pats52 joints and a 70-point face around the nose."""
    points = np.zeros((len(body), 137, 3))
    points[:, P] = body
    ring = np.stack([np.cos(np.arange(70)), np.sin(np.arange(70))], -1) * 20  # (70, 2)
    points[:, 25:95, :2] = body[:, [PATS52.index("Nose")], :2] + ring
    points[:, 25:95, 2] = 0.8
    return points


def test_sdt_layout_takes_the_face_and_cuts_64_frame_clips(tmp_path):
    import soundfile

    from cospeech.audio import SAMPLE_RATE
    from cospeech.data.importers.recording import import_recording
    from cospeech.data.sdt import SdtCorpus

    t = np.arange(40 * 15) / 15.0  # 40 s at 15 fps
    points = with_face(person(t))
    folder = tmp_path / "op"
    folder.mkdir()
    for k, frame in enumerate(points):
        entry = openpose_person(frame[P], BODY25, 25)
        entry["face_keypoints_2d"] = frame[25:95].ravel().tolist()
        (folder / f"talk_{k:012d}_keypoints.json").write_text(json.dumps({"people": [entry]}))
    speech = tmp_path / "talk.wav"
    soundfile.write(speech, np.random.default_rng(0).uniform(-0.1, 0.1, 40 * SAMPLE_RATE), SAMPLE_RATE)
    result = import_recording(folder, tmp_path / "sdt", "maria", audio=speech, fps=15, layout="sdt")
    corpus = SdtCorpus(tmp_path / "sdt")
    ids = {split: corpus.interval_ids("maria", split) for split in ("train", "dev", "test")}
    pieces = {p["split"]: p for p in result.report["intervals"]}
    for split, clips in ids.items():
        frames = round(pieces[split]["seconds"] * 15)
        assert len(clips) == pieces[split]["clips"] == len(range(0, frames - 64 + 1, 5)) > 0
    clip = corpus.read("maria", ids["train"][1], ["pose"])["pose"]  # (64, 274): x then y of 137 points
    scale = 331.0850066245443 / 100.0  # the shoulders are 100 px apart in `person`
    xy = np.stack([clip[:, :137], clip[:, 137:]], -1)
    np.testing.assert_allclose(xy[:, P], points[5:69, P, :2] * scale, rtol=1e-5)  # the second clip: frame 5
    np.testing.assert_allclose(xy[:, 25:95], points[5:69, 25:95, :2] * scale, rtol=1e-5)
    assert (xy[:, 8] == 0).all()  # MidHip: not in the keypoints, written as undetected
    assert len(corpus.waveform("maria", ids["train"][0])) == 68_266
    with pytest.raises(DataError, match="no usable frame"):  # without the face, SDT has no usable frame
        no_face = write_openpose(tmp_path / "no_face", [[p] for p in person(t)])
        import_recording(no_face, tmp_path / "sdt2", "maria", audio=speech, fps=15, layout="sdt")


def test_wholebody_face_and_feet_land_in_openpose_slots(tmp_path):
    face = np.random.default_rng(1).uniform(300, 500, (68, 2))
    points = np.zeros((133, 3))
    points[:, 2] = 0.9
    points[:, :2] = np.random.default_rng(2).uniform(300, 500, (133, 2))
    points[23:91, :2] = face
    (tmp_path / "img_00001.json").write_text(
        json.dumps([{"keypoints": points[:, :2].tolist(), "keypoint_scores": points[:, 2].tolist()}])
    )
    (person137,) = read_detections(tmp_path, fps=25).frames[0]
    np.testing.assert_allclose(person137[25:93, :2], face)  # face 0–67
    np.testing.assert_allclose(person137[93, :2], face[36:42].mean(axis=0))  # right pupil: the eye's centre
    np.testing.assert_allclose(person137[19:25], points[17:23])  # feet in BODY_25's order
    np.testing.assert_allclose(person137[8, :2], points[[11, 12], :2].mean(axis=0))  # MidHip
