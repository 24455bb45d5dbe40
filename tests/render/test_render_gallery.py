"""The HTML gallery: self-contained, relative video links, a metrics table, everything escaped."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from cospeech.files import OutputError
from cospeech.render import ClipEntry, write_gallery


def test_gallery_lists_clips_and_metrics(tmp_path: Path) -> None:
    clips = [
        ClipEntry("ground truth vs s2g", "render/test/oliver/0001.mp4", speaker="oliver", caption="clip 1"),
        ClipEntry("few-shot", PurePosixPath("render/test/my speaker/0002.mp4")),
    ]
    metrics = {"speech2gesture": {"L1": 1.23456, "PCK": 0.5}, "mix-stage": {"PCK": 0.61, "FID": 12.0}}
    path = write_gallery(tmp_path / "index.html", clips, metrics, title="run 42")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<video controls") == 2
    assert 'src="render/test/oliver/0001.mp4"' in page
    assert 'src="render/test/my%20speaker/0002.mp4"' in page
    assert "<th>L1</th><th>PCK</th><th>FID</th>" in page  # columns in order of first appearance
    assert "<tr><th>mix-stage</th><td></td><td>0.61</td><td>12</td></tr>" in page
    assert "1.235" in page
    assert "http" not in page and "<script" not in page  # no external assets
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]


def test_gallery_escapes_every_text(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script>'
    clips = [ClipEntry(evil, 'a".mp4', speaker=evil, caption=evil)]
    page = write_gallery(tmp_path / "g.html", clips, {evil: {evil: 1.0}}, title=evil).read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert 'src="a%22.mp4"' in page


def test_gallery_without_metrics_and_absolute_paths(tmp_path: Path) -> None:
    page = write_gallery(tmp_path / "g.html", [], None, title="empty").read_text()
    assert "<table>" not in page
    with pytest.raises(OutputError, match="must be relative"):
        write_gallery(tmp_path / "h.html", [ClipEntry("x", "/abs/clip.mp4")], None)
    assert not (tmp_path / "h.html").exists()
