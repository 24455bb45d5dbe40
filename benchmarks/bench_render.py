"""Rendering speed: draw-only frames/s, and a 60 s two-panel 1280×720 clip drawn, encoded and muxed.

The reference renderers are slow enough to shape experiments: SDT writes JPEGs and calls ffmpeg (~134
frames/s), C-DiffGAN plots every frame with matplotlib. Our target is ≥ 2× SDT: 900 frames (60 s at 15 fps)
with audio in under 3.5 s, and > 800 frames/s for drawing alone.

Poses are a smooth random walk of joint angles on the ``pats48`` skeleton with PATS-like bone lengths
(RShoulder–Neck 167 px), so line lengths and hand sizes match real data; audio is a synthetic voiced
waveform (a harmonic tone with a syllable-rate envelope). Each measurement is repeated and the median kept;
the 1-minute load average is recorded because other processes on the machine skew wall-clock times.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_render.py --repeats 5

prints one JSON line per measurement, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
from timing import timed_runs

from cospeech.render import PoseCanvasLayout, write_video
from cospeech.skeletons import FINGERS, PATS48

FPS = 15
SAMPLE_RATE = 16_000

# Right-side bones: (length px in PATS frames, rest angle in image axes (0 = right, π/2 = down), swing in
# radians). The left side mirrors them. Finger bone lengths run from the palm (joint 1) to the tip (joint 4).
_ARM = {"Shoulder": (167.0, np.pi, 0.05), "Elbow": (250.0, 1.75, 0.35), "Wrist": (220.0, 1.2, 0.8)}
_HAND_ROOT = 5.0
_FINGER_LENGTHS = {"Thumb": (25, 25, 20, 18), "Index": (45, 22, 18, 15), "Middle": (47, 25, 20, 16),
                   "Ring": (44, 22, 18, 15), "Little": (40, 17, 14, 13)}  # fmt: skip


def synthetic_poses(frames: int, seed: int) -> np.ndarray:
    """``(T, 48, 2)`` neck-relative pixels: forward kinematics of smoothly wandering joint angles."""
    rng = np.random.default_rng(seed)
    joints = PATS48.num_joints
    kernel = np.hanning(31) / np.hanning(31).sum()  # ~2 s smoothing: gesture-like, not jittery
    steps = rng.normal(0.0, 0.15, (frames + len(kernel) - 1, joints))
    walk = np.stack(
        [np.convolve(np.cumsum(steps[:, j]), kernel, mode="valid") for j in range(joints)], axis=1
    )
    walk -= walk.mean(axis=0)
    poses = np.zeros((frames, joints, 2), np.float32)
    direction = np.zeros((frames, joints))  # absolute angle of each joint's bone
    for j, name in enumerate(PATS48.joint_names):
        side, part, parent = name[0], name[1:], PATS48.parents[j]
        if part in _ARM:
            length, rest, swing = _ARM[part]
            angle = rest + swing * np.tanh(walk[:, j])
            angle = np.pi - angle if side == "L" else angle
        elif part == "HandRoot":
            length, angle = _HAND_ROOT, direction[:, parent]
        else:  # finger joint: spread at the palm, then bend relative to the previous bone
            finger, k = part[:-1], int(part[-1])
            length = _FINGER_LENGTHS[finger][k - 1]
            spread = (FINGERS.index(finger) - 2) * 0.25 if k == 1 else 0.0
            bend = (spread + 0.2 * np.tanh(walk[:, j])) * (-1 if side == "L" else 1)
            angle = direction[:, parent] + bend
        direction[:, j] = angle
        start = poses[:, parent] if parent >= 0 else 0.0
        poses[:, j] = start + length * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    return poses


def synthetic_speech(seconds: float, seed: int) -> np.ndarray:
    """A voiced-speech stand-in: 120–180 Hz harmonics with a 4 Hz syllable envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = 150 + 30 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    voice = sum(np.sin(h * phase) / h for h in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    return (0.2 * voice * envelope + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=900, help="frames per clip (900 = 60 s at 15 fps)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    size = (args.width, args.height)
    truth, model = synthetic_poses(args.frames, seed=0), synthetic_poses(args.frames, seed=1)
    speech = synthetic_speech(args.frames / FPS, seed=0)
    results = []

    layout = PoseCanvasLayout(PATS48, ["ground truth", "speech2gesture"], size=size, speaker="oliver")

    def draw() -> None:
        for i in range(args.frames):
            layout.render([truth[i], model[i]], i / FPS)

    walls, cpus = timed_runs(draw, args.repeats)
    results.append(
        {"name": "draw only", "seconds": statistics.median(walls), "cpu_seconds": statistics.median(cpus)}
    )

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "clip.mp4"

        def encode() -> None:
            write_video(target, [("ground truth", truth), ("speech2gesture", model)], PATS48, fps=FPS,
                        audio=speech, sample_rate=SAMPLE_RATE, size=size, speaker="oliver")  # fmt: skip

        walls, cpus = timed_runs(encode, args.repeats)
        results.append(
            {
                "name": "draw + encode + mux (with audio)",
                "seconds": statistics.median(walls),
                "cpu_seconds": statistics.median(cpus),
                "file_bytes": target.stat().st_size,
            }
        )
    for result in results:
        result.update(
            frames=args.frames,
            size=f"{size[0]}x{size[1]}",
            panels=2,
            repeats=args.repeats,
            frames_per_second=args.frames / result["seconds"],
            load_average_1min=os.getloadavg()[0],
            cpus=os.cpu_count(),
        )
        print(json.dumps(result))
    print()
    print(
        f"| measurement ({args.frames} frames, {size[0]}×{size[1]}, 2 panels) | median s | frames/s | CPU s |"
    )
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['seconds']:.2f} | {r['frames_per_second']:.0f} | {r['cpu_seconds']:.2f} |")


if __name__ == "__main__":
    main()
