"""Personalisation from a recording: a held-out built-in speaker, exported as a recording, added to a trained
multi-speaker model with 30 s, 2 min and 10 min of its data.

1. The built-in corpus (5 speakers × ``--minutes``); Mix-StAGE (audio only, the ``synth_small`` first-task
   recipe: quarter width, L1 at lr 1e-3, no discriminator) trained on ava, ben, cleo, dia: the base model.
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
   space (`source_space_scores`; ``evaluate`` alone scores a calibrated person in their own row's).
   Forgetting: each base speaker's test L1 after minus before, averaged.
4. Wall time of each step.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_personalise.py --workdir /tmp/pbench
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
from cospeech.evaluation import evaluate, gap_closed
from cospeech.render.recording import MANIFEST

BASE_SPEAKERS = ("ava", "ben", "cleo", "dia")
HELD_OUT = "eli"
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


def source_space_scores(model: Path, corpus: Path, name: str) -> dict[str, dict[str, float]]:
    """L1 and PCK on ``name``'s test windows of the model, the mean pose (of their training windows) and the
    oracle, all in the base speakers' normalised space: ``cospeech evaluate`` scores each speaker in its
    own normaliser row's space, which calibration (``--mode calibrate``) refits, so its L1 would not compare
    with the adapted models'. (Adapted models keep that row: their figures equal ``evaluate``'s.)"""
    from cospeech.data.datamodule import BOX_JOINTS, PatsDataModule
    from cospeech.data.representation import make_representation
    from cospeech.inference.export import read_checkpoint
    from cospeech.metrics import GestureMetricSuite
    from cospeech.models import run_generator

    pretrained = read_checkpoint(model)
    spec, hparams = pretrained.metadata.data, pretrained.datamodule_hparams
    person = spec.speakers.index(name)
    data = PatsDataModule(
        str(corpus), [list(BASE_SPEAKERS), list(spec.speakers)], pose_key=spec.pose_key,
        audio_key=spec.audio_key, audio_level=spec.audio_level, normalization="source",
        window_hop=int(hparams.get("window_hop") or 5), cache_dir=str(corpus.parent / "source_space_cache"),
    )  # fmt: skip
    data.setup()
    rows = {}
    for split in ("train", "test"):
        dataset = data.datasets[split]
        within = (dataset.windows >= dataset.offsets[person]) & (
            dataset.windows < dataset.offsets[person + 1]
        )
        rows[split] = dataset.__getitems__(np.flatnonzero(within).tolist())
    test = rows["test"]
    mean, std = data.normalizer.mean["pose"][person], data.normalizer.std["pose"][person]
    own = pretrained.metadata.normalizer
    with torch.no_grad():
        inputs = {"audio": test["audio"], "style": test["style"]}
        output = run_generator(pretrained.build_generator(), inputs, training=False).poses
    predicted = (output * own.std["pose"][person] + own.mean["pose"][person] - mean) / std
    mean_pose = rows["train"]["pose"].mean(dim=(0, 1)).expand_as(test["pose"])
    decode = make_representation(spec.representation, spec.skeleton).decode
    scores = {}
    for label, poses in (("model", predicted), ("mean_pose", mean_pose), ("oracle", test["oracle"])):
        suite = GestureMetricSuite(mean, std, reference_pck=True, skeleton=spec.skeleton, decode=decode)
        suite.update(poses, test["pose"], box_joints=test.get(BOX_JOINTS))
        values = suite.compute()
        scores[label] = {"L1": values["L1"], "PCK": values["PCK"]}
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pbench"))
    parser.add_argument("--minutes", type=float, default=13.0, help="minutes per speaker in the corpus")
    parser.add_argument("--base-epochs", type=int, default=12)
    parser.add_argument("--budgets", default="30s,2min,10min", help=f"some of {', '.join(BUDGETS)}")
    parser.add_argument(
        "--mode", default="auto", help="personalise --mode (auto, adapt, calibrate); not auto: own folders"
    )
    args, fit_overrides = parser.parse_known_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    corpus = work / "corpus"
    if not corpus.exists():
        synthesize_corpus(corpus, speakers=len(BASE_SPEAKERS) + 1, minutes=args.minutes, seed=0, workers=1)
    seconds["corpus"] = time.perf_counter() - started

    step = time.perf_counter()
    base = work / "runs" / "base" / "version_0"
    if not (base / "final_metrics.json").is_file():
        run(["fit", "--config", "mix_stage", "--data.root", str(corpus), "--data.text_key", "null",
             "--data.speakers", json.dumps(list(BASE_SPEAKERS)), "--data.batch_size", "32",
             "--data.train_batches", "40", "--model.init_args.generator_config.channels", "64",
             "--model.init_args.discriminator", "null", "--model.init_args.lr", "1e-3",
             "--trainer.max_epochs", str(args.base_epochs), "--trainer.enable_progress_bar", "false",
             "--trainer.enable_model_summary", "false", "--run.root", str(work / "runs"),
             "--run.name", "base", "--run.selection", "best"])  # fmt: skip
    seconds["base training"] = time.perf_counter() - step

    step = time.perf_counter()
    recording = work / "recording"
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
        scores = {m: result.scores[m][NAME]["L1"] for m in result.scores}
        same = source_space_scores(out / "model", out / "corpus", NAME)
        forgetting = np.mean([v["after"] - v["before"] for v in summary["base_speakers_L1"].values()])
        rows.append(
            {
                "budget": budget,
                "train_seconds": summary["data"]["train_seconds"],
                "windows": summary["data"]["train_windows"],
                "epochs": summary["epochs"],
                "L1": scores,
                "gap_closed": gap_closed(result, "L1"),
                "mode": summary.get("mode", "adapt"),
                "source_space": same,
                "source_space_gap_closed": (same["mean_pose"]["L1"] - same["model"]["L1"])
                / (same["mean_pose"]["L1"] - same["oracle"]["L1"]),
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
        same = r["source_space"]
        print(
            f"| {r['budget']} | {r['mode']} | {r['train_seconds']:.0f} | {r['windows']} | {r['epochs']} | "
            f"{same['model']['L1']:.3f} | {same['mean_pose']['L1']:.3f} | {same['oracle']['L1']:.3f} | "
            f"{r['source_space_gap_closed']:.2f} | {same['model']['PCK']:.3f} | "
            f"{same['mean_pose']['PCK']:.3f} | "
            f"{r['forgetting_L1']:+.3f} | {r['wall']:.0f} |"
        )
    (work / "bench_personalise.json").write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
