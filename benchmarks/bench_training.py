"""Speech2Gesture training throughput: data path, precision and compilation against fp32 eager, in one run.

Every training measurement uses the real ``GestureModule`` (``AdversarialRecipe``: G and D steps by the
reference's coin flip, grad clipping, Adam) inside a Lightning ``Trainer``, on the built-in corpus, and
the rounds are interleaved (each round runs every measurement once) so that load from other processes
falls on all alike. Windows/s are the batch size over the mean iteration time (every run draws the same
seeded D/G turns), warm-up batches skipped; the median over rounds is reported.

* **training step**: batches already in memory, ``--precisions`` (the first, ``32-true`` fp32 eager, is the
  baseline every ratio is taken against; ``bf16-mixed`` is bf16 autocast, on CPUs with AVX512-BF16/AMX and
  on GPUs); ``--compile`` adds fp32 and bf16 with ``torch.compile`` on G and D (compilation falls in
  the warm-up batches and is not timed; a graph variant first met later recompiles inside the timing);
  and the fp32 step **as it was before issue 15's clean-up** (``BeforeRecipe``: Adam's per-tensor loop,
  D's weight gradients computed in G turns, the audio encoder's input in NCHW with a copy to
  channels-last after the first conv, its weights NCHW), to show what the clean-up alone gives;
* **data path**: the same fp32 step fed by ``PatsDataModule`` (memory-mapped cache) with each of
  ``--workers`` background workers, with and (on CUDA) without pinned memory, and with
  ``gather_on_device`` (the split held on the device, batches gathered there by index), against the
  in-memory rate; and the loader alone (windows/s delivered on the device, no training);
* ``--loss-curves N``: the quickstart config (``configs/quickstart.yaml``) for N epochs on the benchmark
  corpus with each of ``--precisions`` and each of ``--seeds``; dev L1 per epoch, so a precision's
  difference can be read against the seed-to-seed noise. ``--repeats 0`` runs the curves alone.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_training.py --repeats 3 --steps 12 [--device cuda]

prints the machine, JSON lines (every run) and Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from timing import machine
from torch.utils.data import DataLoader

from cospeech.data.datamodule import PatsDataModule
from cospeech.data.device_batches import DeviceBatches
from cospeech.data.poses import velocity
from cospeech.data.synth import synthesize_corpus
from cospeech.models import build_model
from cospeech.training.adversarial import AdversarialRecipe, select_rows
from cospeech.training.losses import adversarial_weight, generator_l1_gan, reconstruction_l1

WARMUP = 3


class IterationTimer(L.Callback):
    """Timestamps of every training batch start: consecutive differences are whole iterations (fetching
    the next batch included, since Lightning fetches between one batch's end and the next one's start)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.cpu_starts: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.starts.append(time.perf_counter())
        self.cpu_starts.append(time.process_time())

    def iteration_times(self) -> list[float]:
        return [b - a for a, b in zip(self.starts[WARMUP:], self.starts[WARMUP + 1 :], strict=False)]

    def cpu_seconds(self) -> float:
        """Process CPU seconds (all threads, data workers excluded) of the timed iterations."""
        return self.cpu_starts[-1] - self.cpu_starts[WARMUP]


class BeforeRecipe(AdversarialRecipe):
    """``AdversarialRecipe``'s step as it was before issue 15's clean-up, for comparison in the same run:
    Adam's per-tensor loop (not fused), a G turn that also computes D's weight gradients (D not toggled
    off), and the audio encoder fed NCHW with its first conv's output copied to channels-last, its weights
    NCHW (oneDNN reorders them on every call)."""

    def build(self, *args, **kwargs) -> None:
        super().build(*args, **kwargs)
        convs = self.generator.audio_encoder.convs.to(memory_format=torch.contiguous_format)
        convs.register_forward_pre_hook(lambda module, args: (args[0].contiguous(),))
        convs[0].conv.register_forward_hook(
            lambda module, args, output: output.contiguous(memory_format=torch.channels_last)
        )

    def configure_optimizers(self):
        hp = self.hparams
        plain = [
            torch.optim.Adam(self.generator.parameters(), lr=hp.lr),
            torch.optim.Adam(self.discriminator.parameters(), lr=hp.discriminator_lr),
        ]
        return plain, [torch.optim.lr_scheduler.ExponentialLR(o, gamma=hp.lr_decay) for o in plain]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        optimizers = self.optimizers()
        weight = adversarial_weight(self.global_step, self.hparams.adversarial_ramp)
        rows = self.discriminator_rows(batch)
        if self.discriminator_turn(self.global_step):
            loss = self.discriminator_loss(select_rows(batch, rows), weight)
            self._step(optimizers[1], loss, self.discriminator)
            self.log("train/d_loss", loss, prog_bar=True, batch_size=int(rows.sum()))
            return
        loss = self.generator_loss(batch, rows, weight)
        self._step(optimizers[0], loss, self.generator)
        self.log("train/g_loss", loss, batch_size=len(batch["pose"]))


