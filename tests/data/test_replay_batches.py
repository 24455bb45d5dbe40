"""Replay strategies in the data module: training sets, batch composition and the seeded draw, on real
corpora (the session's 3-speaker one and a 5-speaker one for the C-DiffGAN split at t2..t5)."""

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from cospeech.data.datamodule import PatsDataModule
from cospeech.data.fewshot import fewshot_indices
from cospeech.data.sampling import DrawnBatchSampler
from cospeech.data.synth import synthesize_corpus
from cospeech.errors import ConfigError

THREE = ["ava", "ben", "cleo"]
FIVE = ["ava", "ben", "cleo", "dia", "eli"]


@pytest.fixture(scope="module")
def five_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-speaker built-in corpus (18 s per speaker): the reference's sequence length."""
    root = tmp_path_factory.mktemp("corpus5") / "synth"
    synthesize_corpus(root, speakers=5, minutes=0.3, seed=0)
    return root


def module(root: Path, speakers: list[str], cache: Path, **options) -> PatsDataModule:
    dm = PatsDataModule(str(root), speakers, cache_dir=str(cache), **options)
    dm.setup()
    return dm


def test_memory_newest_seen_and_all_windows(synth_root, tmp_path):
    seen = module(synth_root, THREE, tmp_path, k_shot=7, replay="buffer")
    newest = module(synth_root, THREE, tmp_path, k_shot=7, replay="none")
    joint = module(synth_root, THREE, tmp_path, k_shot=7, replay="joint")  # all_windows ignores k_shot
    plain = module(synth_root, THREE, tmp_path)
    sizes = plain.datasets["train"].speaker_block_sizes()
    np.testing.assert_array_equal(seen.datasets["train"].windows, fewshot_indices(sizes, 7, 1))
    np.testing.assert_array_equal(newest.datasets["train"].windows, seen.datasets["train"].windows[14:])
    np.testing.assert_array_equal(joint.datasets["train"].windows, np.arange(sum(sizes)))
    assert newest.replay.name == "none" and plain.replay is None
    batch = next(iter(newest.train_dataloader()))
    assert set(batch["style"].tolist()) == {2}  # only the newest speaker, cleo


def test_an_old_speaker_keeps_its_windows_when_a_speaker_is_appended(synth_root, tmp_path):
    two = module(synth_root, THREE[:2], tmp_path, k_shot=28, fewshot_seed=3, replay="pseudo")
    three = module(synth_root, THREE, tmp_path, k_shot=28, fewshot_seed=3, replay="pseudo")
    np.testing.assert_array_equal(three.datasets["train"].windows[:56], two.datasets["train"].windows)
    assert not np.array_equal(three.datasets["train"].windows[:28], three.datasets["train"].windows[28:56])


@pytest.mark.parametrize(("count", "old", "new"), [(2, 16, 16), (3, 22, 10), (4, 24, 8), (5, 26, 6)])
def test_c_diffgan_batches_have_the_reference_old_new_split(five_root, tmp_path, count, old, new):
    dm = module(five_root, FIVE[:count], tmp_path, k_shot=7, replay="pseudo_aligned", train_batches=4)
    every_window = module(five_root, FIVE[:count], tmp_path).datasets["train"]  # position = window index
    memory = set(dm.datasets["train"].windows.tolist())
    batches = list(dm.train_dataloader())
    assert len(batches) == 4
    for batch in batches:
        style = batch["style"]
        assert style.shape == (32,)
        assert bool((style[:old] < count - 1).all()) and bool((style[old:] == count - 1).all())
        # the rows are those speakers' stored k-shot windows, as the cache holds them
        assert set(batch["index"].tolist()) <= memory
        stored = every_window.__getitems__(batch["index"].tolist())
        torch.testing.assert_close(stored["style"], style)
        torch.testing.assert_close(stored["pose"], batch["pose"])
    old_rows = torch.cat([b["style"][:old] for b in batches])
    assert len(set(old_rows.tolist())) == count - 1  # every earlier speaker is replayed


