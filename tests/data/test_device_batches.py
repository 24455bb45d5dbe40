"""``gather_on_device``: the training split held on the device gives exactly the loader's batches."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from cospeech.data.datamodule import PatsDataModule
from cospeech.data.device_batches import DeviceBatches, check_fits
from cospeech.errors import ConfigError


def _pair(synth_root: Path, cache: Path, **options) -> tuple[PatsDataModule, PatsDataModule]:
    modules = []
    for gather in (False, True):
        dm = PatsDataModule(
            str(synth_root), ["ava", "ben"], batch_size=24, pose_clusters=3, cache_dir=str(cache),
            gather_on_device=gather, **options,
        )  # fmt: skip
        dm.setup()
        modules.append(dm)
    return modules[0], modules[1]


@pytest.mark.parametrize("options", [{}, {"train_batches": 5}], ids=["shuffled pass", "drawn batches"])
def test_device_batches_equal_the_loaders_epoch_by_epoch(synth_root: Path, tmp_path: Path, options):
    plain, gathered = _pair(synth_root, tmp_path, **options)
    loader, batches = plain.train_dataloader(), gathered.train_dataloader()
    assert isinstance(batches, DeviceBatches) and len(batches) == len(loader)
    first = []
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)  # what Lightning does every epoch, on either
        batches.sampler.set_epoch(epoch)
        expected, got = list(loader), list(batches)
        assert len(got) == len(expected) == len(loader)
        for a, b in zip(expected, got, strict=True):
            assert a.keys() == b.keys() and {"audio", "pose", "style", "index", "cluster"} <= set(b)
            for name in a:
                assert torch.equal(a[name], b[name]), (epoch, name)
        first.append(got[0]["index"])
    assert not torch.equal(*first)  # each epoch has its own order


def test_training_on_device_batches_sees_the_loaders_batches(synth_root: Path, tmp_path: Path):
    class Indices(L.Callback):
        def __init__(self) -> None:
            self.seen: list[torch.Tensor] = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            self.seen.append(batch["index"].clone())

    class Fitting(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(()))

        def training_step(self, batch, batch_idx):
            return (self.weight - batch["pose"].mean()).abs()

        def validation_step(self, batch, batch_idx) -> None:  # not run (limit_val_batches=0)
            pass

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    seen = []
    for dm in _pair(synth_root, tmp_path, train_batches=3):
        recorder = Indices()
        trainer = L.Trainer(
            max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, callbacks=[recorder], limit_val_batches=0,
        )  # fmt: skip
        trainer.fit(Fitting(), datamodule=dm)
        seen.append(recorder.seen)
    assert len(seen[0]) == len(seen[1]) == 6
    assert all(torch.equal(a, b) for a, b in zip(*seen, strict=True))
    assert not torch.equal(seen[1][0], seen[1][3])  # the second epoch drew other windows


def test_gather_on_device_refuses_what_it_cannot_hold(synth_root: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="repeat_text: false"):
        PatsDataModule(
            str(synth_root), ["ava"], text_key="text/tokens", repeat_text=False, gather_on_device=True
        )
    check_fits(100, 200, torch.device("cpu"))
    with pytest.raises(ConfigError, match=r"needs 200 MiB on cpu, more than 50% of its 300 MiB free"):
        check_fits(200 * 2**20, 300 * 2**20, torch.device("cpu"))