def training_rate(
    steps: int,
    datamodule: PatsDataModule,
    *,
    device: str,
    precision: str = "32-true",
    compiled: bool = False,
    loader: DataLoader | None = None,
    recipe: type[AdversarialRecipe] = AdversarialRecipe,
) -> tuple[float, float]:
    """(windows per wall second, windows per process CPU second) of ``AdversarialRecipe`` training in a
    Lightning ``Trainer`` (mean iteration time), on the data module's batches or, with ``loader``, on those;
    the networks are built for the data module's spec.
    ``compiled`` wraps G and D in ``torch.compile`` (their first batches, compiling, are warm-up);
    ``recipe``: ``AdversarialRecipe`` or ``BeforeRecipe``."""
    timer = IterationTimer()
    trainer = L.Trainer(
        accelerator="gpu" if device.startswith("cuda") else "cpu",
        devices=1,
        precision=precision,
        max_epochs=1,
        limit_train_batches=steps + WARMUP + 1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    module = recipe(seed=0)
    module.build(datamodule.spec, datamodule.normalizer)
    if compiled:
        module.generator = torch.compile(module.generator)
        module.discriminator = torch.compile(module.discriminator)
    if loader is None:
        trainer.fit(module, datamodule=datamodule)
    else:
        trainer.fit(module, train_dataloaders=loader)
    # the mean, not the median: G and D turns cost very different times, and every run draws the same
    # seeded turns, so the mean over the same iterations compares runs fairly
    iterations = timer.iteration_times()
    batch = datamodule.hparams.batch_size
    return batch / statistics.mean(iterations), batch * len(iterations) / timer.cpu_seconds()


def loader_rate(datamodule: PatsDataModule, batches: int, device: str) -> tuple[float, float]:
    """Windows/s the training loader delivers on ``device`` (no training); no CPU-second figure. Device
    batches are gathered on ``device`` (the one-off move of the split falls in the warm-up batches)."""
    loader = datamodule.train_dataloader()
    if isinstance(loader, DeviceBatches):
        loader = DeviceBatches(loader.dataset, loader.sampler, loader.batch_size, torch.device(device))
    count, start = 0, 0.0
    for i, batch in enumerate(loader):
        if i == WARMUP:
            start, count = time.perf_counter(), 0
        moved = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        count += len(moved["pose"])
        if i >= WARMUP + batches:
            break
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return count / (time.perf_counter() - start), float("nan")


def generator_steps(batch: dict[str, torch.Tensor], steps: int) -> tuple[float, float]:
    """Windows/s of bare generator steps (forward, L1 + adversarial, backward, Adam) on one batch."""
    generator, discriminator = build_model("speech2gesture"), build_model("motion_discriminator")
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-4)
    times, cpu = [], 0.0
    for step in range(steps + WARMUP):
        start, cpu_start = time.perf_counter(), time.process_time()
        pred = generator(batch["audio"]).poses
        loss = reconstruction_l1(pred, batch["pose"]) + generator_l1_gan(discriminator(velocity(pred)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(generator.parameters(), 1.0)
        optimizer.step()
        if step >= WARMUP:
            times.append(time.perf_counter() - start)
            cpu += time.process_time() - cpu_start
    return len(batch["pose"]) / statistics.median(times), len(batch["pose"]) * steps / cpu


def loss_curves(
    corpus: Path, epochs: int, device: str, precisions: list[str], seeds: list[int]
) -> dict[str, list[float]]:
    """Dev L1 per epoch of the quickstart config for ``epochs`` epochs, each precision with each seed."""
    from cospeech.training.engine import run_cli

    curves = {}
    for precision, seed in ((p, s) for s in seeds for p in precisions):
        name = f"{precision} seed {seed}"
        with tempfile.TemporaryDirectory() as root:
            run_cli([
                "fit", "--config", "quickstart", "--data.root", str(corpus), "--run.root", root,
                "--trainer.max_epochs", str(epochs), "--trainer.precision", precision,
                "--trainer.accelerator", "gpu" if device.startswith("cuda") else "cpu",
                "--trainer.enable_progress_bar", "false", "--seed_everything", str(seed),
            ])  # fmt: skip
            history = json.loads(next(Path(root).glob("*/version_0/metrics.json")).read_text())
            curves[name] = [round(float(h["dev/L1"]), 4) for h in history]
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/cospeech_bench_corpus"))
    parser.add_argument("--steps", type=int, default=12, help="timed batches per run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument(
        "--precisions", default="32-true,bf16-mixed", help="Lightning precisions; first = baseline"
    )
    parser.add_argument("--workers", default="0,1", help="DataLoader worker counts of the data-path runs")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd G and D")
    parser.add_argument(
        "--loss-curves", type=int, default=0, metavar="EPOCHS", help="quickstart dev L1 curves"
    )
    parser.add_argument("--seeds", default="0,1", help="seeds of the loss curves")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(machine(args.device)))
    if not (args.corpus / "cmu_intervals_df.csv").is_file():
        synthesize_corpus(args.corpus, speakers=2, minutes=4, seed=0)
    cuda = args.device.startswith("cuda")

    def datamodule(workers: int = 0, pin: bool = False, gather: bool = False) -> PatsDataModule:
        dm = PatsDataModule(
            str(args.corpus), ["ava", "ben"], batch_size=args.batch, num_workers=workers, pin_memory=pin,
            gather_on_device=gather,
        )  # fmt: skip
        dm.setup()
        return dm

    base = datamodule()
    cached = [b for _, b in zip(range(args.steps + WARMUP + 1), base.train_dataloader(), strict=False)]
    precisions = args.precisions.split(",")
    runs: dict[str, Callable[[], tuple[float, float]]] = {}
    runs[f"training step, {precisions[0]}, before the clean-up, batches in memory"] = lambda: training_rate(
        args.steps, base, device=args.device, precision=precisions[0], recipe=BeforeRecipe,
        loader=DataLoader(cached, batch_size=None),
    )  # fmt: skip
    for precision in precisions:
        runs[f"training step, {precision}, batches in memory"] = lambda p=precision: training_rate(
            args.steps, base, device=args.device, precision=p, loader=DataLoader(cached, batch_size=None)
        )
    if args.compile:
        for precision in precisions:
            compiled = f"training step, {precision}, torch.compile, batches in memory"
            runs[compiled] = lambda p=precision: training_rate(
                args.steps, base, device=args.device, precision=p, compiled=True,
                loader=DataLoader(cached, batch_size=None),
            )  # fmt: skip
    for workers in (int(w) for w in args.workers.split(",")):
        for pin in (False, True) if cuda else (False,):
            dm = datamodule(workers, pin)
            label = f"{workers} workers{', pinned' if pin else ''}"
            runs[f"training step, {precisions[0]}, data path ({label})"] = lambda d=dm: training_rate(
                args.steps, d, device=args.device, precision=precisions[0]
            )
            runs[f"loader alone ({label})"] = lambda d=dm: loader_rate(d, 4 * args.steps, args.device)
    gathered = datamodule(gather=True)
    runs[f"training step, {precisions[0]}, data path (gathered on device)"] = lambda: training_rate(
        args.steps, gathered, device=args.device, precision=precisions[0]
    )
    runs["loader alone (gathered on device)"] = lambda: loader_rate(gathered, 4 * args.steps, args.device)
    if not cuda:
        runs["generator step only, fp32 eager, no Lightning"] = lambda: generator_steps(cached[0], args.steps)
    if args.repeats:
        timings(runs, args)
    if args.loss_curves:
        seeds = [int(s) for s in args.seeds.split(",")]
        curves = loss_curves(args.corpus, args.loss_curves, args.device, precisions, seeds)
        print(json.dumps({"dev_L1_per_epoch": curves}))
        print("\n| quickstart dev L1 | " + " | ".join(f"epoch {i}" for i in range(args.loss_curves)) + " |")
        print("|---|" + "---|" * args.loss_curves)
        for name, curve in curves.items():
            print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in curve) + " |")


