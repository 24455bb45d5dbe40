"""``cospeech generate``: speech file in, a speaker's gestures out (npz, OpenPose JSON, CSV, mp4)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from cospeech.errors import ConfigError

EXAMPLES = """examples:
  cospeech generate talk.wav --checkpoint runs/speech2gesture/version_0 --speaker ava -o out/talk
  cospeech generate talk.mp3 --checkpoint models/s2g --speaker ava -o out/talk.mp4
  cospeech generate talk.flac --checkpoint best.ckpt --speaker ben -o out/talk --format all --device cuda
  cospeech generate t.wav --checkpoint runs/ms/version_0 --speaker ava=0.5,ben=0.5 --transcript t.json -o x
  cospeech generate talk.wav --checkpoint runs/sdt_bp/version_0 --speaker ava --template-seed 3 -o out/t3
  cospeech generate talk.wav --checkpoint runs/sdt_bp/version_0 --speaker ava --template-prior 3 -o out/p3

outputs (OUT is a stem; a known suffix also picks the format):
  npz   OUT.npz            poses (T, 48, 2) neck-relative pixels, fps, skeleton, joint_names, speaker
  json  OUT_keypoints/     one OpenPose-style *_keypoints.json per frame (neck at (640, 200))
  csv   OUT.csv            frame,time,joint,x,y
  mp4   OUT.mp4            the skeleton with the speech at its own rate and channels (H.264 + AAC)
"""

FORMAT_CHOICES = ("npz", "json", "csv", "mp4", "all")
SUFFIX_FORMATS = {".npz": "npz", ".json": "json", ".csv": "csv", ".mp4": "mp4"}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "generate",
        help="generate gestures for a speech file with a trained model",
        description="Generate a speaker's gestures (15 poses per second) for speech of any length.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("speech", type=Path, help="speech file (wav, flac, mp3, ogg, m4a …; any rate)")
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="run directory, .ckpt file or exported model directory"
    )
    parser.add_argument(
        "--speaker",
        required=True,
        help="whose style to imitate: a speaker of the model, or for mix_stage a mix such as ava=0.5,ben=0.5 "
        "(weights are normalised to sum 1: ava=1,ben=1 is the same mix)",
    )
    parser.add_argument("-o", "--out", required=True, type=Path, help="output stem or path (see below)")
    parser.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        help="output format (default: from OUT's suffix, else npz); all = every format",
    )
    parser.add_argument(
        "--transcript",
        type=Path,
        help="word timings (.json or .TextGrid): required by models trained with text, ignored by others",
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), help="where the model runs (default: cuda if available)"
    )
    parser.add_argument("--seed", type=int, help="seed for generators that sample")
    template = parser.add_mutually_exclusive_group()
    template.add_argument(
        "--template-seed",
        type=int,
        metavar="N",
        help="SDT models: one template for the whole speech, a training window's drawn uniformly at random "
        "with seed N (the reference's default; other seeds give other gesture styles for the same speech). "
        "With no template option, one is drawn from the run's template_source (a training window unless "
        "trained with prior) with --seed",
    )
    template.add_argument(
        "--template-prior",
        type=int,
        metavar="N",
        help="SDT models: one template for the whole speech, drawn from N(0, I) with seed N "
        "(the reference's SAMPLE_FROM_NORMAL)",
    )
    template.add_argument(
        "--template-from",
        type=int,
        metavar="WINDOW",
        help="SDT models: the template of training window WINDOW, 0 … N − 1 for a run trained on N "
        "windows (speakers in the run's order, then intervals and windows in corpus order; docs/sdt.md)",
    )
    parser.set_defaults(run=run)


def prefer_passive_openmp_wait() -> None:
    """Let idle OpenMP threads sleep at once (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a policy.

    libgomp, torch's OpenMP on Linux, spins a waiting thread before it sleeps; on a machine shared with
    other jobs the spinning thread holds a core that the thread it waits for needs, at each of the
    generator's ≈80 parallel regions per forward pass. On 2 cores shared with other jobs (load average
    6–10) generation ran 3.4–4.7× faster with passive waiting (``benchmarks/bench_generate_threads.py``,
    BENCHMARKS.md, issue 15).
    OpenMP reads the variable once, when torch is loaded, so this only acts before ``import torch``."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def run(args: argparse.Namespace) -> int:
    prefer_passive_openmp_wait()
    import torch

    from cospeech.inference import FORMATS, GestureGenerator, write_gestures

    stem, suffix_format = args.out, SUFFIX_FORMATS.get(args.out.suffix.lower())
    if suffix_format is not None:
        stem = args.out.with_suffix("")
    chosen = args.format or suffix_format or "npz"
    formats = FORMATS if chosen == "all" else (chosen,)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            "--device cuda: no CUDA device is available on this machine; running on the CPU instead "
            "(leave out --device to pick the GPU only where there is one)",
            stacklevel=1,
        )
        device = "cpu"
    pipe = GestureGenerator.from_pretrained(args.checkpoint).to(device)
    inputs = None
    template_options = [
        ("--template-seed", args.template_seed, {"seed": args.template_seed}),
        ("--template-prior", args.template_prior, {"seed": args.template_prior, "source": "prior"}),
        ("--template-from", args.template_from, {"window": args.template_from}),
    ]
    for option, value, choice in template_options:
        if value is not None:
            from cospeech.inference.templates import template_inputs

            try:
                inputs = template_inputs(pipe.generator, **choice)
            except ConfigError as exc:
                raise ConfigError(f"{args.checkpoint}: {option}: {exc}") from None
    gestures = pipe.generate(
        args.speech, speaker=args.speaker, seed=args.seed, transcript=args.transcript, inputs=inputs
    )
    stem.parent.mkdir(parents=True, exist_ok=True)
    for path in write_gestures(gestures, stem, formats):
        print(path)
    return 0
