"""Generation speed: real-time factor of ``GestureGenerator`` against the path it replaced, in one run.

Three measurements, interleaved round by round (after one warm-up round) with the medians kept:

(a) **model alone**: ``generate_features`` on precomputed, normalised pose-clock features (windowing,
    batched forward passes and the cross-fade, on the device), and the baseline's (``baseline_poses``).
    The reference reports 1200× real time (50 ms per 60 s) for the same Speech2Gesture architecture; it
    runs one fixed 64-frame window per sample, while ours takes any length, so it is timed with the
    default 64-frame windows overlapping by 16 (1.33× the frames of the speech), with 256-frame windows
    overlapping by 32, and as one pass (no windows).
(b) **features**: decode + features on the pose clock, NumPy/librosa (``pose_clock_features``, the
    baseline) and torch on the device (``pose_clock_features_torch``, what ``generate`` runs).
(c) **end to end**: a 16-bit WAV file → poses. ``generate`` (features on the device, windows batched as
    views and split across the torch threads, cross-fade on the device, one transfer back, the audio
    encoder's eval shortcut of ``cospeech.models.layers``) against the **baseline**, generation as it was
    when issue 15 was filed (main @ de0c042), re-composed here from the same pieces: NumPy features
    (levelled ones computed twice), windows gathered on the host per batch, one forward pass per batch on
    every torch thread, every window's output copied back and cross-faded in NumPy, and the generator as
    it was (``as_at_issue``: BatchNorm not folded; in the audio encoder full mel width up to the last two
    layers, the first layer as oneDNN's one-channel convolution, weights in NCHW). The poses are compared
    (largest difference, pixels).

The model is an **untrained** ``speech2gesture`` (reference widths, 7.4 M parameters, eval mode: the cost
does not depend on the weights). Its normaliser uses the features' mean and standard deviation of the
benchmark speech itself for the audio (so the network sees unit-scale inputs, as a trained one would) and
identity statistics for the poses; ``--audio-level utterance`` (default, what trained runs record) levels
the features. The speech is the synthetic corpus' syllable model (phrases, pauses, four vowels). Machine,
threads, device and the 1-minute load average are printed first: other processes skew wall-clock times,
so process CPU seconds are printed too.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_generate.py --repeats 7 [--device cuda]

prints one JSON line per measurement, then a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
import torch
from timing import interleaved, machine

from cospeech.audio import SAMPLE_RATE, load_audio
from cospeech.data.normalize import Normalizer
from cospeech.data.spec import DataSpec
from cospeech.data.synth.speech import random_voice, render_speech, syllable_timeline
from cospeech.data.windows import POSE_FPS, WINDOW_SECONDS
from cospeech.inference import GestureGenerator, pose_clock_features, pose_clock_features_torch
from cospeech.inference.pipeline import crossfade_weights, window_starts
from cospeech.models import Generator, build_model
from cospeech.models.layers import AudioEncoder
from cospeech.skeletons import PATS48
from cospeech.training.metadata import Component, RunMetadata

REFERENCE_MS_PER_MINUTE = 50.0  # 1200× real time, reported by the reference for S2G
SPEAKER = "bench"


def untrained_generator() -> Generator:
    """The benchmark's speech2gesture: reference widths, weights drawn from seed 0."""
    torch.manual_seed(0)
    return build_model("speech2gesture")


def build_pipeline(
    speech: np.ndarray, *, window: int, overlap: int, level: str, device: str
) -> GestureGenerator:
    """An untrained speech2gesture with audio statistics of ``speech`` and identity pose statistics."""
    features = pose_clock_features(speech, level=level)
    pose_dim = 2 * PATS48.num_joints
    normalizer = Normalizer(
        mean={"audio": torch.tensor(features.mean(0))[None], "pose": torch.zeros(1, pose_dim)},
        std={"audio": torch.tensor(features.std(0))[None], "pose": torch.ones(1, pose_dim)},
    )
    generator = untrained_generator()
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
        audio_level=level,
    )
    component = Component("speech2gesture", dataclasses.asdict(generator.config), "generator.")
    metadata = RunMetadata(model=component, data=spec, normalizer=normalizer, recipe="benchmark")
    return GestureGenerator(generator, metadata, window_frames=window, overlap_frames=overlap).to(device)


def earlier_column_zero(encoder: AudioEncoder, audio: torch.Tensor) -> torch.Tensor:
    """``AudioEncoder._column_zero`` as on main @ de0c042 (and a519ee8): every layer at full mel width but
    the last two, which compute only the columns that reach column 0."""
    penultimate, last = encoder.convs[-2], encoder.convs[-1]
    x = encoder.convs[:-2](audio.unsqueeze(1))
    reach = last.conv.kernel_size[1] - last.conv.padding[1]
    x = penultimate(x[..., : reach + 1])[..., :reach]
    return last(x)[..., 0]


