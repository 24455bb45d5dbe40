"""``cospeech evaluate``: the metric table of a trained model, per speaker, with baselines and the oracle."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  cospeech evaluate --checkpoint runs/speech2gesture/version_0 --baselines
  cospeech evaluate --checkpoint runs/mix_stage/version_0 --baselines   # words and speakers as trained
  cospeech evaluate --checkpoint runs/s2g/version_0/checkpoints/best.ckpt --split dev --speakers ava
  cospeech evaluate --checkpoint runs/speech2gesture --data /path/to/pats/data --out scores.json
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="score a trained model per speaker (L1, PCK, PCK_ref, FID, W1, diversity), with baselines",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help="run directory or .ckpt file")
    parser.add_argument("--data", help="PATS root (default: the one the run was trained on)")
    parser.add_argument("--speakers", nargs="+", help="only these speakers (default: all the model knows)")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"), help="default test")
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="also score mean-pose, random-window, nearest-neighbour, oracle",
    )
    parser.add_argument("--out", type=Path, help="metrics JSON (default: <run>/evaluation_<split>.json)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per forward pass")
    parser.add_argument(
        "--cache-dir",
        help="window cache (default: the run's --data.cache_dir if it exists, else <data>/.cospeech_cache)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random-window baseline")
    parser.add_argument(
        "--fgd", metavar="AE_RUN", help="pose auto-encoder run whose encoder gives FGD features"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cospeech.evaluation import evaluate  # imports torch/Lightning only when used
    from cospeech.training.checkpoints import resolve_checkpoint

    result = evaluate(
        args.checkpoint,
        data_root=args.data,
        speakers=args.speakers,
        split=args.split,
        baselines=args.baselines,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        seed=args.seed,
        fgd_extractor=args.fgd,
    )
    windows = sum(result.windows.values())
    print(
        f"{args.split} split: {len(result.speakers)} speaker(s), {windows} non-overlapping windows "
        f"(scored in {result.seconds:.1f} s)"
    )
    print(result.table())
    out = args.out or resolve_checkpoint(args.checkpoint).parent.parent / f"evaluation_{args.split}.json"
    print(f"wrote {result.write(out)}")
    return 0
