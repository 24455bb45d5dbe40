"""Evaluation throughput of the full metric suite, and the baseline/oracle table on the built-in corpus.

* Throughput: windows/s through ``GestureMetricSuite`` (L1, VelL1, PCK, FID, W1 of speed and
  acceleration, diversity, L1div; plus FGD with an untrained pose auto-encoder as the extractor and style
  F1 with 8 k-means clusters), updated in batches of 64 windows of 64 frames and computed once.
* Table: ``cospeech evaluate --baselines`` numbers for the mean-pose, random-window and nearest-neighbour
  baselines and the oracle, per speaker, on the test split of a corpus (``--run`` gives a trained run whose
  data and normaliser are used; its own row is printed too).

    .venv/bin/python benchmarks/bench_evaluate.py --run quickstart_out/runs/quickstart/version_0

prints JSON lines and Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from cospeech.data.poses import flat_to_joints
from cospeech.evaluation import evaluate, gap_closed
from cospeech.metrics import GestureMetricSuite, fit_gesture_clusters
from cospeech.models.registry import build_model

WINDOWS = 2048
BATCH = 64


def suite_rate(with_extras: bool, repeats: int) -> float:
    rng = np.random.default_rng(0)
    truth = torch.from_numpy(rng.standard_normal((WINDOWS, 64, 96)).astype(np.float32)).cumsum(1) * 0.1
    pred = truth + 0.3 * torch.from_numpy(rng.standard_normal(truth.shape).astype(np.float32))
    mean, std = np.zeros(96), np.full(96, 50.0)
    extras = {}
    if with_extras:
        extractor = build_model("pose_autoencoder").eval()
        centres = fit_gesture_clusters(flat_to_joints(truth[:256].numpy() * 50.0), k=8, seed=0)
        extras = {
            "extractor": extractor,
            "extractor_features": 32,
            "extractor_name": "untrained",
            "cluster_centres": centres,
        }
    rates = []
    for _ in range(repeats):
        suite = GestureMetricSuite(mean, std, **extras)
        start = time.perf_counter()
        with torch.no_grad():
            for i in range(0, WINDOWS, BATCH):
                suite.update(pred[i : i + BATCH], truth[i : i + BATCH])
            suite.compute()
        rates.append(WINDOWS / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained run for the baseline/oracle table")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    core = suite_rate(False, args.repeats)
    full = suite_rate(True, args.repeats)
    for name, value in (("core suite", core), ("core + FGD + style F1", full)):
        print(
            json.dumps(
                {
                    "measure": f"evaluation throughput, {name}",
                    "windows_per_s": round(value, 1),
                    "load_avg_1m": round(load, 2),
                }
            )
        )
    print("\n| evaluation throughput (64-frame windows, batches of 64) | windows/s (median) |")
    print("|---|---|")
    print(f"| L1, VelL1, PCK, FID, W1, diversity, L1div | {core:,.0f} |")
    print(f"| … + FGD (pose auto-encoder) + style F1 (8 clusters) | {full:,.0f} |")
    if args.run:
        result = evaluate(args.run, baselines=True)
        print(json.dumps(result.to_json()))
        print()
        print(result.table())
        print(f"\ngap closed (L1): {gap_closed(result, 'L1'):.2f}   (PCK): {gap_closed(result, 'PCK'):.2f}")


if __name__ == "__main__":
    main()
