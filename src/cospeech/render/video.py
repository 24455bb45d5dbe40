"""Gesture videos: side-by-side skeleton panels, H.264 + AAC in an mp4, with the speech in sync.

Unlike the reference renderers (SDT writes JPEGs then calls the ``ffmpeg`` binary; C-DiffGAN plots each frame
with matplotlib), frames are drawn and encoded in one stream with PyAV: no temporary images, no external
binary, memory bounded whatever the length. Drawing goes straight to I420 (see ``draw.PoseCanvasLayout``).

Encoder settings, chosen with ``benchmarks/bench_render.py`` on a 2-core machine: libx264 ``ultrafast`` at a
constant QP of 20, yuv420p, BT.601 limited range signalled in the stream (the matrix OpenCV's I420
conversion uses, so players show the drawn colours). libx264 costs ~3 ms of CPU per 720p frame even at
``ultrafast``, most of it fixed per pixel, so slower presets blow the time budget (``superfast`` ~9 ms,
``veryfast`` ~11–15 ms per frame). Constant QP rather than CRF spares the rate control's per-frame
low-resolution analysis (~30 % of the encoder's time here). QP 20 rather than 23 leaves 4× fewer faint
trails where lines moved away (0.03 % of background pixels off by more than 4 levels, against 0.13 % at
QP 23 or at ``veryfast`` CRF 23) for the same speed, at ~6 MB per minute. The moov atom is moved to the
front (``faststart``) so the HTML gallery starts playing at once.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import soxr

from cospeech.files import OutputError, atomic_write
from cospeech.render.draw import (
    Planes,
    PoseCanvasLayout,
    RenderError,
    check_poses,
    check_size,
    panel_size,
)
from cospeech.render.figure import figure_box
from cospeech.skeletons import Skeleton

VIDEO_CODEC = "libx264"
VIDEO_OPTIONS = {"preset": "ultrafast", "qp": "20"}
AUDIO_CODEC = "aac"
AUDIO_OPTIONS = {"aac_coder": "fast"}  # a third of the default "twoloop" coder's time, fine for speech
AUDIO_BIT_RATE = 64_000  # per channel; AAC-LC is transparent for speech well below this
AUDIO_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1"}
"""FFmpeg channel layout given to audio of each channel count (channel order as in WAV files)."""
_BT601 = 6  # AVCOL_SPC/PRI/TRC_SMPTE170M: the matrix, primaries and transfer of BT.601 (625/525 lines)
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG: Y in 16..235, as cv2.COLOR_BGR2YUV_I420 produces


def write_video(
    path: str | os.PathLike[str],
    panels: Sequence[tuple[str, np.ndarray]],
    skeleton: Skeleton,
    *,
    fps: float = 15.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    size: tuple[int, int] = (1280, 720),
    speaker: str | None = None,
    start_time: float = 0.0,
    loudness: bool = False,
) -> Path:
    """Render pose sequences side by side to an mp4 at ``path``, with ``audio`` muxed in sync.

    Parameters
    ----------
    path : destination, ending in ``.mp4``; written atomically (absent until complete).
    panels : (title, poses) pairs; poses ``(T, J, 2)`` neck-relative pixel offsets. Sequences of
        different lengths are cut to the shortest.
    skeleton : the skeleton of every panel.
    fps : float > 0, pose frame rate (PATS: 15).
    audio : np.ndarray [shape=(n,) or (channels, n)] float samples in [-1, 1] starting with the first frame,
        1 to 6 channels (mono, stereo … 5.1, see ``AUDIO_LAYOUTS``), or None for a silent video (no audio
        stream). Its channels go into the AAC track as they are, and its rate where AAC has it (below).
        Trimmed or zero-padded to the video's duration.
    sample_rate : int > 0, rate of ``audio`` in Hz. AAC stores 7350 … 96000 Hz in 13 steps
        (``av.Codec("aac", "w").audio_rates``: 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000,
        …); any other rate is resampled (soxr, high quality) to the nearest of them.
    size : (width, height) in pixels, both even.
    speaker : shown bottom-left.
    start_time : seconds shown by the clock on the first frame (e.g. the clip's offset in its interval).
    loudness : draw the speech's loudness (``loudness_envelope``) in a strip under the figures, with a
        cursor at the current frame; needs ``audio``.

    The view is fitted once to the whole clip, every panel included (``figure.figure_box``): the figure
    fills its panel at one scale for the clip.

    Returns
    -------
    path : the written file.

    Raises
    ------
    RenderError : poses of the wrong shape or with NaN, no frames, bad fps, size or audio.
    OutputError : ``path`` is not an ``.mp4`` in an existing, writable directory.
    """
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise OutputError(f"{path}: videos are written as .mp4")
    if not panels:
        raise RenderError(f"{path}: no panels to render")
    if not (fps > 0 and math.isfinite(fps)):
        raise RenderError(f"{path}: fps must be a positive number, got {fps}")
    titles = [title for title, _ in panels]
    sequences = [
        check_poses(poses, skeleton, f"{path}: panel {title!r}", frames=True) for title, poses in panels
    ]
    frames = min(len(poses) for poses in sequences)
    if frames == 0:
        raise RenderError(f"{path}: no frames to render (a panel has T = 0)")
    rate = Fraction(fps).limit_denominator(1001)
    width, height = check_size(size)
    sound = None if audio is None else _fit_audio(audio, sample_rate, frames / rate, path)
    if loudness and sound is None:
        raise RenderError(f"{path}: a loudness strip needs the audio")
    envelope = None if not loudness or sound is None else loudness_envelope(sound.samples, sound.rate, frames)
    panel_width, panel_height = panel_size((width, height), len(panels), strip=envelope is not None)
    aspect = max(panel_width, 1) / max(panel_height, 1)
    box = figure_box([poses[:frames] for poses in sequences], skeleton, aspect=aspect)
    # One frame buffer for the whole video: the layout draws into its planes, the encoder copies it on
    # each encode call (x264 takes a copy of its input picture synchronously).
    frame = av.VideoFrame(width, height, "yuv420p")
    layout = PoseCanvasLayout(
        skeleton, titles, size=size, speaker=speaker, box=box, envelope=envelope, out=_planes(frame)
    )
    with atomic_write(path) as temporary:
        try:
            _encode(temporary, layout, frame, sequences, frames, rate, start_time, sound)
        except av.FFmpegError as err:
            raise RenderError(f"{path}: encoding failed: {err}") from err
    return path


LOUDNESS_FLOOR_DB = -50.0
"""Loudness shown as silence in the strip, in dB below the clip's loudest frame."""


def loudness_envelope(samples: np.ndarray, sample_rate: int, frames: int) -> np.ndarray:
    """Loudness per video frame for the strip under the figures: the RMS of ``samples`` ``(C, n)`` (all
    channels) over each of ``frames`` equal spans, in dB relative to the loudest span, mapped from
    ``LOUDNESS_FLOOR_DB`` … 0 dB onto 0 … 1. Returns ``(frames,)`` float32."""
    mono = np.asarray(samples, np.float64).reshape(-1, np.shape(samples)[-1]).mean(axis=0)
    edges = np.linspace(0, len(mono), frames + 1).round().astype(np.int64)
    power = np.array([np.mean(mono[a:b] ** 2) if b > a else 0.0 for a, b in itertools.pairwise(edges)])
    db = 10 * np.log10(np.maximum(power, 1e-12) / max(power.max(), 1e-12))
    return np.clip(1 - db / LOUDNESS_FLOOR_DB, 0, 1).astype(np.float32)


def _planes(frame: av.VideoFrame) -> Planes:
    """Writable numpy views of a frame's Y, U and V planes (rows may be padded to ``line_size``)."""
    views = [
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        for plane in frame.planes
    ]
    return views[0], views[1], views[2]


class _Sound(NamedTuple):
    """Audio ready for the AAC encoder."""

    samples: np.ndarray
    """(C, n) float32, planar, exactly the video's duration."""
    rate: int
    """An AAC sample rate, Hz."""
    layout: str
    """FFmpeg channel layout (``AUDIO_LAYOUTS``)."""


def _fit_audio(audio: np.ndarray, sample_rate: int, seconds: float, path: Path) -> _Sound:
    """``audio`` (n,) or (C, n) checked, resampled to the nearest AAC rate if needed, and trimmed or
    zero-padded to ``seconds``."""
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2) or not np.issubdtype(audio.dtype, np.floating):
        raise RenderError(
            f"{path}: audio of shape {audio.shape} and dtype {audio.dtype}; expected float (n,) or "
            "(channels, n)"
        )
    audio = audio.reshape(-1, audio.shape[-1])  # (C, n)
    if len(audio) not in AUDIO_LAYOUTS:
        raise RenderError(
            f"{path}: audio with {len(audio)} channels (shape {audio.shape}); AAC is written with 1 to "
            f"{max(AUDIO_LAYOUTS)} channels, as (channels, n)"
        )
    if not sample_rate > 0:
        raise RenderError(f"{path}: audio sample rate must be a positive rate in Hz, got {sample_rate}")
    if not np.isfinite(audio).all():
        raise RenderError(f"{path}: audio holds NaN or inf")
    rates = av.Codec(AUDIO_CODEC, "w").audio_rates
    rate = int(min(rates, key=lambda r: abs(r - sample_rate)))
    if rate != sample_rate:
        audio = soxr.resample(audio.T.astype(np.float32), sample_rate, rate, quality="HQ").T  # (C, n')
    samples = round(seconds * rate)
    fitted = np.zeros((len(audio), samples), np.float32)
    kept = min(samples, audio.shape[1])
    fitted[:, :kept] = audio[:, :kept]
    return _Sound(fitted, rate, AUDIO_LAYOUTS[len(audio)])


