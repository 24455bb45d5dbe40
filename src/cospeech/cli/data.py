"""``cospeech data``: make the built-in corpus and inspect corpora of any registered format."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CORPUS = Path("cospeech_data/synth")
SYNTH_FORMATS = ("pats", "sdt")
"""Layouts of ``data synth --format`` (`cospeech.data.synth.corpus.SYNTH_FORMATS`, not imported here so
``--help`` stays fast)."""

EXAMPLES = """examples:
  cospeech data synth --out cospeech_data/synth --speakers 5 --minutes 6 --seed 0
  cospeech data synth --out cospeech_data/synth_sdt --format sdt --speakers 2 --minutes 2
  cospeech data info cospeech_data/synth
  cospeech data info /path/to/pats/data --speakers oliver maher
  cospeech data import --keypoints maria/openpose_json --video maria/talk.mp4 --name maria --out my_corpus
  cospeech data export-recording --speaker eli --out recordings/eli --root cospeech_data/synth
"""


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser(
        "data",
        help="make the built-in corpus; inspect a corpus (PATS, SDT…)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    synth = actions.add_parser(
        "synth", help="write the synthetic multi-speaker corpus (PATS format, or SDT clips)"
    )
    synth.add_argument(
        "--out", type=Path, default=DEFAULT_CORPUS, help=f"output root (default {DEFAULT_CORPUS})"
    )
    synth.add_argument("--speakers", type=int, default=5, help="number of speakers (default 5)")
    synth.add_argument("--minutes", type=float, default=6.0, help="minutes of speech per speaker (default 6)")
    synth.add_argument("--seed", type=int, default=0, help="seed; the same seed gives the same corpus")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing corpus at --out")
    synth.add_argument(
        "--format",
        choices=SYNTH_FORMATS,
        default="pats",
        help="layout: PATS intervals (default) or SDT's 64-frame npz clips with stride 5",
    )
    synth.set_defaults(run=run_synth)

    info = actions.add_parser("info", help="per-speaker table: intervals, minutes, windows per split")
    info.add_argument(
        "root", type=Path, nargs="?", default=DEFAULT_CORPUS, help="corpus root directory (format detected)"
    )
    info.add_argument("--speakers", nargs="+", help="only these speakers")
    info.set_defaults(run=run_info)

    imported = actions.add_parser(
        "import", help="add a recording (pose-estimator keypoints + speech) to a corpus as a new speaker"
    )
    imported.add_argument(
        "--keypoints",
        type=Path,
        required=True,
        help="OpenPose JSON folder or COCO-WholeBody JSON file/folder",
    )
    speech = imported.add_mutually_exclusive_group(required=True)
    speech.add_argument("--audio", type=Path, help="the speech: WAV, FLAC, MP3 …")
    speech.add_argument("--video", type=Path, help="the video: its audio track is the speech")
    imported.add_argument("--name", required=True, help="speaker name (lower-case letters, digits, _)")
    imported.add_argument("--out", type=Path, required=True, help="corpus root to create or to add to")
    imported.add_argument("--fps", type=float, help="frame rate of the keypoints (default: the video's)")
    imported.add_argument("--minutes", type=float, help="keep only the first M minutes of training data")
    imported.add_argument(
        "--format",
        choices=("pats", "sdt"),
        default="pats",
        help="corpus layout: pats (52 joints, default) or sdt (SDT clips of 137 points; needs the face)",
    )
    imported.add_argument("--overwrite", action="store_true", help="replace a speaker of that name")
    imported.set_defaults(run=run_import)

    export = actions.add_parser(
        "export-recording", help="write a corpus speaker as a recording: mp4 with speech + OpenPose JSON"
    )
    export.add_argument("--speaker", required=True, help="speaker of the corpus")
    export.add_argument("--out", type=Path, required=True, help="folder for the recording")
    export.add_argument(
        "--root", type=Path, default=DEFAULT_CORPUS, help=f"PATS corpus root (default {DEFAULT_CORPUS})"
    )
    export.add_argument("--no-video", action="store_true", help="keypoints and speech only, no mp4")
    export.set_defaults(run=run_export_recording)


def run_synth(args: argparse.Namespace) -> int:
    from cospeech.data.inspect import corpus_table, format_table  # heavy imports only when used
    from cospeech.data.synth import synthesize_corpus

    summary = synthesize_corpus(
        args.out,
        speakers=args.speakers,
        minutes=args.minutes,
        seed=args.seed,
        overwrite=args.overwrite,
        format=args.format,
    )
    rate = summary.seconds / 60 / max(summary.elapsed, 1e-9)
    print(
        f"wrote {summary.root}: {len(summary.speakers)} speakers, {summary.intervals} intervals, "
        f"{summary.seconds / 60:.1f} min of speech in {summary.elapsed:.1f} s ({rate:.1f} min/s)"
    )
    print(format_table(corpus_table(summary.root), clips=args.format == "sdt"))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from cospeech.data.corpus import open_corpus
    from cospeech.data.inspect import corpus_table, format_table

    clips = open_corpus(args.root).clips
    print(format_table(corpus_table(args.root, args.speakers), clips=clips))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from cospeech.data.importers.recording import import_recording, summary_lines

    result = import_recording(
        args.keypoints,
        args.out,
        args.name,
        audio=args.audio,
        video=args.video,
        fps=args.fps,
        max_train_minutes=args.minutes,
        overwrite=args.overwrite,
        layout=args.format,
    )
    print("\n".join(summary_lines(result.report)))
    print(f"wrote speaker {result.speaker} to {result.root} (report: {result.report_path})")
    return 0


def run_export_recording(args: argparse.Namespace) -> int:
    from cospeech.render.recording import export_recording

    recording = export_recording(args.root, args.speaker, args.out, video=not args.no_video)
    print(
        f"wrote {recording.frames} frames ({recording.seconds / 60:.1f} min) of {args.speaker} to "
        f"{recording.folder}: keypoints in {recording.keypoints}"
        + (f", video {recording.video}" if recording.video else "")
    )
    return 0
