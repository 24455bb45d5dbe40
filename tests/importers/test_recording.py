"""A built-in speaker exported as a recording (mp4 with speech + OpenPose JSON) and imported back as a PATS
speaker: the poses come back, splits are in time order with gaps, the report says what happened."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from cospeech.audio import SAMPLE_RATE, load_audio
from cospeech.cli.main import main
from cospeech.data.importers.recording import SPLIT_GAP, import_recording
from cospeech.data.pats import PatsCorpus
from cospeech.errors import ConfigError, DataError
from cospeech.render.recording import MANIFEST, export_recording
from cospeech.render.video import write_video
from cospeech.skeletons import PATS52


@pytest.fixture(scope="module")
def recording(synth_root, tmp_path_factory):
    return export_recording(synth_root, "ben", tmp_path_factory.mktemp("recording"), size=(160, 96))


def test_exported_keypoints_are_openpose_body25_with_hands(recording):
    files = sorted(recording.keypoints.glob("*_keypoints.json"))
    assert len(files) == recording.frames and files[0].name == "ben_000000000000_keypoints.json"
    (person,) = json.loads(files[0].read_text())["people"]
    body = np.reshape(person["pose_keypoints_2d"], (25, 3))
    assert (body[[8, 9, 10, 11, 12, 13, 14, 17, 18, *range(19, 25)]] == 0).all()  # not in pats52: undetected
    assert (body[[0, 1, 2, 3, 4, 5, 6, 7, 15, 16], 2] > 0).all() and body[1, 0] > 100  # absolute pixels
    assert len(person["hand_left_keypoints_2d"]) == len(person["hand_right_keypoints_2d"]) == 63
    assert recording.video.stat().st_size > 0


def test_round_trip_recovers_the_poses_and_splits_in_time_order(synth_root, recording, tmp_path, capsys):
    out = tmp_path / "corpus"
    argv = ["data", "import", "--keypoints", str(recording.keypoints), "--video", str(recording.video)]
    assert main([*argv, "--name", "maria", "--out", str(out)]) == 0  # frame rate from the video
    printed = capsys.readouterr().out
    assert "read " in printed and "15 fps" in printed and "dropped frames: none" in printed
    assert "warning" not in printed  # keypoints and speech end together
    report = json.loads((out / "import_maria.json").read_text())
    manifest = json.loads((recording.folder / MANIFEST).read_text())
    original = PatsCorpus(synth_root)
    truth = np.concatenate(
        [original.read("ben", i["id"], ["pose/normalize"])["pose/normalize"] for i in manifest["intervals"]]
    )
    imported = PatsCorpus(out)
    assert imported.speakers == ["maria"]
    previous_end, splits = -1, []
    for interval in report["intervals"]:
        first = round(interval["start"] * 15)
        pose = imported.read("maria", interval["id"], ["pose/normalize"])["pose/normalize"]
        np.testing.assert_allclose(pose, truth[first : first + len(pose)], atol=0.05)  # 3 decimals in JSON
        if splits and interval["split"] != splits[-1]:
            assert first - previous_end >= SPLIT_GAP  # no window shares frames across splits
        previous_end, splits = first + len(pose), [*splits, interval["split"]]
    assert splits == sorted(splits, key=["train", "dev", "test"].index) and set(splits) == {
        "train",
        "dev",
        "test",
    }
    interval = report["intervals"][-1]
    speech = load_audio(imported.raw_audio("maria", interval["id"]))  # cut from the mp4's AAC track
    exported = soundfile.read(recording.folder / "ben.flac", dtype="float32")[0]
    start = round(round(interval["start"] * 15) / 15 * SAMPLE_RATE)  # the report rounds to 1 ms
    reference = exported[start : start + len(speech)]
    assert np.corrcoef(speech[: len(reference)], reference)[0, 1] > 0.9  # aligned to the frame times


def test_minutes_limit_the_training_data_and_a_root_takes_more_speakers(recording, tmp_path):
    out = tmp_path / "corpus"
    audio = recording.folder / "ben.flac"
    first = import_recording(recording.keypoints, out, "maria", audio=audio, fps=15, max_train_minutes=0.5)
    assert first.report["split_seconds"]["train"] == pytest.approx(30.0)
    assert first.report["train_beyond_minutes_seconds"] > 0
    import_recording(recording.keypoints, out, "john", audio=audio, fps=15)
    assert PatsCorpus(out).speakers == ["john", "maria"]
    with pytest.raises(ConfigError, match="already has speaker 'maria'"):
        import_recording(recording.keypoints, out, "maria", audio=audio, fps=15)
    stale = out / "processed" / "maria" / "maria_0099.h5"
    stale.write_bytes(b"")  # left by an earlier import with more intervals
    again = import_recording(recording.keypoints, out, "maria", audio=audio, fps=15, overwrite=True)
    assert again.report["split_seconds"]["train"] > 30 and not stale.exists()
    assert PatsCorpus(out).speakers == ["john", "maria"]
    with pytest.raises(ConfigError, match="--name .Maria.: use lower-case"):
        import_recording(recording.keypoints, out, "Maria", audio=audio, fps=15)


def test_a_video_without_audio_is_a_one_line_error(recording, tmp_path, capsys):
    silent = write_video(
        tmp_path / "silent.mp4", [("x", np.zeros((5, PATS52.num_joints, 2)))], PATS52, size=(64, 64)
    )
    argv = ["data", "import", "--keypoints", str(recording.keypoints), "--video", str(silent)]
    assert main([*argv, "--name", "maria", "--out", str(tmp_path / "corpus")]) == 1
    error = capsys.readouterr().err.splitlines()[0]
    assert error == f"cospeech: error: {silent}: file has no audio stream (the speech: --video)"
    assert not (tmp_path / "corpus").exists()


def test_too_little_usable_keypoints_is_refused(recording, tmp_path):
    short = tmp_path / "short"
    short.mkdir()
    for path in sorted(recording.keypoints.glob("*.json"))[:200]:
        (short / path.name).write_text(path.read_text())
    with pytest.raises(DataError, match=r"only 13.3 s of usable keypoints .* need at least"):
        import_recording(short, tmp_path / "corpus", "maria", audio=recording.folder / "ben.flac", fps=15)


def _copy_frames(recording, folder, count, edit=None):
    """The first ``count`` keypoint files of ``recording`` in ``folder``, each person changed by ``edit``."""
    folder.mkdir()
    for path in sorted(recording.keypoints.glob("*_keypoints.json"))[:count]:
        frame = json.loads(path.read_text())
        for person in frame["people"]:
            (edit or (lambda p: None))(person)
        (folder / path.name).write_text(json.dumps(frame))
    return folder


def test_keypoints_without_hands_name_the_folder_and_the_missing_part(recording, tmp_path, capsys):
    def no_hands(person):
        person["hand_left_keypoints_2d"] = person["hand_right_keypoints_2d"] = []  # OpenPose without --hand

    folder = _copy_frames(recording, tmp_path / "no_hands", 400, no_hands)
    argv = ["data", "import", "--keypoints", str(folder), "--audio", str(recording.folder / "ben.flac")]
    assert main([*argv, "--fps", "15", "--name", "maria", "--out", str(tmp_path / "corpus")]) == 1
    error = capsys.readouterr().err.splitlines()[0]
    assert error.startswith(f"cospeech: error: {folder}: no usable frame among 400")
    hint = (
        "the left_hand, right_hand points are undetected in every frame (OpenPose writes hands with --hand)"
    )
    assert error.endswith(hint)
    assert not (tmp_path / "corpus").exists()


def test_speech_shorter_than_the_keypoints_is_named_as_the_cause(recording, tmp_path):
    speech = tmp_path / "short.wav"
    soundfile.write(speech, load_audio(recording.folder / "ben.flac")[: 5 * SAMPLE_RATE], SAMPLE_RATE)
    with pytest.raises(DataError) as caught:
        import_recording(recording.keypoints, tmp_path / "corpus", "maria", audio=speech, fps=15)
    message = str(caught.value)
    assert message.startswith(f"{recording.keypoints}: only 5.0 s of usable keypoints")
    assert message.endswith(f"frame(s) after the end of the speech ({speech}, 5.0 s) cut")


def test_keypoints_and_speech_of_different_lengths_are_flagged(recording, tmp_path, capsys):
    folder = _copy_frames(recording, tmp_path / "part", 600)  # 40 s at 15 fps; read at 25 fps: 24 s
    argv = ["data", "import", "--keypoints", str(folder), "--audio", str(recording.folder / "ben.flac")]
    out = tmp_path / "new" / "corpus"  # a missing parent is created
    assert main([*argv, "--fps", "25", "--name", "maria", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "read 600 frames (openpose BODY_25, 25 fps) up to 24.0 s, speech" in printed
    assert "warning: the keypoints end at 24.0 s but the speech at" in printed and "--fps" in printed
    assert json.loads((out / "import_maria.json").read_text())["keypoints_end_seconds"] == 24.0


def test_an_output_that_is_a_file_is_refused_in_one_line(recording, tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    argv = [
        "data",
        "import",
        "--keypoints",
        str(recording.keypoints),
        "--audio",
        str(recording.folder / "ben.flac"),
    ]
    assert main([*argv, "--fps", "15", "--name", "maria", "--out", str(taken)]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"cospeech: error: {taken}: exists and is not a folder; choose another --out"
    )
    assert taken.read_text() == "mine"
