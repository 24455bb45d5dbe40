"""``cospeech`` entry point: assembles the command groups, runs one under the CLI's console rules
(``console.py``) and turns known errors into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cospeech import __version__
from cospeech.cli import (
    console,
    continual,
    data,
    demo,
    evaluate,
    export,
    fit,
    generate,
    models,
    personalise,
    plot,
    quickstart,
    render,
)
from cospeech.errors import CospeechError

COMMAND_GROUPS = (
    data,
    models,
    fit,
    evaluate,
    generate,
    render,
    plot,
    demo,
    export,
    quickstart,
    continual,
    personalise,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cospeech",
        description="Co-speech gesture generation: speech in, a speaker's upper-body 2D gestures out.",
    )
    parser.add_argument("--version", action="version", version=f"cospeech {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "passes_unknown_args", False):
        args.lightning_args = unknown  # fit/validate/test hand their arguments to LightningCLI
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        with console.quiet_console():
            return int(args.run(args) or 0)
    except Exception as exc:
        message = str(exc) if isinstance(exc, CospeechError) else console.configuration_error(exc)
        if message is None or args.debug:
            raise
        print(f"cospeech: error: {message}", file=sys.stderr)
        print("cospeech: run with --debug for the full traceback", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cospeech: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