def timings(runs: dict[str, Callable[[], tuple[float, float]]], args: argparse.Namespace) -> None:
    """Run every measurement once per round for ``args.repeats`` rounds; print JSON lines and a table."""
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            rates[name].append(run())
    medians = {
        name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for name, values in rates.items()
    }
    baseline = medians[f"training step, {args.precisions.split(',')[0]}, batches in memory"]
    for name, (wall, cpu) in medians.items():
        runs_wall = [round(w, 1) for w, _ in rates[name]]
        runs_cpu = [round(c, 2) for _, c in rates[name]]
        figures = {"windows_per_s": round(wall, 1), "windows_per_cpu_s": round(cpu, 2)}
        print(json.dumps({"measure": name, **figures, "runs": runs_wall, "runs_per_cpu_s": runs_cpu}))
    info = machine(args.device)
    setting = f"batch {args.batch}, Speech2Gesture G+D, {info['device']}, {info['torch_threads']} threads"
    columns = f"windows/s (median of {args.repeats}) | vs fp32 eager | windows per CPU s | vs fp32 eager"
    print(f"\n| measure ({setting}) | {columns} |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu) in medians.items():
        if name.startswith("loader"):
            print(f"| {name} | {wall:.0f} | | | |")
        else:
            print(
                f"| {name} | {wall:.1f} | {wall / baseline[0]:.2f}× | {cpu:.2f} | {cpu / baseline[1]:.2f}× |"
            )


if __name__ == "__main__":
    main()
