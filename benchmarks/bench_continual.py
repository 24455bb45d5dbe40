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
4. wall and CPU time of each method (both seeds, task 1 excluded: it is trained once, first).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_continual.py --workdir /tmp/clbench
"""

from __future__ import annotations

import argparse
import json
import time
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
    started = time.perf_counter()
    run(["continual", "--first-task-only", *common])
    print(json.dumps({"task": "t1", "wall_s": round(time.perf_counter() - started, 1)}), flush=True)

    methods = args.methods.split(",")
    cost = {}
    for method in methods:
        wall, cpu = time.perf_counter(), time.process_time()
        run(["continual", "--method", method, "--seeds", args.seeds, *common])
        cost[method] = (time.perf_counter() - wall, time.process_time() - cpu)
        print(json.dumps({"method": method, "wall_s": round(cost[method][0], 1)}), flush=True)

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
    last_runs = {}
    for chain_path in found:
        folder = chain_path.parent.parent
        tasks = sorted(folder.glob("t*_*/version_*"), key=lambda p: int(p.parent.name[1:].split("_")[0]))
        last_runs[folder] = tasks[-1]
    reference = evaluate(next(iter(last_runs.values())), baselines=True, split="test")
    speakers = list(reference.speakers)
    mean_pose = np.array([reference.scores["mean_pose"][s]["L1"] for s in speakers])
    oracle = np.array([reference.scores["oracle"][s]["L1"] for s in speakers])
    print("\n| method | seed | gap closed, all 5 | gap closed, few-shot 4 | wall s (both seeds) | CPU s |")
    print("|---|---|---|---|---|---|")
    for chain in sorted(chains, key=lambda c: (methods.index(c.identity["method"]), c.identity["seed"])):
        last = chain.matrices["L1"].values[-1]
        closed = (mean_pose - last) / (mean_pose - oracle)
        method = chain.identity["method"]
        wall, cpu = cost.get(method, (float("nan"), float("nan")))
        print(
            f"| {method} | {chain.identity['seed']} | {closed.mean():.2f} | {closed[1:].mean():.2f} "
            f"| {wall:.0f} | {cpu:.0f} |"
        )
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
