"""A callback for the DDP test: after training, every process reports a checksum of its parameters and
rank 0 writes them (with the world size) to the JSON file named by ``COSPEECH_DDP_PROBE``."""

from __future__ import annotations

import json
import os

import lightning as L
import torch


class ParameterSyncProbe(L.Callback):
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        flat = torch.cat([p.detach().double().flatten() for p in pl_module.parameters()])
        local = torch.stack([flat.sum(), (flat * torch.arange(len(flat), dtype=torch.float64)).sum()])
        gathered = pl_module.all_gather(local)
        if trainer.is_global_zero:
            payload = {
                "world_size": trainer.world_size,
                "global_step": trainer.global_step,
                "checksums": gathered.reshape(trainer.world_size, 2).tolist(),
            }
            with open(os.environ["COSPEECH_DDP_PROBE"], "w") as handle:
                json.dump(payload, handle)
