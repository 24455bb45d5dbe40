"""Data-path speed: corpus generation, and window reading from the cache vs straight from HDF5.

* Generation: seconds of synthetic speech + poses + features written per second of wall time, for a whole
  corpus through ``synthesize_corpus`` (files included).
* Reading: training windows per second (batch 32, shuffled, normalised tensors) from ``PatsDataModule``'s
  memory-mapped cache, against a baseline that reads every window from its interval's HDF5 file the way
  the reference loader's lazy ``MiniData`` does (open, slice, subsample).

    .venv/bin/python benchmarks/bench_data.py --repeats 3

prints JSON lines and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from cospeech.data.datamodule import PatsDataModule
from cospeech.data.synth import synthesize_corpus

BATCH = 32


def generation_rate(minutes: float, speakers: int) -> float:
    """Seconds of data per second of generation for a whole corpus (median of one run per call)."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = synthesize_corpus(Path(tmp) / "c", speakers=speakers, minutes=minutes, seed=1)
    return summary.seconds / summary.elapsed


def cache_rate(datamodule: PatsDataModule, epochs: int = 3) -> float:
    start = time.perf_counter()
    windows = 0
    for _ in range(epochs):
        for batch in datamodule.train_dataloader():
            windows += len(batch["pose"])
    return windows / (time.perf_counter() - start)


def hdf5_rate(datamodule: PatsDataModule, limit: int = 2000) -> float:
    """The reference path: per window, open the interval file and slice pose and audio."""
    corpus = datamodule.corpus
    dataset = datamodule.datasets["train"]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(dataset))[:limit]
    start = time.perf_counter()
    for index in order:
        style, interval, frame = dataset.window_info(int(index))
        path = corpus.interval_path(datamodule.speakers[style], interval)
        with h5py.File(path, "r") as h5:
            pose = h5["pose/normalize"][frame : frame + 64]
            audio = h5["audio/log_mel_400"][frame * 7 : frame * 7 + 442 : 7]
        del pose, audio
    return len(order) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=2.0, help="per speaker, for the generation run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cospeech_bench_data_"))
    try:
        generation = [generation_rate(args.minutes, speakers=2) for _ in range(args.repeats)]
        synthesize_corpus(workdir / "corpus", speakers=2, minutes=4, seed=0)
        datamodule = PatsDataModule(str(workdir / "corpus"), ["ava", "ben"], batch_size=BATCH)
        datamodule.setup()
        cache_rate(datamodule, epochs=1)  # warm the page cache, like any second epoch
        cached = [cache_rate(datamodule) for _ in range(args.repeats)]
        direct = [hdf5_rate(datamodule) for _ in range(args.repeats)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()[0]
    results = {
        "corpus generation (s of data per s)": generation,
        "windows/s from the cache (PatsDataModule, batch 32)": cached,
        "windows/s straight from HDF5 (reference-style lazy reads)": direct,
    }
    for name, values in results.items():
        print(
            json.dumps(
                {
                    "measure": name,
                    "median": round(statistics.median(values), 1),
                    "runs": [round(v, 1) for v in values],
                    "load_avg_1m": round(load, 2),
                }
            )
        )
    print("\n| measure | median |")
    print("|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):,.1f} |")
    ratio = statistics.median(cached) / statistics.median(direct)
    print(f"| cache speed-up over HDF5 reads | {ratio:.1f}× |")


if __name__ == "__main__":
    main()
