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


def machine(device: str = "cpu") -> dict[str, object]:
    """What every benchmark prints first: CPU model and count, torch threads, device, versions, load."""
    import os
    import platform

    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = set(next(line for line in info if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    return {
        "machine": cpu,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": gpu or device,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "torch": torch.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def interleaved(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[list, list]]:
    """Wall and process-CPU seconds of ``repeats`` rounds, each calling every function once in turn (after
    one warm-up round), so that load from other processes falls on all of them alike."""
    for function in functions.values():
        function()
    results: dict[str, tuple[list, list]] = {name: ([], []) for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            walls, cpus = timed_runs(function, 1)
            results[name][0].extend(walls)
            results[name][1].extend(cpus)
    return results
