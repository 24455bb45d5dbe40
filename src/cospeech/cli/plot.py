"""``cospeech plot``: a run's training and dev curves, evaluation bars and continual heatmaps (PNG, SVG)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  cospeech plot runs/speech2gesture/version_0                 # → runs/speech2gesture/version_0/plots/
  cospeech plot runs/continual/cdiffgan/k28/seed1 --out figs/  # forgetting heatmaps of a chain
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "plot",
        help="plot a run's training/dev curves, evaluation against baselines, continual heatmaps",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "folder", metavar="RUN", type=Path, help="a run folder (runs/<name>/version_<n>) or a continual chain"
    )
    parser.add_argument("--out", type=Path, help="output directory (default: <run>/plots)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cospeech.plots import plot_run

    for path in plot_run(args.folder, args.out):
        print(f"plot: {path}")
    return 0
