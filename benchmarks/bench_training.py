"""Speech2Gesture training throughput: with our data path vs pure compute on in-memory tensors.

Both runs use the real ``GestureModule`` inside a Lightning ``Trainer`` (G and D steps by the reference's
coin flip, grad clipping, Adam), batch 32, on the built-in corpus. The data-path run reads windows from the
memory-mapped cache through ``PatsDataModule``; the compute-only run replays batches already in memory.
The ratio of the two is the data-loading overhead. A third measurement times generator steps only (forward,
L1 + adversarial loss, backward, Adam), the figure the reference code reaches at 74 windows/s on 2 cores.

    .venv/bin/python benchmarks/bench_training.py --corpus /tmp/bench_corpus --repeats 3

prints JSON lines and a Markdown table. Timings skip the first batches (warm-up) of every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from cospeech.data.datamodule import PatsDataModule
from cospeech.data.poses import velocity
from cospeech.data.synth import synthesize_corpus
from cospeech.models import build_model
from cospeech.training.adversarial import AdversarialRecipe
from cospeech.training.losses import generator_l1_gan, reconstruction_l1

BATCH = 32
WARMUP = 3


class IterationTimer(L.Callback):
    """Timestamps of every training batch start: consecutive differences are whole iterations (fetching
    the next batch included, since Lightning fetches between one batch's end and the next one's start)."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.starts.append(time.perf_counter())

    def iteration_times(self) -> list[float]:
        return [b - a for a, b in zip(self.starts[WARMUP:], self.starts[WARMUP + 1 :], strict=False)]


def training_rate(steps: int, datamodule: PatsDataModule, *, loader: DataLoader | None = None) -> float:
    """Windows/s of ``AdversarialRecipe`` training in a Lightning ``Trainer`` (median iteration time), on the
    data module's batches or, with ``loader``, on those; the networks are built for the data module's spec."""
    timer = IterationTimer()
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=steps + WARMUP + 1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    module = AdversarialRecipe(seed=0)
    module.build(datamodule.spec, datamodule.normalizer)
    if loader is None:
        trainer.fit(module, datamodule=datamodule)
    else:
        trainer.fit(module, train_dataloaders=loader)
    return BATCH / statistics.median(timer.iteration_times())


def generator_steps(batch: dict[str, torch.Tensor], steps: int) -> float:
    """Windows/s of bare generator steps (forward, L1 + adversarial, backward, Adam) on one batch."""
    generator, discriminator = build_model("speech2gesture"), build_model("motion_discriminator")
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-4)
    times = []
    for step in range(steps + WARMUP):
        start = time.perf_counter()
        pred = generator(batch["audio"]).poses
        loss = reconstruction_l1(pred, batch["pose"]) + generator_l1_gan(discriminator(velocity(pred)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(generator.parameters(), 1.0)
        optimizer.step()
        if step >= WARMUP:
            times.append(time.perf_counter() - start)
    return BATCH / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/cospeech_bench_corpus"))
    parser.add_argument("--steps", type=int, default=20, help="timed batches per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (args.corpus / "cmu_intervals_df.csv").is_file():
        synthesize_corpus(args.corpus, speakers=2, minutes=4, seed=0)
    datamodule = PatsDataModule(str(args.corpus), ["ava", "ben"], batch_size=BATCH, num_workers=0)
    datamodule.setup()
    cached = [b for _, b in zip(range(args.steps + WARMUP + 1), datamodule.train_dataloader(), strict=False)]
    rows = {
        "data path (PatsDataModule, memory-mapped cache)": [],
        "compute only (batches in memory)": [],
        "generator step only, compute only": [],
    }
    for _ in range(args.repeats):
        rows["data path (PatsDataModule, memory-mapped cache)"].append(training_rate(args.steps, datamodule))
        rows["compute only (batches in memory)"].append(
            training_rate(args.steps, datamodule, loader=DataLoader(cached, batch_size=None))
        )
        rows["generator step only, compute only"].append(generator_steps(cached[0], args.steps))
    load = os.getloadavg()[0]
    medians = {name: statistics.median(values) for name, values in rows.items()}
    for name, value in medians.items():
        print(
            json.dumps(
                {
                    "measure": name,
                    "windows_per_s": round(value, 1),
                    "runs": [round(v, 1) for v in rows[name]],
                    "threads": torch.get_num_threads(),
                    "load_avg_1m": round(load, 2),
                }
            )
        )
    data, compute = (
        medians["data path (PatsDataModule, memory-mapped cache)"],
        medians["compute only (batches in memory)"],
    )
    print("\n| measure (batch 32, Speech2Gesture G+D) | windows/s (median) |")
    print("|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.1f} |")
    print(f"| data-loading overhead (1 − data / compute) | {100 * (1 - data / compute):.1f} % |")


if __name__ == "__main__":
    main()