def test_train_batches_is_the_epoch_length_for_uniform_draws(synth_root, tmp_path):
    dm = module(synth_root, THREE, tmp_path, k_shot=7, replay="buffer", train_batches=5, batch_size=8)
    loader = dm.train_dataloader()
    batches = list(loader)
    assert len(loader) == len(batches) == 5 and all(len(b["style"]) == 8 for b in batches)
    assert set(torch.cat([b["index"] for b in batches]).tolist()) <= set(
        dm.datasets["train"].windows.tolist()
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"replay": "random-fs"},
            "unknown replay strategy 'random-fs'; known replay strategies: buffer, joint",
        ),
        ({"replay": "none"}, "replay='none' trains on k-shot windows (memory 'newest'); set k_shot"),
        ({"replay": "pseudo_aligned", "k_shot": 7}, "replay='pseudo_aligned' draws its batches with"),
        ({"train_batches": 0}, "train_batches=0 must be an integer ≥ 1"),
    ],
)
def test_bad_replay_options_are_one_line_config_errors(synth_root, options, message):
    with pytest.raises(ConfigError) as error:
        PatsDataModule(str(synth_root), THREE, **options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_draw_depends_on_seed_and_epoch_only():
    parts = [(np.arange(10), 3), (np.arange(100, 105), 2)]
    a, b = DrawnBatchSampler(parts, 6, seed=4), DrawnBatchSampler(parts, 6, seed=4)
    b.set_epoch(1)
    b.set_epoch(0)
    assert list(a) == list(b) and len(list(a)) == len(a) == 30
    rows = a.draw()
    assert rows.shape == (6, 5) and (rows[:, :3] < 10).all() and (rows[:, 3:] >= 100).all()
    a.set_epoch(1)
    assert list(a) != list(b)
    assert list(DrawnBatchSampler(parts, 6, seed=5)) != list(b)


def test_processes_share_one_draw_batch_by_batch():
    parts = [(np.arange(50), 4)]
    single = DrawnBatchSampler(parts, 6, seed=0).draw()
    ranks = [DrawnBatchSampler(parts, 6, seed=0, num_replicas=2, rank=r).draw() for r in (0, 1)]
    np.testing.assert_array_equal(ranks[0], single[0::2])
    np.testing.assert_array_equal(ranks[1], single[1::2])
    assert len(DrawnBatchSampler(parts, 5, seed=0, num_replicas=2, rank=1)) == 3 * 4  # ceil(5 / 2) batches


class IndexRecorder(L.LightningModule):
    """One weight; records the windows of every training batch by epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[int, list[list[int]]] = {}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.seen.setdefault(self.current_epoch, []).append(batch["index"].tolist())
        return (self.weight - batch["pose"].mean()).abs()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Never run (``limit_val_batches=0``)."""

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(dm: PatsDataModule, checkpoints: Path, ckpt_path: Path | None = None) -> dict[int, list[list[int]]]:
    recorder = IndexRecorder()
    keep = ModelCheckpoint(dirpath=checkpoints, filename="{epoch}", save_top_k=-1, every_n_epochs=1)
    trainer = L.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, callbacks=[keep], limit_val_batches=0,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(recorder, datamodule=dm, ckpt_path=ckpt_path)
    return recorder.seen


def test_a_trainer_draws_new_batches_each_epoch_and_a_resume_repeats_them(synth_root, tmp_path, one_thread):
    options = {"k_shot": 7, "replay": "pseudo_aligned", "train_batches": 3, "batch_size": 6}
    full = fit(module(synth_root, THREE, tmp_path, **options), tmp_path / "checkpoints")
    assert [len(full[e]) for e in (0, 1)] == [3, 3]
    assert full[0] != full[1]
    checkpoint = tmp_path / "checkpoints" / "epoch=0.ckpt"
    resumed = fit(module(synth_root, THREE, tmp_path, **options), tmp_path / "checkpoints", checkpoint)
    assert list(resumed) == [1] and resumed[1] == full[1]
