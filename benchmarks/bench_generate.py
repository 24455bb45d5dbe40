"""Generation speed: real-time factor of ``GestureGenerator`` on 60 s of speech, on the CPU.

Two measurements, each repeated (after one warm-up call) with the median kept:

(a) **model alone**: ``generate_features`` on precomputed, normalised pose-clock features (windowing,
    batched forward passes and the cross-fade). The reference reports 1200× real time (50 ms per 60 s) for
    the same Speech2Gesture architecture; it runs one fixed 64-frame window per sample, while ours takes any
    length, so it is timed with the default 64-frame windows overlapping by 16 (1.33× the frames of the
    speech), with 256-frame windows overlapping by 32, and as one 900-frame pass (no windows at all).
(b) **end to end**: ``generate`` on a 60 s 16-bit WAV file: decode, log-mel, alignment to the pose clock,
    normalisation, model, cross-fade, denormalisation. Target ≥ 300× real time. Feature extraction alone
    (decode + log-mel + alignment) is timed too, to show where the time goes.

The model is an **untrained** ``speech2gesture`` (reference widths, 7.4 M parameters, eval mode: the cost
does not depend on the weights). Its normaliser uses the log-mel mean and standard deviation of the
benchmark speech itself for the audio (so the network sees unit-scale inputs, as a trained one would) and
identity statistics for the poses. The speech is the synthetic corpus' syllable model (phrases, pauses,
four vowels). The 1-minute load average is recorded: other processes on the machine skew wall-clock times.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_generate.py --repeats 7

prints one JSON line per measurement, then a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
import torch
from timing import timed_runs

from cospeech.audio import SAMPLE_RATE, load_audio
from cospeech.data.normalize import Normalizer
from cospeech.data.spec import DataSpec
from cospeech.data.synth.speech import random_voice, render_speech, syllable_timeline
from cospeech.data.windows import POSE_FPS, WINDOW_SECONDS
from cospeech.inference import GestureGenerator, pose_clock_features
from cospeech.models import build_model
from cospeech.skeletons import PATS48
from cospeech.training.metadata import Component, RunMetadata

REFERENCE_MS_PER_MINUTE = 50.0  # 1200× real time, reported by the reference for S2G
SPEAKER = "bench"


def _median_seconds(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and process-CPU seconds (all threads) over ``repeats`` calls, after one warm-up call."""
    function()
    walls, cpus = timed_runs(function, repeats)
    return statistics.median(walls), statistics.median(cpus)


def build_pipeline(speech: np.ndarray, *, window: int, overlap: int) -> GestureGenerator:
    """An untrained speech2gesture with audio statistics of ``speech`` and identity pose statistics."""
    features = pose_clock_features(speech)
    pose_dim = 2 * PATS48.num_joints
    normalizer = Normalizer(
        mean={"audio": torch.tensor(features.mean(0))[None], "pose": torch.zeros(1, pose_dim)},
        std={"audio": torch.tensor(features.std(0))[None], "pose": torch.ones(1, pose_dim)},
    )
    torch.manual_seed(0)
    generator = build_model("speech2gesture")
    spec = DataSpec(
        format="pats",
        skeleton=PATS48.name,
        pose_key="pose/normalize",
        audio_key="audio/log_mel_400",
        audio_dim=features.shape[1],
        speakers=(SPEAKER,),
        fps=POSE_FPS,
        window_seconds=WINDOW_SECONDS,
        audio_rate_mode="exact",
        normalization="pooled",
    )
    component = Component("speech2gesture", dataclasses.asdict(generator.config), "generator.")
    metadata = RunMetadata(model=component, data=spec, normalizer=normalizer, recipe="benchmark")
    return GestureGenerator(generator, metadata, window_frames=window, overlap_frames=overlap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the speech (default 60)")
    parser.add_argument("--repeats", type=int, default=7, help="runs per measurement; the median is reported")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    voice = random_voice(rng)
    speech = render_speech(syllable_timeline(voice, args.seconds, rng), voice, args.seconds, SAMPLE_RATE, rng)
    pipes = {
        "64 / 16": build_pipeline(speech, window=64, overlap=16),
        "256 / 32": build_pipeline(speech, window=256, overlap=32),
    }
    normalizer = pipes["64 / 16"].normalizer
    z_audio = normalizer.normalize("audio", pose_clock_features(speech)[None], np.array([0]))[0]  # (T, F)
    frames = len(z_audio)
    pipes[f"{frames} / 0 (one pass)"] = build_pipeline(speech, window=frames, overlap=0)
    results = []

    def record(name: str, windows: str, function: Callable[[], object]) -> None:
        wall, cpu = _median_seconds(function, args.repeats)
        results.append({"name": name, "windows": windows, "seconds": wall, "cpu_seconds": cpu})

    for windows, pipe in pipes.items():
        record("(a) model alone", windows, lambda p=pipe: p.generate_features(z_audio, speaker=SPEAKER))
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        soundfile.write(wav, speech, SAMPLE_RATE, subtype="PCM_16")
        record("(b) decode + log-mel + align", "-", lambda: pose_clock_features(load_audio(wav)))
        for windows in ("64 / 16", "256 / 32"):
            record("(b) end to end", windows, lambda p=pipes[windows]: p.generate(wav, speaker=SPEAKER))

    for result in results:
        result.update(
            speech_seconds=args.seconds,
            pose_frames=frames,
            real_time_factor=args.seconds / result["seconds"],
            ms_per_minute=1000 * result["seconds"] * 60 / args.seconds,
            repeats=args.repeats,
            torch_threads=torch.get_num_threads(),
            load_average_1min=os.getloadavg()[0],
            cpus=os.cpu_count(),
        )
        print(json.dumps(result))
    print()
    print(f"| measurement ({args.seconds:.0f} s of speech, CPU, {torch.get_num_threads()} threads) "
          "| windows / overlap | median ms | ms per 60 s | × real time | CPU s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['name']} | {r['windows']} | {1000 * r['seconds']:.0f} | {r['ms_per_minute']:.0f} "
            f"| {r['real_time_factor']:.0f}× | {r['cpu_seconds']:.2f} |"
        )
    print(f"| reference S2G (model alone, one 64-frame window per sample) | - | - | "
          f"{REFERENCE_MS_PER_MINUTE:.0f} | 1200× | - |")  # fmt: skip


if __name__ == "__main__":
    main()