def as_at_issue(pipe: GestureGenerator) -> GestureGenerator:
    """``pipe`` with its generator as on main @ de0c042: the same weights with the BatchNorms unfolded (the
    pipeline runs a folded copy), the audio encoder's earlier eval shortcut (``earlier_column_zero``) and its
    weights in torch's default (NCHW) layout."""
    pipe.generator = untrained_generator().eval().to(pipe.device)
    for module in pipe.generator.modules():
        if isinstance(module, AudioEncoder):
            module.convs.to(memory_format=torch.contiguous_format)
            module._column_zero = types.MethodType(earlier_column_zero, module)
    return pipe


def with_bf16_model(pipe: GestureGenerator) -> GestureGenerator:
    """``pipe`` with its generator's forward under bf16 autocast (features, cross-fade and poses stay
    float32): what an opt-in bf16 generation would buy, measured, not offered."""
    forward = pipe.generator.forward
    device_type = pipe.device.type

    def autocast_forward(*args: object, **kwargs: object) -> object:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            return forward(*args, **kwargs)

    pipe.generator.forward = autocast_forward
    return pipe


def baseline_generate(pipe: GestureGenerator, wav: Path) -> np.ndarray:
    """Poses (T, J, 2) the way ``generate`` made them when issue 15 was filed (main @ de0c042): NumPy
    features on the host, then `baseline_poses`. ``pipe``: `as_at_issue`."""
    _, _, waveform = pipe._speech(wav, None)
    raw = pose_clock_features(waveform, feature=pipe.feature, level=pipe.metadata.data.audio_level)
    z = pipe.normalizer.normalize("audio", raw[None], np.array([0]))[0]
    return pipe.representation.to_pixels(baseline_poses(pipe, z)[None], 0)[0]


