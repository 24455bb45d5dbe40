"""Gesture videos: streams, frame count, size, audio sync, frame content, atomic writing and clear errors."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cospeech.files import OutputError
from cospeech.render import RenderError, write_video
from cospeech.render.draw import PoseCanvasLayout, panel_size
from cospeech.render.figure import figure_box
from cospeech.skeletons import PATS48

FPS = 15
SR = 16_000
SIZE = (640, 360)


def _poses(frames: int, *, drift: float = 0.0) -> np.ndarray:
    """(T, 48, 2): a fixed random pose within ±150 px of the neck, moved ``drift`` px right per frame."""
    pose = np.random.default_rng(0).uniform(-150, 150, (PATS48.num_joints, 2)).astype(np.float32)
    return pose + np.arange(frames, dtype=np.float32)[:, None, None] * np.array([drift, 0], np.float32)


def _speech(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)


def test_video_with_audio_has_one_stream_each_in_sync(tmp_path: Path) -> None:
    frames = 40
    path = write_video(
        tmp_path / "clip.mp4",
        [("ground truth", _poses(frames)), ("model", _poses(frames + 5))],  # different lengths → shortest
        PATS48,
        fps=FPS,
        audio=_speech(frames / FPS + 1.0),  # longer than the video → trimmed
        sample_rate=SR,
        size=SIZE,
        speaker="oliver",
    )
    assert path == tmp_path / "clip.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    with av.open(str(path)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, audio.codec_context.name) == ("h264", "aac")
        assert (video.codec_context.width, video.codec_context.height) == SIZE
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
        decoded = list(container.decode(video=0))
    with av.open(str(path)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert len(decoded) == frames
    assert decoded[0].format.name == "yuv420p"
    assert (decoded[0].width, decoded[0].height) == SIZE
    assert video_seconds == pytest.approx(frames / FPS, abs=1e-3)
    assert abs(audio_seconds - video_seconds) < 1 / FPS
    assert abs(samples / SR - video_seconds) < 1 / FPS  # decoded audio, AAC frame padding included


def test_short_audio_is_padded_and_silent_video_has_no_audio_stream(tmp_path: Path) -> None:
    write_video(tmp_path / "a.mp4", [("x", _poses(30))], PATS48, audio=_speech(0.5), size=SIZE)
    with av.open(str(tmp_path / "a.mp4")) as container:
        audio = container.streams.audio[0]
        assert float(audio.duration * audio.time_base) == pytest.approx(2.0, abs=1 / FPS)
    write_video(tmp_path / "b.mp4", [("x", _poses(30))], PATS48, size=SIZE)
    with av.open(str(tmp_path / "b.mp4")) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert sum(1 for _ in container.decode(video=0)) == 30


def test_each_frame_shows_its_own_pose(tmp_path: Path) -> None:
    """The frame buffer is reused: a pose moving right must appear further right in every decoded frame."""
    write_video(tmp_path / "m.mp4", [("x", _poses(12, drift=20.0))], PATS48, size=SIZE)
    with av.open(str(tmp_path / "m.mp4")) as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    centres = []
    for image in images:
        ink = np.abs(image[40:320].astype(int) - 255).max(axis=2) > 80
        centres.append(np.nonzero(ink)[1].mean())
    steps = np.diff(centres)
    assert (steps > 0).all()
    width, height = panel_size(SIZE, 1)
    box = figure_box([_poses(12, drift=20.0)], PATS48, aspect=width / height)
    layout_scale = PoseCanvasLayout(PATS48, ["x"], size=SIZE, box=box).scale
    assert np.median(steps) == pytest.approx(20.0 * layout_scale, rel=0.2)


def test_a_failure_while_writing_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = PoseCanvasLayout.render
    calls = []

    def failing(self: PoseCanvasLayout, poses: list[np.ndarray], seconds: float, **kwargs: int) -> object:
        calls.append(seconds)
        if len(calls) == 10:
            raise RuntimeError("disk full")
        return original(self, poses, seconds)

    monkeypatch.setattr(PoseCanvasLayout, "render", failing)
    target = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError, match="disk full"):
        write_video(target, [("x", _poses(30))], PATS48, audio=_speech(2.0), size=SIZE)
    assert list(tmp_path.iterdir()) == []


def test_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    poses = _poses(5)
    with pytest.raises(OutputError, match=r"x\.avi: videos are written as \.mp4"):
        write_video(tmp_path / "x.avi", [("x", poses)], PATS48)
    with pytest.raises(OutputError, match="output directory .* does not exist"):
        write_video(tmp_path / "missing" / "x.mp4", [("x", poses)], PATS48, size=SIZE)
    bad = poses.copy()
    bad[2, 7, 0] = np.nan
    with pytest.raises(
        RenderError,
        match=r"x\.mp4: panel 'model': poses hold NaN or inf \(first at frame 2, joint 7 LThumb1\)",
    ):
        write_video(tmp_path / "x.mp4", [("model", bad)], PATS48)
    with pytest.raises(RenderError, match=r"expected \(T, 48, 2\) for pats48"):
        write_video(tmp_path / "x.mp4", [("x", poses[0])], PATS48)
    with pytest.raises(
        RenderError, match=r"audio with 16000 channels \(shape \(16000, 2\)\).*\(channels, n\)"
    ):
        stereo_the_soundfile_way = np.stack([_speech(1), _speech(1)], axis=1)  # (n, 2), not (2, n)
        write_video(tmp_path / "x.mp4", [("x", poses)], PATS48, audio=stereo_the_soundfile_way)
    with pytest.raises(RenderError, match="no frames"):
        write_video(tmp_path / "x.mp4", [("x", poses[:0])], PATS48)
    assert list(tmp_path.iterdir()) == []


def test_rates_aac_cannot_store_are_resampled_to_the_nearest_it_can(tmp_path: Path) -> None:
    """12,345 Hz is not an AAC rate: the track is 12,000 Hz, the same tone, the video's duration."""
    rate, seconds = 12_345, 2.0
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, 0.5 * tone]).astype(np.float32)  # (2, n)
    path = write_video(
        tmp_path / "x.mp4", [("x", _poses(30))], PATS48, audio=stereo, sample_rate=rate, size=SIZE
    )
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.sample_rate, stream.codec_context.layout.name) == (12_000, "stereo")
        decoded = np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1)
    assert abs(decoded.shape[1] / 12_000 - seconds) < 0.2  # AAC frame padding aside
    levels = np.sqrt(np.mean(decoded[:, 2048:20_000] ** 2, axis=1))
    np.testing.assert_allclose(levels, [0.3 / np.sqrt(2), 0.15 / np.sqrt(2)], rtol=0.1)


@pytest.mark.parametrize("size", [(64, 36), (2, 2), (142, 142)])
def test_frames_too_small_for_text_are_drawn_without_it(tmp_path: Path, size: tuple[int, int]) -> None:
    poses = np.random.default_rng(0).normal(0, 50, (15, 48, 2)).astype(np.float32)
    path = write_video(
        tmp_path / "tiny.mp4", [("truth", poses), ("model", poses)], PATS48, speaker="ava", size=size
    )
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == size and video.frames == 15
    assert not PoseCanvasLayout(PATS48, ["truth"], size=size, speaker="ava").has_text
    assert PoseCanvasLayout(PATS48, ["truth"], size=(256, 144), speaker="ava").has_text