def _encode(
    target: Path,
    layout: PoseCanvasLayout,
    frame: av.VideoFrame,
    sequences: list[np.ndarray],
    frames: int,
    rate: Fraction,
    start_time: float,
    sound: _Sound | None,
) -> None:
    """Draw, encode and mux frame by frame; after each video frame, the audio up to its end, so the two
    streams are interleaved in the file and nothing accumulates in memory."""
    with av.open(str(target), "w", options={"movflags": "+faststart"}) as container:
        video = container.add_stream(VIDEO_CODEC, rate=rate, options=VIDEO_OPTIONS)
        video.width, video.height = layout.size
        video.pix_fmt = "yuv420p"
        context = video.codec_context
        context.colorspace = context.color_primaries = context.color_trc = _BT601
        context.color_range = _LIMITED_RANGE
        # Frame threads (libx264 picks how many from the core count) encode while the next frame is drawn;
        # sliced threads, the PyAV default, would make each encode call wait for its frame.
        context.thread_type, context.thread_count = "FRAME", 0
        if sound is not None:
            audio = container.add_stream(
                AUDIO_CODEC, rate=sound.rate, layout=sound.layout, options=AUDIO_OPTIONS
            )
            audio.bit_rate = AUDIO_BIT_RATE * len(sound.samples)
        sent = 0
        for i in range(frames):
            layout.render([poses[i] for poses in sequences], start_time + float(i / rate), frame=i)
            frame.pts = i
            container.mux(video.encode(frame))
            if sound is not None:
                until = round((i + 1) / rate * sound.rate)  # the last frame's end is the waveform's end
                if until > sent:
                    part = np.ascontiguousarray(sound.samples[:, sent:until])
                    chunk = av.AudioFrame.from_ndarray(part, format="fltp", layout=sound.layout)
                    chunk.sample_rate, chunk.pts = sound.rate, sent
                    container.mux(audio.encode(chunk))
                    sent = until
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(audio.encode(None))
