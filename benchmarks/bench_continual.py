"""Continual few-shot learning on the built-in corpus: accuracy and forgetting of each method.

The small CPU protocol (``configs/continual/synth_small.yaml``): Mix-StAGE learns ``ava`` from her full
training data (task 1, shared by every chain), then ``ben``, ``cleo``, ``dia``, ``eli`` one per task from
k = 28 windows each (≈ 2 min of speech), each task starting from the previous task's model. For every
method and seed it runs ``cospeech continual`` (one chain per seed), then gathers the chains with
``cospeech continual-compare`` and prints:

1. the method × k table: average accuracy (ACC) and forgetting (FGT) of test L1, PCK and FID, mean ± std
   over seeds (definitions in docs/continual.md);
2. the targets of the issue: C-DiffGAN's L1 forgetting / no-replay fine-tuning's (≤ 0.5 wanted) and
   whether C-DiffGAN forgets less than DiffGAN (the paper's ordering);
3. quality in context: after the last task, each speaker's test L1 as the share of the gap from the
   mean-pose baseline to the oracle that it closes (``cospeech evaluate --baselines``; the mean pose is
   fitted on each speaker's full training data), averaged over the five speakers, and over the four
   few-shot speakers;
4. the training time of one task of each method (median over its tasks 2-5 and seeds, from the tasks'
   ``done.json``), and that of task 1.

Chains already finished under ``--workdir`` are not retrained (the runner's resume), so chains can also be
run by several ``cospeech continual`` processes side by side (as BENCHMARKS.md records) and this script
then only gathers them.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_continual.py --workdir /tmp/clbench
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cospeech.cli.main import main as cospeech
from cospeech.continual.results import compare, find_chains, read_results
from cospeech.data.synth import synthesize_corpus
from cospeech.evaluation import evaluate

METHODS = ("finetune", "diffgan", "buffer", "pseudo", "cdiffgan", "joint")
PRESET = "synth_small"


def run(args: list[str]) -> None:
    code = cospeech(args)
    if code:
        raise SystemExit(f"cospeech {' '.join(args)} failed ({code})")


def train_seconds(folder: Path) -> float:
    """Median training seconds of the tasks under ``folder`` (their ``done.json``)."""
    seconds = [json.loads(p.read_text())["seconds"]["train"] for p in folder.rglob("done.json")]
    return float(np.median(seconds)) if seconds else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clbench"))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--k-shot", type=int, default=28)
    args = parser.parse_args()
    corpus, out = args.workdir / "corpus", args.workdir / "runs"
    if not corpus.is_dir():
        synthesize_corpus(corpus, minutes=15.0, seed=0)  # the quickstart corpus
    common = ["--preset", PRESET, "--k-shot", str(args.k_shot), "--out", str(out)]
    common += ["--data.root", str(corpus), "--trainer.enable_progress_bar", "false"]
    run(["continual", "--first-task-only", *common])

    methods = args.methods.split(",")
    for method in methods:
        run(["continual", "--method", method, "--seeds", args.seeds, *common])

    comparison = compare([out], order=methods)
    print(comparison.table())
    values = {row.method: row.values for row in comparison.rows if row.k_shot == args.k_shot}
    fgt = {m: v["L1 FGT"][0] for m, v in values.items()}
    if "cdiffgan" in fgt and "finetune" in fgt:
        print(
            f"C-DiffGAN / fine-tuning L1 forgetting: {fgt['cdiffgan'] / fgt['finetune']:.2f} (target ≤ 0.5)"
        )
    if "cdiffgan" in fgt and "diffgan" in fgt:
        print(f"C-DiffGAN forgets less than DiffGAN (L1): {fgt['cdiffgan'] < fgt['diffgan']}")

    found, _ = find_chains([out])
    chains = [read_results(p) for p in found]
    # baselines and oracle on every speaker's test windows: any chain's last model knows all five
    last_run = found[0].parent.parent / chains[0].identity["runs"][-1]
    reference = evaluate(last_run, baselines=True, split="test")
    speakers = list(reference.speakers)
    mean_pose = np.array([reference.scores["mean_pose"][s]["L1"] for s in speakers])
    oracle = np.array([reference.scores["oracle"][s]["L1"] for s in speakers])
    print("\n| method | seed | gap closed, all 5 | gap closed, few-shot 4 | median train s per task |")
    print("|---|---|---|---|---|")
    for chain in sorted(chains, key=lambda c: (methods.index(c.identity["method"]), c.identity["seed"])):
        last = chain.matrices["L1"].values[-1]
        closed = (mean_pose - last) / (mean_pose - oracle)
        method = chain.identity["method"]
        print(
            f"| {method} | {chain.identity['seed']} | {closed.mean():.2f} | {closed[1:].mean():.2f} "
            f"| {train_seconds(out / method):.0f} |"
        )
    print(f"task 1: {train_seconds(out / 't1_ava'):.0f} s training")
    print(
        json.dumps(
            {
                "mean_pose_L1": dict(zip(speakers, mean_pose.round(4).tolist(), strict=True)),
                "oracle_L1": dict(zip(speakers, oracle.round(4).tolist(), strict=True)),
                "comparison": comparison.to_json(),
            }
        )
    )


if __name__ == "__main__":
    main()
