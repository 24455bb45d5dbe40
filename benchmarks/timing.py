"""Shared timing for the benchmark scripts (run as ``python benchmarks/<script>.py``, so this file is on
the path)."""

from __future__ import annotations

import time
from collections.abc import Callable

import lightning as L


def timed_runs(function: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds (all threads) of each of ``repeats`` calls of ``function``."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


class CpuBudget(L.Callback):
    """Stop training after the epoch in which the process used ``seconds`` of CPU time (all threads), so runs
    compared "at an equal CPU budget" get the same compute whatever else the machine is doing. That epoch's
    validation still runs, so best-epoch selection sees it. In a run config: ``trainer.callbacks:
    [{class_path: timing.CpuBudget, init_args: {seconds: 600}}]`` (with ``benchmarks/`` on the path)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = 0.0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.started = time.process_time()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if time.process_time() - self.started >= self.seconds:
            trainer.should_stop = True
