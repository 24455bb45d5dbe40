"""``cospeech render``: held-out clips (ground truth next to one or more models) with sound, and a gallery."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  cospeech render --checkpoint runs/speech2gesture/version_0 --split test -n 20
  cospeech render --checkpoint runs/s2g/version_0 runs/s2g_big/version_0 -n 8 --out comparison/
  cospeech render --checkpoint runs/a/version_0 runs/b/version_0 --label small --label big --loudness
  cospeech render --checkpoint runs/mix_stage/version_0 --style-transfer -n 3
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "render",
        help="render held-out clips (ground truth | models) with sound, and an HTML gallery",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", nargs="+", required=True, help="one or more runs (side by side)")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"), help="default test")
    parser.add_argument("-n", "--count", type=int, default=20, help="clips to render (default 20)")
    parser.add_argument("--out", type=Path, help="output directory (default: the first run's directory)")
    parser.add_argument("--data", help="PATS root (default: the one the first run was trained on)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip choice")
    parser.add_argument(
        "--style-transfer",
        action="store_true",
        help="one multi-speaker run: each clip's speech in every speaker's style, side by side",
    )
    parser.add_argument(
        "--label",
        action="append",
        help="a panel and table name per checkpoint, in order (default: each run's folder, name/version_N)",
    )
    parser.add_argument(
        "--loudness", action="store_true", help="show the speech's loudness under the figures, with a cursor"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cospeech.inference.clips import render_clips

    rendered = render_clips(
        args.checkpoint, count=args.count, split=args.split, out_dir=args.out, data_root=args.data,
        seed=args.seed, style_transfer=args.style_transfer, labels=args.label, loudness=args.loudness,
    )  # fmt: skip
    for video in rendered.videos:
        print(f"video:   {video}")
    print(f"gallery: {rendered.page}")
    return 0
