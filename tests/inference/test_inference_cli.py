"""``cospeech generate`` and ``cospeech export`` through the real entry point."""

from __future__ import annotations

import json

import numpy as np
import soundfile
from inference_testdata import synthetic_speech

from cospeech.audio import SAMPLE_RATE
from cospeech.cli.main import main


def test_generate_writes_every_format_and_prints_the_paths(tiny_run, tmp_path, capsys):
    speech = tmp_path / "talk.wav"
    soundfile.write(speech, synthetic_speech(3.0, seed=7), SAMPLE_RATE)
    out = tmp_path / "out" / "talk"
    argv = ["generate", str(speech), "--checkpoint", str(tiny_run), "--speaker", "ava", "-o", str(out)]
    assert main([*argv, "--format", "all", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.split()
    expected = [f"{out}.npz", f"{out}_keypoints", f"{out}.csv", f"{out}.mp4"]
    assert printed == expected
    with np.load(f"{out}.npz") as npz:
        assert npz["poses"].shape == (45, 48, 2) and str(npz["speaker"]) == "ava"
    assert len(list((tmp_path / "out" / "talk_keypoints").glob("*_keypoints.json"))) == 45


def test_output_suffix_picks_the_format(tiny_run, tmp_path, capsys):
    speech = tmp_path / "talk.flac"
    soundfile.write(speech, synthetic_speech(2.0, seed=8), SAMPLE_RATE)
    argv = ["generate", str(speech), "--checkpoint", str(tiny_run), "--speaker", "ben"]
    assert main([*argv, "-o", str(tmp_path / "talk.csv")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "talk.csv")]


def test_export_then_generate_from_the_export(tiny_run, tmp_path, capsys):
    model = tmp_path / "models" / "s2g"
    assert main(["export", str(tiny_run), "-o", str(model)]) == 0
    assert f"wrote {model}: speech2gesture, speakers ava, ben" in capsys.readouterr().out
    assert json.loads((model / "config.json").read_text())["metadata"]["data"]["speakers"] == ["ava", "ben"]
    speech = tmp_path / "talk.wav"
    soundfile.write(speech, synthetic_speech(2.0, seed=9), SAMPLE_RATE, subtype="FLOAT")
    out = tmp_path / "x"
    argv = ["generate", str(speech), "--checkpoint", str(model), "--speaker", "ava", "-o", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.split() == [f"{out}.npz"]


def test_errors_are_one_line_and_exit_1(tiny_run, tmp_path, capsys):
    speech = tmp_path / "talk.wav"
    soundfile.write(speech, synthetic_speech(1.0), SAMPLE_RATE)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00" * 64)
    cases = [
        (["--checkpoint", str(tiny_run), "--speaker", "zoe"], "unknown speaker 'zoe'; this model knows: ava"),
        (["--checkpoint", str(junk), "--speaker", "ava"], f"{junk}: not a readable checkpoint"),
        (
            ["--checkpoint", str(tiny_run), "--speaker", "ava", "--template-seed", "3"],
            f"{tiny_run}: --template-seed: Speech2GestureGenerator has no template input",
        ),
        (
            ["--checkpoint", str(tiny_run), "--speaker", "ava", "--template-prior", "3"],
            f"{tiny_run}: --template-prior: Speech2GestureGenerator has no template input",
        ),
        (
            ["--checkpoint", str(tiny_run), "--speaker", "ava", "--template-from", "0"],
            f"{tiny_run}: --template-from: Speech2GestureGenerator has no template input",
        ),
    ]
    for extra, message in cases:
        assert main(["generate", str(speech), *extra, "-o", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert main(["generate", str(tmp_path / "none.wav"), "--checkpoint", str(tiny_run), "--speaker", "ava",
                 "-o", str(tmp_path / "out")]) == 1  # fmt: skip
    assert "none.wav: audio file not found" in capsys.readouterr().err
