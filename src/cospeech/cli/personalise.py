"""``cospeech personalise``: a recording of one person → a trained multi-speaker model that also gestures like
them (import, few-shot adaptation with replay, evaluation; ``docs/personalise.md``)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  cospeech personalise --recording recordings/maria --name maria --base runs/mix_stage/version_0 --out maria
  cospeech personalise --recording recordings/maria --name maria --base runs/mix_stage/version_0 \\
      --out maria2 --minutes 2 --trainer.max_epochs 8
  cospeech personalise --recording recordings/maria --name maria --base runs/mix_stage/version_0 \\
      --out maria3 --minutes 0.5 --mode adapt
The recording folder holds keypoints/ (OpenPose JSON) or COCO-WholeBody JSON, and the video or audio file.
Fit arguments (--trainer.*, --data.*, --model.*) override the adaptation task's settings. Without
--trainer.max_epochs the epochs grow with the data: 2.5 passes over the person's windows, between the
preset's epochs and 3x them. With under 1 min of training data (--mode auto) nothing is trained: the
person's style vector and pose statistics are fitted to the base model instead (docs/personalise.md).
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "personalise",
        help="import a recording of one person and add them to a trained Mix-StAGE model",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--recording", type=Path, required=True, help="folder with keypoints and speech")
    parser.add_argument("--name", required=True, help="the person's speaker name (lower-case, digits, _)")
    parser.add_argument("--base", type=Path, required=True, help="trained multi-speaker Mix-StAGE run")
    parser.add_argument("--out", type=Path, required=True, help="folder for the corpus, the run and results")
    parser.add_argument("--minutes", type=float, help="use only the first M minutes of training data")
    parser.add_argument("--fps", type=float, help="frame rate of the keypoints (default: the video's)")
    parser.add_argument(
        "--mode",
        choices=("auto", "adapt", "calibrate"),
        default="auto",
        help="adapt: train a few-shot task with replay; calibrate: no training, fit the person's style "
        "vector and pose statistics to the base model; auto (default): calibrate under 1 min of "
        "training data, else adapt",
    )
    parser.add_argument(
        "--method", default="cdiffgan", help="continual method (default cdiffgan: C-DiffGAN's replay)"
    )
    parser.add_argument(
        "--preset", default="synth_small", help="task settings from this preset (default synth_small)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the adaptation or of the calibration's batches (default 1)",
    )
    parser.set_defaults(run=run, passes_unknown_args=True)


def run(args: argparse.Namespace) -> int:
    from cospeech.cli.continual import fit_arguments
    from cospeech.continual.personalise import personalise, summary_lines

    result = personalise(
        args.recording,
        args.name,
        args.base,
        args.out,
        minutes=args.minutes,
        fps=args.fps,
        mode=args.mode,
        method=args.method,
        preset=args.preset,
        seed=args.seed,
        overrides=fit_arguments(args.lightning_args),
        progress=lambda message: print(message, flush=True),
    )
    print("\n".join(summary_lines(result.summary)))
    return 0
