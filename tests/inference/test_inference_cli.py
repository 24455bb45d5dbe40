"""``cospeech generate`` and ``cospeech export`` through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from inference_testdata import synthetic_speech

from cospeech.audio import SAMPLE_RATE
from cospeech.cli.generate import prefer_passive_openmp_wait
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


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_generate_prefers_passive_openmp_wait_before_torch_loads(given, expected):
    # In a fresh process (torch not loaded yet) the policy is set unless the user set one.
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = (
        "import os, sys; from cospeech.cli.generate import prefer_passive_openmp_wait as prefer; prefer(); "
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == [expected, "False"]


def test_openmp_wait_is_left_alone_once_torch_is_loaded(monkeypatch):
    # OpenMP read its settings when torch loaded: setting the variable now would only mislead.
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    prefer_passive_openmp_wait()
    assert "OMP_WAIT_POLICY" not in os.environ


def test_the_cli_reaches_generate_without_loading_torch():
    # The passive wait acts only if nothing the `cospeech` command imports before `generate.run` loads
    # torch (OpenMP reads OMP_WAIT_POLICY once, when torch loads).
    code = (
        "import sys; from cospeech.cli.main import build_parser; "
        "build_parser().parse_args(['generate', 'a.wav', '--checkpoint', 'r', '--speaker', 'a', '-o', 'x']); "
        "print('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False"]
