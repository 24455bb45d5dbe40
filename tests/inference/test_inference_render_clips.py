"""``cospeech render``: held-out clips of real corpus intervals, ground truth next to models, with sound."""

from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pytest

from cospeech.cli.main import main
from cospeech.errors import ConfigError
from cospeech.inference.clips import (
    gallery_metrics,
    render_clips,
    run_labels,
    unique_labels,
    with_pats_head,
)
from cospeech.skeletons import PATS48, PATS52


def _first_frame(video):
    with av.open(str(video)) as container:
        return next(container.decode(video=0)).to_ndarray(format="bgr24")


def test_clips_have_video_and_sound_and_the_gallery_links_them(tiny_run, tmp_path):
    rendered = render_clips([tiny_run, tiny_run], count=2, split="dev", out_dir=tmp_path, size=(960, 360))
    assert len(rendered.videos) == 2
    assert {v.parent.name for v in rendered.videos} == {"ava", "ben"}  # every speaker of the run is shown
    for video in rendered.videos:
        with av.open(str(video)) as container:
            kinds = sorted(s.type for s in container.streams)
            assert kinds == ["audio", "video"]
            assert container.streams.video[0].codec_context.width == 960
    page = rendered.page.read_text()
    for video in rendered.videos:
        assert video.relative_to(tmp_path).as_posix() in page
    # the two runs' panels are named apart: tiny/version_0 and tiny/version_0 (2)
    assert "tiny/version_0, tiny/version_0 (2)" in page
    header = _first_frame(rendered.videos[0])[:20]  # the titles' band
    panels = [header[:, k * 320 : (k + 1) * 320] for k in range(3)]
    assert not np.array_equal(panels[1], panels[2])


def test_labels_name_the_panels_and_heads_follow_the_stored_nose(tiny_run, tmp_path):
    labels = ["small", "big"]
    rendered = render_clips(
        [tiny_run, tiny_run], count=1, split="dev", out_dir=tmp_path, size=(960, 360), labels=labels
    )
    assert "small, big" in rendered.page.read_text()
    frame = _first_frame(rendered.videos[0])
    ink = np.abs(frame.astype(int) - 255).max(axis=2) > 40
    for k in range(3):  # every panel has a head: ink in the upper part of the panel's middle column
        middle = ink[22:200, k * 320 + 100 : k * 320 + 220]
        assert middle.sum() > 200
    with pytest.raises(ConfigError, match="2 labels for 1 checkpoints"):
        render_clips([tiny_run], labels=labels)


def test_pats_head_is_put_back_between_the_model_joints():
    poses = np.random.default_rng(0).normal(size=(5, PATS48.num_joints, 2)).astype(np.float32)
    head = np.random.default_rng(1).normal(size=(6, 3, 2)).astype(np.float32)
    full = with_pats_head(poses, head)
    assert full.shape == (5, PATS52.num_joints, 2)
    np.testing.assert_array_equal(full[:, PATS52.index("LWrist")], poses[:, PATS48.index("LWrist")])
    np.testing.assert_array_equal(full[:, PATS52.index("REye")], head[:5, 1])
    np.testing.assert_array_equal(full[:, PATS52.index("Neck")], 0)


def test_cli_renders_into_the_run_and_shows_its_metrics(tiny_run, tmp_path, capsys):
    scores = {
        "scores": {
            "speech2gesture": {"mean": {"L1": 0.5, "PCK": None}},
            "mean_pose": {"mean": {"L1": 0.75, "PCK": 0.25}},
        }
    }
    (tiny_run / "evaluation_test.json").write_text(json.dumps(scores))
    try:
        assert main(["render", "--checkpoint", str(tiny_run), "-n", "1", "--out", str(tmp_path)]) == 0
    finally:
        (tiny_run / "evaluation_test.json").unlink()
    printed = capsys.readouterr().out
    assert "video:" in printed and "gallery:" in printed
    page = (tmp_path / "gallery.html").read_text()
    assert "<tr><th>tiny/version_0</th><td>0.5</td>" in page
    assert "<tr><th>mean_pose</th><td>0.75</td><td>0.25</td></tr>" in page
    assert "<th>L1 ↓</th><th>PCK ↑</th>" in page
    assert "higher / lower is better" in page and "mean training pose" in page


def test_bad_requests(tiny_run):
    with pytest.raises(ConfigError, match="split"):
        render_clips([tiny_run], split="val")
    with pytest.raises(ConfigError, match="at least one"):
        render_clips([])
    with pytest.raises(ConfigError, match="count=0: render at least 1 clip"):  # not "no output directory"
        render_clips([tiny_run], count=0)


def test_run_labels_name_runs_checkpoints_and_exports_apart():
    checkpoints = [
        "runs/s2g/version_3",
        "runs/s2g/version_3/checkpoints/last.ckpt",
        "models/s2g",
        "runs/s2g/version_3",
    ]
    labels = run_labels(checkpoints)
    assert labels == ["s2g/version_3", "s2g/version_3 (last)", "s2g", "s2g/version_3"]
    assert unique_labels(labels)[-1] == "s2g/version_3 (2)"


def test_the_gallery_shows_an_evaluation_only_for_the_checkpoint_it_scored(tiny_run, tmp_path):
    run = tmp_path / "runs" / "tiny" / "version_0"
    shutil.copytree(tiny_run, run)
    scores = {"checkpoint": str(run), "scores": {"speech2gesture": {"mean": {"L1": 0.5}}}}
    (run / "evaluation_test.json").write_text(json.dumps(scores))
    best, last = run / "checkpoints" / "best.ckpt", run / "checkpoints" / "last.ckpt"
    table = gallery_metrics([best, last], run_labels([best, last]), "test")
    assert table.rows == {"tiny/version_0 (best)": {"L1": 0.5}}
    assert table.directions == {"L1": False}
