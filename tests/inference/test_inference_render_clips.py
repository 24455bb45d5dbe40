"""``cospeech render``: held-out clips of real corpus intervals, ground truth next to models, with sound."""

from __future__ import annotations

import json

import av
import pytest

from cospeech.cli.main import main
from cospeech.errors import ConfigError
from cospeech.inference.clips import render_clips


def test_clips_have_video_and_sound_and_the_gallery_links_them(tiny_run, tmp_path):
    rendered = render_clips([tiny_run, tiny_run], count=2, split="dev", out_dir=tmp_path, size=(640, 360))
    assert len(rendered.videos) == 2
    assert {v.parent.name for v in rendered.videos} == {"ava", "ben"}  # every speaker of the run is shown
    for video in rendered.videos:
        with av.open(str(video)) as container:
            kinds = sorted(s.type for s in container.streams)
            assert kinds == ["audio", "video"]
            assert container.streams.video[0].codec_context.width == 640
    page = rendered.page.read_text()
    for video in rendered.videos:
        assert video.relative_to(tmp_path).as_posix() in page


def test_cli_renders_into_the_run_and_shows_its_metrics(tiny_run, tmp_path, capsys):
    scores = {"scores": {"speech2gesture": {"mean": {"L1": 0.5, "PCK": None}}}}
    (tiny_run / "evaluation_test.json").write_text(json.dumps(scores))
    try:
        assert main(["render", "--checkpoint", str(tiny_run), "-n", "1", "--out", str(tmp_path)]) == 0
    finally:
        (tiny_run / "evaluation_test.json").unlink()
    printed = capsys.readouterr().out
    assert "video:" in printed and "gallery:" in printed
    assert "0.5" in (tmp_path / "gallery.html").read_text()


def test_bad_requests(tiny_run):
    with pytest.raises(ConfigError, match="split"):
        render_clips([tiny_run], split="val")
    with pytest.raises(ConfigError, match="at least one"):
        render_clips([])
