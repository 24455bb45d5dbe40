"""Shared timing for the benchmark scripts (run as ``python benchmarks/<script>.py``, so this file is on
the path)."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed_runs(function: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds (all threads) of each of ``repeats`` calls of ``function``."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus
