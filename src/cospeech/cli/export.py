"""``cospeech export``: a run's generator as a self-contained model directory (safetensors + JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  cospeech export runs/speech2gesture/version_0 -o models/s2g
  cospeech export runs/speech2gesture/version_0/checkpoints/last.ckpt -o models/s2g_last
  cospeech generate talk.wav --checkpoint models/s2g --speaker ava -o out/talk.mp4

The directory holds model.safetensors (generator weights only) and config.json (generator, speakers,
normaliser statistics, feature settings); loading it unpickles nothing and needs no training config.
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="export a run's generator for inference (safetensors + config.json)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_or_ckpt", type=Path, help="run directory or .ckpt file")
    parser.add_argument("-o", "--out", required=True, type=Path, help="model directory to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cospeech.inference import export_model, load_exported

    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = export_model(args.run_or_ckpt, args.out)
    exported = load_exported(out)
    print(f"wrote {out}: {exported.metadata.model.name}, speakers {', '.join(exported.metadata.speakers)}")
    return 0
