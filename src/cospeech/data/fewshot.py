"""Few-shot subsets: ``k_shot`` windows per speaker drawn by a seed (reference notes §3.6).

``k_shot`` counts 64-frame windows drawn **with replacement** from a speaker's training windows (with the
usual ``window_hop=5``, 7 ≈ 30 s, 28 ≈ 2 min, 140 ≈ 10 min of speech). A CPU ``torch.Generator`` seeded
with ``seed`` draws, block after block in style order, ``k_shot`` uniform indices per speaker. Because the
generator restarts identically and earlier blocks come first, a speaker keeps the same windows when later
speakers are appended (continual learning), and the draw is the same on every machine.

When only some speakers are wanted (e.g. the newest), every block is still drawn in order and the others
are dropped, so the newest speaker's windows do not depend on that choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cospeech.errors import ConfigError

FEWSHOT_PRESETS = {"30s": 7, "1min": 14, "2min": 28, "10min": 140}


def fewshot_indices(
    block_sizes: Sequence[int], k_shot: int, seed: int, keep_blocks: Sequence[int] | None = None
) -> np.ndarray:
    """Indices into the concatenation of ``block_sizes`` windows (one block per speaker, style order).

    Returns (k_shot · number of kept blocks,) int64, block by block, duplicates possible."""
    if k_shot < 1:
        raise ConfigError(f"k_shot={k_shot} must be ≥ 1")
    empty = [b for b, size in enumerate(block_sizes) if size == 0]
    if empty:
        raise ConfigError(f"cannot draw {k_shot} windows from speaker block(s) {empty}: no training windows")
    kept = set(
        range(len(block_sizes)) if keep_blocks is None else [b % len(block_sizes) for b in keep_blocks]
    )
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    start = 0
    for block, size in enumerate(block_sizes):
        draw = torch.randint(start, start + size, (k_shot,), generator=generator).numpy()
        if block in kept:
            chosen.append(draw)
        start += size
    return np.concatenate(chosen).astype(np.int64)
