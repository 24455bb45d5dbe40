"""Output files of generated gestures: npz, OpenPose-style JSON, CSV and mp4, read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest
from inference_testdata import synthetic_speech

from cospeech.audio import SAMPLE_RATE
from cospeech.errors import ConfigError
from cospeech.files import OutputError
from cospeech.inference import (
    GeneratedGestures,
    output_paths,
    write_csv,
    write_gestures,
    write_npz,
    write_openpose_json,
)
from cospeech.skeletons import PATS48

FRAMES = 63  # 4.2 s at 15 fps


@pytest.fixture(scope="module")
def gestures(pipe) -> GeneratedGestures:
    return pipe.generate(synthetic_speech(4.2, seed=5), sample_rate=SAMPLE_RATE, speaker="ben")


def test_npz_holds_poses_and_metadata_without_pickles(gestures, tmp_path):
    path = write_npz(gestures, tmp_path / "clip.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["fps", "joint_names", "poses", "skeleton", "speaker"]
        np.testing.assert_array_equal(npz["poses"], gestures.poses)
        assert npz["poses"].shape == (FRAMES, 48, 2)
        assert int(npz["fps"]) == 15 and str(npz["skeleton"]) == "pats48" and str(npz["speaker"]) == "ben"
        assert tuple(npz["joint_names"]) == PATS48.joint_names


def test_csv_has_one_row_per_joint_per_frame(gestures, tmp_path):
    path = write_csv(gestures, tmp_path / "clip.csv")
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["frame", "time", "joint", "x", "y"]
    assert len(rows) == 1 + FRAMES * 48
    frame, time, joint, x, y = rows[1 + 10 * 48 + PATS48.index("LWrist")]
    assert (frame, time, joint) == ("10", "0.6667", "LWrist")
    np.testing.assert_allclose([float(x), float(y)], gestures.poses[10, PATS48.index("LWrist")], atol=1e-3)


def test_openpose_json_places_joints_around_a_fixed_neck(gestures, tmp_path):
    directory = write_openpose_json(gestures, tmp_path / "clip_keypoints")
    files = sorted(directory.iterdir())
    assert len(files) == FRAMES
    assert files[0].name == "clip_000000000000_keypoints.json"
    person = json.loads(files[10].read_text())["people"][0]
    body = np.array(person["pose_keypoints_2d"]).reshape(25, 3)
    left = np.array(person["hand_left_keypoints_2d"]).reshape(21, 3)
    right = np.array(person["hand_right_keypoints_2d"]).reshape(21, 3)
    neck = np.array([640.0, 200.0])
    np.testing.assert_allclose(body[1], [*neck, 1.0])
    body_25 = {"RShoulder": 2, "RElbow": 3, "RWrist": 4, "LShoulder": 5, "LElbow": 6, "LWrist": 7}
    for name, index in body_25.items():
        np.testing.assert_allclose(body[index, :2], neck + gestures.poses[10, PATS48.index(name)], atol=1e-3)
        assert body[index, 2] == 1.0
    not_predicted = [0, *range(8, 25)]  # nose, hips, legs, eyes, ears, feet
    assert (body[not_predicted] == 0).all()
    np.testing.assert_allclose(left[0, :2], neck + gestures.poses[10, PATS48.index("LHandRoot")], atol=1e-3)
    np.testing.assert_allclose(left[20, :2], neck + gestures.poses[10, PATS48.index("LLittle4")], atol=1e-3)
    np.testing.assert_allclose(right[5, :2], neck + gestures.poses[10, PATS48.index("RIndex1")], atol=1e-3)
    assert (left[:, 2] == 1).all() and (right[:, 2] == 1).all()
    assert person["face_keypoints_2d"] == []


def test_json_directory_is_replaced_whole_but_never_over_other_files(gestures, tmp_path):
    directory = tmp_path / "talk_keypoints"
    write_openpose_json(gestures, directory)
    (directory / "clip_000000000999_keypoints.json").write_text("{}")  # a stale frame from a longer clip
    write_openpose_json(gestures, directory)
    assert len(list(directory.iterdir())) == FRAMES
    assert [p.name for p in tmp_path.iterdir()] == ["talk_keypoints"]  # no temporary left behind
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(OutputError, match="photos: exists and is not a keypoints directory"):
        write_openpose_json(gestures, precious)


def test_mp4_has_one_video_and_one_audio_stream_of_the_speech_duration(gestures, tmp_path):
    [path] = write_gestures(gestures, tmp_path / "clip", ["mp4"])
    assert path == tmp_path / "clip.mp4"
    with av.open(str(path)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        frames = sum(1 for _ in container.decode(video=0))
        assert frames == FRAMES
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
    assert video_seconds == pytest.approx(gestures.duration, abs=1 / 15)
    assert audio_seconds == pytest.approx(video_seconds, abs=0.05)


def test_output_paths_append_suffixes_and_reject_unknown_formats(tmp_path):
    paths = output_paths(tmp_path / "talk.v2", ["mp4", "npz", "json", "csv"])
    assert paths == {
        "npz": tmp_path / "talk.v2.npz",
        "json": tmp_path / "talk.v2_keypoints",
        "csv": tmp_path / "talk.v2.csv",
        "mp4": tmp_path / "talk.v2.mp4",
    }
    with pytest.raises(ConfigError, match="unknown output format"):
        output_paths(Path("x"), ["gif"])
