"""``cospeech quickstart``: the whole system working on this machine, on the built-in corpus.

1. writes the built-in corpus (5 speakers × 15 minutes, PATS format) unless it is already there;
2. trains Speech2Gesture on one speaker with ``configs/quickstart.yaml`` (about 5 minutes on 2 CPU cores);
3. scores it on held-out test windows next to the mean-pose, random-window and nearest-neighbour
   baselines and the oracle, and prints the table and the share of the baseline-to-oracle gap it closed;
4. renders held-out clips (ground truth | generated, with the speech) and an HTML gallery;
5. leaves ``<out>/speech.wav``, the speech of a held-out interval, which the README's examples read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = Path("quickstart_out")
SPEAKER = "ava"
SPEECH_FILE = "speech.wav"
TRANSCRIPT_FILE = "speech.json"
"""Left in the output directory: speech of a held-out interval, for trying ``cospeech generate`` on."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "quickstart",
        help="make the built-in corpus, train, evaluate and render: the whole system in a few minutes",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"working directory (default {DEFAULT_OUT})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the corpus and training")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the quickstart config's)")
    parser.add_argument("--clips", type=int, default=4, help="held-out clips to render (default 4)")
    parser.add_argument(
        "--minutes", type=float, default=15.0, help="minutes of speech per speaker in the corpus (default 15)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cospeech.data.inspect import corpus_table, format_table
    from cospeech.data.synth import synthesize_corpus
    from cospeech.evaluation import evaluate, gap_closed
    from cospeech.inference.clips import render_clips
    from cospeech.training.engine import run_cli

    args.out.mkdir(parents=True, exist_ok=True)
    corpus = args.out / "corpus"
    if not (corpus / "cmu_intervals_df.csv").is_file():
        print(f"[1/4] writing the built-in corpus to {corpus} …", flush=True)
        summary = synthesize_corpus(corpus, minutes=args.minutes, seed=args.seed)
        print(
            f"      {len(summary.speakers)} speakers, {summary.seconds / 60:.1f} min of speech in all "
            f"(generated in {summary.elapsed:.1f} s)"
        )
    else:
        print(f"[1/4] using the built-in corpus at {corpus}")
    print(format_table(corpus_table(corpus)))
    speech = keep_speech_file(corpus, args.out / SPEECH_FILE)

    print(f"\n[2/4] training Speech2Gesture on {SPEAKER!r} (configs/quickstart.yaml) …", flush=True)
    overrides = [
        "--data.root",
        str(corpus),
        "--run.root",
        str(args.out / "runs"),
        "--seed_everything",
        str(args.seed),
    ]
    if args.epochs is not None:
        overrides += ["--trainer.max_epochs", str(args.epochs)]
    cli = run_cli(["fit", "--config", "quickstart", *overrides])
    run_dir = Path(cli.trainer.logger.log_dir)

    print(f"\n[3/4] scoring {run_dir} on held-out test windows …", flush=True)
    result = evaluate(run_dir, baselines=True, seed=args.seed)
    print(result.table())
    print(f"gap closed (L1, mean pose → oracle): {gap_closed(result, 'L1'):.2f}")
    print(f"wrote {result.write(run_dir / 'evaluation_test.json')}")

    print(f"\n[4/4] rendering {args.clips} held-out clips …", flush=True)
    gallery = render_clips([run_dir], count=args.clips, split="test")
    for video in gallery.videos:
        print(f"video:   {video}")
    print(f"gallery: {gallery.page}")

    print(f"\nspeech:  {speech} (a held-out test interval of {SPEAKER!r}, not seen in training)")
    print("next, for example:")
    print(f"  cospeech generate {speech} --checkpoint {run_dir} --speaker {SPEAKER} -o out/talk --format all")
    print(f"  cospeech export {run_dir} -o models/s2g")
    return 0


def keep_speech_file(corpus: Path, out: Path) -> Path:
    """Copy the speech of the first test interval of `SPEAKER` to ``out`` as 16-bit WAV, and its word
    timings next to it (``speech.json``, the format ``--transcript`` reads), so the README's ``generate``
    and Python examples have a real speech file and transcript to read (the model never trained on them)."""
    import json

    import soundfile

    from cospeech.data.corpus import open_corpus
    from cospeech.errors import DataError
    from cospeech.files import atomic_write

    opened = open_corpus(corpus)
    interval = opened.interval_ids(SPEAKER, "test")[0]
    source = opened.raw_audio(SPEAKER, interval)
    if source is None:
        raise DataError(f"{corpus}: interval {interval} of {SPEAKER!r} has no speech file under raw/")
    waveform, rate = soundfile.read(source, dtype="int16")
    with atomic_write(out) as temporary:
        soundfile.write(temporary, waveform, rate, subtype="PCM_16")
    words = [
        {"word": w.word, "start": w.start, "end": w.end} for w in opened.transcript(SPEAKER, interval) or []
    ]
    with atomic_write(out.with_name(TRANSCRIPT_FILE)) as temporary:
        temporary.write_text(json.dumps(words, indent=1))
    return out
