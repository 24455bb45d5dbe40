"""Training batches drawn with replacement, a fixed number per epoch (the reference's iterations per epoch).

The reference's continual tasks train 200 iterations of batch 32 per epoch, every row drawn uniformly with
replacement from the training set (notes cdiffgan §7, §8; pats §3.4 ``num_training_iters``), and C-DiffGAN
fills the first ``bs_old`` rows from earlier speakers' windows and the last ``bs_new`` from the newest
speaker's (`cospeech.data.replay.newest_share`). `DrawnBatchSampler` does both: a batch is a sequence of
*parts*, each ``count`` uniform draws from its own *pool* of dataset positions.

Unlike the reference (global torch RNG), the draw depends only on (seed, epoch): a resumed run repeats it
and every process draws the same batches. Under DDP (W processes) process r trains the batches r, r + W, …
of that draw, so ``batches`` counts batches over all processes, as an epoch over a dataset does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from cospeech.errors import ConfigError

EPOCH_STRIDE = 1_000_003
"""Seed of epoch e = ``seed + EPOCH_STRIDE · e`` (as `cospeech.data.datamodule.EpochShuffleSampler`)."""


class DrawnBatchSampler(DistributedSampler):
    """Dataset positions for ``batches`` batches per epoch, batch after batch, to be read by a ``DataLoader``
    with ``batch_size = sum of the part counts`` (each batch is one contiguous run of positions).

    It is an index sampler, not a batch sampler, and a ``DistributedSampler`` so that Lightning neither wraps
    it nor re-shards it (it shards itself by ``rank`` / ``num_replicas``) and calls its ``set_epoch`` every
    epoch, with one or several processes (a batch sampler gets neither from Lightning 2.6).

    Args:
        parts: ``(pool, count)`` pairs: ``pool`` (N_p,) int64 dataset positions, ``count`` rows drawn
            uniformly with replacement from it; a batch's rows are the parts in order.
        batches: batches per epoch over all processes (≥ 1); each process trains ``ceil(batches / W)``.
        seed: seed of the draw (with the epoch).
        num_replicas: W, the number of processes; rank: this process.

    Raises ``ConfigError`` for ``batches`` < 1, no rows, or a part that draws from an empty pool.
    """

    def __init__(
        self,
        parts: Sequence[tuple[np.ndarray, int]],
        batches: int,
        seed: int,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if type(batches) is not int or batches < 1:
            raise ConfigError(f"batches={batches!r} must be an integer ≥ 1")
        self.parts = [(np.asarray(pool, dtype=np.int64), count) for pool, count in parts if count > 0]
        if not self.parts:
            raise ConfigError("a drawn batch needs at least one row")
        empty = [i for i, (pool, _) in enumerate(self.parts) if len(pool) == 0]
        if empty:
            raise ConfigError(f"batch part(s) {empty} draw rows from an empty set of windows")
        self.batch_size = sum(count for _, count in self.parts)
        self.batches = batches
        self.per_replica = math.ceil(batches / num_replicas)
        rows = self.per_replica * self.batch_size
        super().__init__(range(rows), num_replicas=num_replicas, rank=rank, shuffle=False, seed=seed)

    def draw(self) -> np.ndarray:
        """(per-process batches, batch size) int64 dataset positions of this process at ``self.epoch``."""
        generator = torch.Generator().manual_seed(self.seed + EPOCH_STRIDE * self.epoch)
        total = self.per_replica * self.num_replicas
        columns = [
            pool[torch.randint(len(pool), (total, count), generator=generator).numpy()]
            for pool, count in self.parts
        ]
        return np.concatenate(columns, axis=1)[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.draw().reshape(-1).tolist())

    def __len__(self) -> int:
        return self.per_replica * self.batch_size
