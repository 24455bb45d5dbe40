"""The CLI end to end, through the real entry point."""

import subprocess
import sys

import pytest

from cospeech.cli.main import main


def test_data_info_prints_a_row_per_speaker(synth_root, capsys):
    assert main(["data", "info", str(synth_root)]) == 0
    out = capsys.readouterr().out
    for speaker in ("ava", "ben", "cleo", "total"):
        assert speaker in out
    assert "train windows" in out


def test_data_synth_writes_a_corpus(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert (
        main(["data", "synth", "--out", str(out), "--speakers", "2", "--minutes", "0.3", "--seed", "3"]) == 0
    )
    assert (out / "cmu_intervals_df.csv").is_file()
    assert "2 speakers" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["data", "info", "/nonexistent/pats"],
            "root directory not found (make the built-in one: cospeech data synth)",
        ),
        (["data", "synth", "--speakers", "0", "--out", "/tmp/x"], "speakers ≥ 1"),
    ],
)
def test_errors_are_one_line_and_exit_1(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "cospeech.cli.main", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("cospeech ")
