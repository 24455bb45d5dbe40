"""``cospeech demo``: a local web page turning uploaded or recorded speech into gestures (Gradio)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  cospeech demo --checkpoint quickstart/runs/quickstart/version_0
  cospeech demo --checkpoint runs/s2g/version_0 --checkpoint runs/mix_stage/version_0 --port 7861
  cospeech demo --checkpoint models/s2g --label "Speech2Gesture" --host 0.0.0.0   # reachable from the LAN

Needs Gradio: pip install 'cospeech[demo]'.
"""


def register(commands: argparse._SubParsersAction) -> None:
    from cospeech.demo import DEFAULT_CACHE_SIZE, DEFAULT_HOST, MAX_SECONDS

    parser = commands.add_parser(
        "demo",
        help="serve a local web page: speech in (upload or record), gestures out, runs side by side",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--checkpoint", action="append", required=True, help="a run, .ckpt or exported model; repeat for more"
    )
    parser.add_argument("--label", action="append", help="a name per checkpoint, in order")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine)"
    )
    parser.add_argument("--port", type=int, help="port (default: Gradio's, 7860, or the next free one)")
    parser.add_argument(
        "--cache",
        type=Path,
        help="where results are kept (default: the temporary folder); the demo's subfolder goes on exit",
    )
    parser.add_argument(
        "--cache-size",
        type=int,
        default=DEFAULT_CACHE_SIZE,
        help=f"results kept (default {DEFAULT_CACHE_SIZE})",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=MAX_SECONDS,
        help=f"longest speech accepted (default {MAX_SECONDS:g})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from cospeech.demo import serve

    if importlib.util.find_spec("gradio") is None:  # not imported here: it reads GRADIO_TEMP_DIR on import
        from cospeech.errors import ConfigError

        raise ConfigError("the demo needs Gradio: pip install 'cospeech[demo]'")
    serve(
        args.checkpoint, host=args.host, port=args.port, labels=args.label, cache=args.cache,
        cache_size=args.cache_size, max_seconds=args.max_seconds,
    )  # fmt: skip
    return 0
