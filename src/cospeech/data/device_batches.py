"""Training batches gathered on the training device: the split moved there once, each batch an index.

``PatsDataModule(gather_on_device=True)`` returns a ``DeviceBatches`` instead of a ``DataLoader`` for the
training split. On first iteration it builds the whole split once, exactly as the loader builds a batch
(``WindowDataset.__getitems__`` over every window: normalised, labelled), and moves it to the device;
each batch is then ``index_select`` of those tensors by the sampler's positions, in the sampler's order.
No worker processes, no host-to-device copy per batch: on a GPU the data path then costs what batches
already in memory cost (issue 15). The batches equal the loader's for the same seed and epoch.

Every batch entry must be one row per window, which holds for every key except text as token rows
(``repeat_text: false``: padded to each batch's longest), which is refused, as is more than one process
(DDP shards the loader's sampler itself).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Sampler

from cospeech.errors import ConfigError

DEVICE_MEMORY_SHARE = 0.5
"""Largest share of the device's free memory the split may take (the rest: model, activations)."""


def free_memory(device: torch.device) -> int:
    """Bytes free on ``device``: the CUDA allocator's view, or the host's available memory for CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(split_bytes: int, free_bytes: int, device: torch.device) -> None:
    """Raise ``ConfigError`` unless ``split_bytes`` ≤ ``DEVICE_MEMORY_SHARE`` · ``free_bytes``."""
    if split_bytes > DEVICE_MEMORY_SHARE * free_bytes:
        raise ConfigError(
            f"gather_on_device: the training split needs {split_bytes / 2**20:.0f} MiB on {device}, more "
            f"than {DEVICE_MEMORY_SHARE:.0%} of its {free_bytes / 2**20:.0f} MiB free; set "
            "data.gather_on_device false"
        )


class DeviceBatches:
    """An iterable of training batches (dicts of ``(B, …)`` tensors on ``device``) in ``sampler``'s order,
    ``batch_size`` positions per batch, the last one possibly shorter (as a ``DataLoader``).

    Args:
        dataset: the training ``WindowDataset`` (anything with ``__len__`` and ``__getitems__``).
        sampler: dataset positions in training order; Lightning calls its ``set_epoch`` (``sampler``).
        batch_size: positions per batch.
        device: where the split is held and the batches are gathered.

    The split is built and checked against the device's free memory (``check_fits``) on first iteration.
    """

    def __init__(self, dataset: Sized, sampler: Sampler[int], batch_size: int, device: torch.device) -> None:
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.split: dict[str, torch.Tensor] | None = None

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        split = self._split()
        order = torch.as_tensor(list(self.sampler), dtype=torch.int64, device=self.device)
        for rows in order.split(self.batch_size):
            yield {name: values.index_select(0, rows) for name, values in split.items()}

    def _split(self) -> dict[str, torch.Tensor]:
        if self.split is None:
            count = len(self.dataset)
            row = self.dataset.__getitems__([0])
            check_fits(
                sum(v.element_size() * v.numel() for v in row.values()) * count,
                free_memory(self.device),
                self.device,
            )
            whole = self.dataset.__getitems__(range(count))
            self.split = {name: values.to(self.device) for name, values in whole.items()}
        return self.split
