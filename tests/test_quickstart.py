"""``cospeech quickstart`` end to end on a small corpus: corpus → train → evaluate → render."""

from __future__ import annotations

from pathlib import Path

import av

from cospeech.cli.main import main


def test_quickstart_runs_every_stage(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--minutes", "0.8", "--epochs", "1", "--clips", "1"]) == 0
    printed = capsys.readouterr().out
    assert "oracle" in printed and "mean_pose" in printed and "gap closed" in printed
    video = next(line.split()[-1] for line in printed.splitlines() if line.startswith("video:"))
    gallery = next(line.split()[-1] for line in printed.splitlines() if line.startswith("gallery:"))
    with av.open(video) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
    assert "<video" in Path(gallery).read_text()
    assert (out / "runs" / "quickstart" / "version_0" / "evaluation_test.json").is_file()