def baseline_poses(pipe: GestureGenerator, z: np.ndarray) -> np.ndarray:
    """Model-space poses (T, 2J) of normalised features ``z`` (T, F) as main @ de0c042 made them: each batch
    of windows gathered on the host and sent to the device, one forward pass per batch on every torch
    thread, every output copied back and cross-faded window by window in NumPy."""
    T, W = len(z), pipe.window_frames
    starts = window_starts(T, window=W, overlap=pipe.overlap_frames)
    padded = np.concatenate((z, np.repeat(z[-1:], int(starts[-1]) + W - T, axis=0)))
    out = np.zeros((len(padded), pipe.generator_pose_dim), dtype=np.float32)
    fade_in, fade_out = crossfade_weights(W, pipe.overlap_frames)
    frames = np.arange(W)
    with torch.inference_mode():
        for first in range(0, len(starts), pipe.batch_size):
            batch_starts = starts[first : first + pipe.batch_size]
            x = torch.from_numpy(padded[batch_starts[:, None] + frames]).to(pipe.device)
            y = pipe.generator(x).poses.float().cpu().numpy()
            for i, start in enumerate(batch_starts):
                weight = np.ones(W, dtype=np.float32)
                if start > 0:
                    weight *= fade_in
                if first + i < len(starts) - 1:
                    weight *= fade_out
                out[start : start + W] += weight[:, None] * y[i]
    return out[:T]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the speech (default 60)")
    parser.add_argument("--repeats", type=int, default=7, help="rounds per measurement; medians are reported")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--audio-level", default="utterance", choices=("utterance", "none"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    print(json.dumps(machine(args.device)))
    rng = np.random.default_rng(0)
    voice = random_voice(rng)
    speech = render_speech(syllable_timeline(voice, args.seconds, rng), voice, args.seconds, SAMPLE_RATE, rng)
    level = args.audio_level
    settings = {"64 / 16": (64, 16), "256 / 32": (256, 32)}
    pipes = {
        w: build_pipeline(speech, window=a, overlap=b, level=level, device=args.device)
        for w, (a, b) in settings.items()
    }
    baselines = {
        w: as_at_issue(build_pipeline(speech, window=a, overlap=b, level=level, device=args.device))
        for w, (a, b) in settings.items()
    }
    normalizer = pipes["64 / 16"].normalizer
    z_audio = normalizer.normalize("audio", pose_clock_features(speech, level=level)[None], np.array([0]))[0]
    frames = len(z_audio)
    one_pass = f"{frames} / 0 (one pass)"
    pipes[one_pass] = build_pipeline(speech, window=frames, overlap=0, level=level, device=args.device)
    measures: dict[str, tuple[str, str, Callable[[], object]]] = {}
    measures["model baseline 64 / 16"] = (
        "(a) model alone, baseline",
        "64 / 16",
        lambda: baseline_poses(baselines["64 / 16"], z_audio),
    )
    for windows, pipe in pipes.items():
        measures[f"model {windows}"] = (
            "(a) model alone, generate",
            windows,
            lambda p=pipe: p.generate_features(z_audio, speaker=SPEAKER),
        )
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        soundfile.write(wav, speech, SAMPLE_RATE, subtype="PCM_16")

        def device_features() -> None:
            pose_clock_features_torch(torch.from_numpy(load_audio(wav)).to(args.device), level=level)
            sync()

        measures["features baseline"] = (
            "(b) decode + features, NumPy (baseline)",
            "-",
            lambda: pose_clock_features(load_audio(wav), level=level),
        )
        measures["features device"] = ("(b) decode + features, torch on the device", "-", device_features)
        bf16 = with_bf16_model(build_pipeline(speech, window=64, overlap=16, level=level, device=args.device))
        measures["bf16 64 / 16"] = (
            "(c) end to end, generate, model in bf16 autocast (not offered)",
            "64 / 16",
            lambda: bf16.generate(wav, speaker=SPEAKER),
        )
        for windows in settings:
            measures[f"baseline {windows}"] = (
                "(c) end to end, baseline",
                windows,
                lambda p=baselines[windows]: baseline_generate(p, wav),
            )
            measures[f"device {windows}"] = (
                "(c) end to end, generate",
                windows,
                lambda p=pipes[windows]: p.generate(wav, speaker=SPEAKER),
            )
        timings = interleaved({key: m[2] for key, m in measures.items()}, args.repeats)
        reference = baseline_generate(baselines["64 / 16"], wav)
        differences = {
            f"generate {windows}": float(
                np.abs(pipes[windows].generate(wav, speaker=SPEAKER).poses - baseline_generate(b, wav)).max()
            )
            for windows, b in baselines.items()
        }
        differences["largest |pose| of the baseline"] = float(np.abs(reference).max())
        differences["bf16 64 / 16"] = float(
            np.abs(bf16.generate(wav, speaker=SPEAKER).poses - reference).max()
        )
    results = {}
    for key, (name, windows, _) in measures.items():
        walls, cpus = timings[key]
        wall = statistics.median(walls)
        results[key] = {
            "name": name,
            "windows": windows,
            "seconds": wall,
            "cpu_seconds": statistics.median(cpus),
            "runs": [round(w, 4) for w in walls],
            "cpu_runs": [round(c, 4) for c in cpus],
            "real_time_factor": args.seconds / wall,
            "ms_per_minute": 1000 * wall * 60 / args.seconds,
        }
        print(
            json.dumps(
                {**results[key], "speech_seconds": args.seconds, "pose_frames": frames, "audio_level": level}
            )
        )
    print(json.dumps({"largest_pose_difference_px": differences}))
    print()
    info = machine(args.device)
    setting = f"{args.seconds:.0f} s of speech, {info['device']}, {info['torch_threads']} threads, {level}"
    columns = "windows / overlap | median ms | ms per 60 s | × real time | CPU s | speed-up"
    print(f"| measurement ({setting}) | {columns} |")
    print("|---|---|---|---|---|---|---|")
    for key, r in results.items():
        bases = {
            "model 64 / 16": ["model baseline 64 / 16"],
            "features device": ["features baseline"],
            "device 64 / 16": ["baseline 64 / 16"],
            "device 256 / 32": ["baseline 256 / 32"],
            "bf16 64 / 16": ["baseline 64 / 16"],
        }.get(key, [])
        speedup = "; ".join(
            f"**{results[b]['seconds'] / r['seconds']:.2f}×** "
            f"(CPU {results[b]['cpu_seconds'] / r['cpu_seconds']:.2f}×) "
            f"vs {results[b]['name'].split(', ')[-1]}"
            for b in bases
        )
        print(
            f"| {r['name']} | {r['windows']} | {1000 * r['seconds']:.0f} | {r['ms_per_minute']:.0f} "
            f"| {r['real_time_factor']:.0f}× | {r['cpu_seconds']:.2f} | {speedup} |"
        )
    print(f"| reference S2G (model alone, one 64-frame window per sample) | - | - | "
          f"{REFERENCE_MS_PER_MINUTE:.0f} | 1200× | - | |")  # fmt: skip
    print(f"\nlargest pose difference vs the baseline: {differences} px")


if __name__ == "__main__":
    main()
