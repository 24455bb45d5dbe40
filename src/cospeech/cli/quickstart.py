"""``cospeech quickstart``: the whole system working on this machine, on the built-in corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from cospeech.data.inspect import corpus_table, format_table
from cospeech.data.synth import synthesize_corpus

DEFAULT_OUT = Path("quickstart_out")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("quickstart", help="make the built-in corpus and show it working end to end")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"working directory (default {DEFAULT_OUT})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the corpus and training")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    corpus = args.out / "corpus"
    if not (corpus / "cmu_intervals_df.csv").is_file():
        print(f"[1/1] writing the built-in corpus to {corpus} …")
        summary = synthesize_corpus(corpus, seed=args.seed)
        print(f"      {summary.seconds / 60:.1f} min of speech in {summary.elapsed:.1f} s")
    else:
        print(f"[1/1] using the built-in corpus at {corpus}")
    print(format_table(corpus_table(corpus)))
    return 0
