"""Personalisation from a recording: a held-out built-in speaker, exported as a recording, added to a trained
multi-speaker model with 30 s, 2 min and 10 min of its data.

1. The built-in corpus (``--base-speakers`` + 1 speakers × ``--minutes``); Mix-StAGE (audio only, the
   ``synth_small`` first-task recipe: quarter width, L1 at lr 1e-3, no discriminator) trained on all of them
   but eli (the corpus' 5th; by default ava, ben, cleo, dia): the base model.
2. ``eli`` (never seen by the base) exported as a recording: an mp4 (skeleton + speech) and OpenPose JSON
   (``cospeech data export-recording``).
3. For each data budget: ``cospeech personalise --recording … --name maria --minutes M`` (import from the
   video's audio track and the JSON, one C-DiffGAN task with the ``synth_small`` task settings, 20 batches
   of 32 per epoch, and personalise's budget rule: enough epochs for the person's rows to cover each of
   their windows 2.5 times, between 4 and 12 — 8 and 12 epochs for 2 and 10 min; under 1 min of data, 30 s
   here, no training but calibration: the person's style row and pose statistics fitted to the frozen
   base; ``--mode adapt`` / ``calibrate`` force either, in folders of their own). Then the noise-free
   gesture the corpus generator intended for eli (``oracle/normalize``) is put next to the imported poses,
   frame by frame through the recording's manifest and the import report, so the test windows are scored
   next to the mean pose of that person (fitted on the budget's training data) and the oracle: gap closed =
   (mean pose − model) / (mean pose − oracle) in L1, every row scored in the base speakers' normalised
   space (``evaluate``'s: a calibrated person is scored in their data's row, here the base speakers').
   Forgetting: each base speaker's test L1 after minus before, averaged.
4. Wall time of each step.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_personalise.py --workdir /tmp/pbench

A base of many speakers (BENCHMARKS.md, Personalise: 48 speakers × 3 min, 96 epochs), personalised from the
same 13-minute recording of eli:

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_personalise.py --workdir /tmp/pb48s \
        --base-speakers 48 --minutes 3 --style-rows 64 --base-epochs 96 --recording /tmp/pbench/recording
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from cospeech.cli.main import main as cospeech
from cospeech.data.pats import PatsCorpus
from cospeech.data.synth import synthesize_corpus
from cospeech.data.synth.corpus import speaker_name
from cospeech.evaluation import evaluate, gap_closed
from cospeech.render.recording import MANIFEST

HELD_OUT_INDEX = 4
HELD_OUT = speaker_name(HELD_OUT_INDEX)  # eli
NAME = "maria"
BUDGETS = {"30s": 0.5, "1min": 1.0, "2min": 2.0, "10min": 10.0}


def run(args: list[str]) -> None:
    code = cospeech(args)
    if code:
        raise SystemExit(f"cospeech {' '.join(args)} failed ({code})")


def add_oracle(corpus: Path, recording: Path, name: str) -> None:
    """Store the held-out speaker's ``oracle/normalize`` in each imported interval of ``name``, matched frame
    by frame (recording frame k = k / 15 s; the import report gives each interval's start)."""
    manifest = json.loads((recording / MANIFEST).read_text())
    source = PatsCorpus(manifest["corpus"])
    oracle = np.concatenate(
        [
            source.read(manifest["speaker"], i["id"], ["oracle/normalize"])["oracle/normalize"]
            for i in manifest["intervals"]
        ]
    )
    report = json.loads((corpus / f"import_{name}.json").read_text())
    for interval in report["intervals"]:
        path = corpus / "processed" / name / f"{interval['id']}.h5"
        first = round(interval["start"] * 15)
        with h5py.File(path, "a") as h5:
            frames = h5["pose/normalize"].shape[0]
            if "oracle/normalize" not in h5:
                h5.create_dataset("oracle/normalize", data=oracle[first : first + frames])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pbench"))
    parser.add_argument("--minutes", type=float, default=13.0, help="minutes per speaker in the corpus")
    parser.add_argument("--base-epochs", type=int, default=12)
    parser.add_argument(
        "--base-speakers", type=int, default=4, help="speakers the base model is trained on (4 or more)"
    )
    parser.add_argument(
        "--recording",
        type=Path,
        help="an exported recording of eli to personalise from (default: exported from --workdir's corpus)",
    )
    parser.add_argument(
        "--style-rows", type=int, default=25, help="rows of the base's style table (above --base-speakers)"
    )
    parser.add_argument("--budgets", default="30s,2min,10min", help=f"some of {', '.join(BUDGETS)}")
    parser.add_argument(
        "--mode", default="auto", help="personalise --mode (auto, adapt, calibrate); not auto: own folders"
    )
    args, fit_overrides = parser.parse_known_args()
    if args.base_speakers < HELD_OUT_INDEX:
        parser.error(f"--base-speakers {args.base_speakers}: the held-out speaker is the corpus' 5th, so ≥ 4")
    if args.style_rows <= args.base_speakers:
        parser.error(f"--style-rows {args.style_rows}: the person needs a row beyond the base speakers'")
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    corpus = work / "corpus"
    if not corpus.exists():
        synthesize_corpus(corpus, speakers=args.base_speakers + 1, minutes=args.minutes, seed=0, workers=1)
    base_speakers = [speaker_name(i) for i in range(args.base_speakers + 1) if i != HELD_OUT_INDEX]
    seconds["corpus"] = time.perf_counter() - started

    step = time.perf_counter()
    base = work / "runs" / "base" / "version_0"
    if not (base / "final_metrics.json").is_file():
        run(["fit", "--config", "mix_stage", "--data.root", str(corpus), "--data.text_key", "null",
             "--data.speakers", json.dumps(base_speakers), "--data.batch_size", "32",
             "--data.train_batches", "40", "--model.init_args.generator_config.channels", "64",
             "--model.init_args.generator_config.max_num_speakers", str(args.style_rows),
             "--model.init_args.discriminator", "null", "--model.init_args.lr", "1e-3",
             "--trainer.max_epochs", str(args.base_epochs), "--trainer.enable_progress_bar", "false",
             "--trainer.enable_model_summary", "false", "--run.root", str(work / "runs"),
             "--run.name", "base", "--run.selection", "best"])  # fmt: skip
    seconds["base training"] = time.perf_counter() - step

    step = time.perf_counter()
    recording = args.recording or work / "recording"
    if not (recording / MANIFEST).is_file():
        run(
            [
                "data",
                "export-recording",
                "--root",
                str(corpus),
                "--speaker",
                HELD_OUT,
                "--out",
                str(recording),
            ]
        )
    seconds["export"] = time.perf_counter() - step

    rows = []
    for budget in args.budgets.split(","):
        out = work / (f"maria_{budget}" + ("" if args.mode == "auto" else f"_{args.mode}"))
        step = time.perf_counter()
        if not (out / "personalise.json").is_file():
            run(["personalise", "--recording", str(recording), "--name", NAME, "--base", str(base),
                 "--out", str(out), "--minutes", str(BUDGETS[budget]), "--mode", args.mode,
                 *fit_overrides])  # fmt: skip
        summary = json.loads((out / "personalise.json").read_text())
        add_oracle(out / "corpus", recording, NAME)
        result = evaluate(out / "model", speakers=[NAME], baselines=True, cache_dir=str(out / "eval_cache"))
        scores = {m: {k: result.scores[m][NAME][k] for k in ("L1", "PCK")} for m in result.scores}
        forgetting = np.mean([v["after"] - v["before"] for v in summary["base_speakers_L1"].values()])
        rows.append(
            {
                "budget": budget,
                "train_seconds": summary["data"]["train_seconds"],
                "windows": summary["data"]["train_windows"],
                "epochs": summary["epochs"],
                "scores": scores,
                "gap_closed": gap_closed(result, "L1"),
                "mode": summary.get("mode", "adapt"),
                "nearest_neighbour_gap_closed": gap_closed(result, "L1", "nearest_neighbour"),
                "forgetting_L1": float(forgetting),
                "base_L1": summary["base_speakers_L1"],
                "seconds": summary["seconds"],
                "wall": time.perf_counter() - step,
            }
        )
        print(json.dumps(rows[-1], indent=1), flush=True)
    seconds["total"] = time.perf_counter() - started
    print(
        f"\nthreads {torch.get_num_threads()}; wall seconds: "
        + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
    )
    print(
        "| data | mode | train s | windows | epochs | model L1 | mean pose L1 | oracle L1 | gap closed "
        "| model PCK | mean pose PCK | forgetting | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        same = r["scores"]
        print(
            f"| {r['budget']} | {r['mode']} | {r['train_seconds']:.0f} | {r['windows']} | {r['epochs']} | "
            f"{same['mix_stage']['L1']:.3f} | {same['mean_pose']['L1']:.3f} | {same['oracle']['L1']:.3f} | "
            f"{r['gap_closed']:.2f} | {same['mix_stage']['PCK']:.3f} | "
            f"{same['mean_pose']['PCK']:.3f} | "
            f"{r['forgetting_L1']:+.3f} | {r['wall']:.0f} |"
        )
    (work / "bench_personalise.json").write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
