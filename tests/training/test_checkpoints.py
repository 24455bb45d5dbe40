"""``last.ckpt`` is the last epoch and a NaN monitor is said, whatever the monitored metric does.

A minimal LightningModule whose ``dev/L1`` is NaN runs under the run engine's checkpoint callbacks: Lightning
2.6's ``save_last`` would keep ``last.ckpt`` at epoch 0, the only epoch a NaN monitor is "best" at."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from cospeech.training.callbacks import MonitorCheck
from cospeech.training.checkpoints import load_checkpoint
from cospeech.training.run_folder import RunCheckpoint

EPOCHS = 3


class NanDevModule(L.LightningModule):
    """One weight fitted to ones; its dev metric is NaN, as a diverged model's would be."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return (self.weight - batch).abs().mean()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("dev/L1", float("nan"))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_nan_monitor_is_warned_once_and_last_ckpt_is_still_the_last_epoch(tmp_path: Path, recwarn):
    best = RunCheckpoint(filename="best", monitor="dev/L1", save_top_k=1, save_last=True)  # as the engine
    data = DataLoader(torch.ones(4, 1), batch_size=2)
    callbacks = [best, MonitorCheck("dev/L1")]
    trainer = L.Trainer(
        default_root_dir=tmp_path, max_epochs=EPOCHS, callbacks=callbacks, logger=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(NanDevModule(), train_dataloaders=data, val_dataloaders=data)
    ours = [str(w.message) for w in recwarn if str(w.message).startswith("cospeech:")]
    assert ours == [
        "cospeech: run.monitor 'dev/L1' is NaN at epoch 0 (no dev window was scored, or training diverged), "
        "so best.ckpt is not updated while it is; last.ckpt holds the latest epoch; give a speaker dev "
        "intervals at least one window long, or train with --run.selection last"
    ]
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert load_checkpoint(checkpoints / "best.ckpt")["epoch"] == 0
    last = load_checkpoint(checkpoints / "last.ckpt")
    assert last["epoch"] == EPOCHS - 1
    assert last["state_dict"]["weight"].item() == pytest.approx(EPOCHS * 2 * 0.1)
