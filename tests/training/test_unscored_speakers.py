"""A speaker with nothing to score never stops checkpointing (issue 9).

Real runs of the engine on a corpus where ben's only dev interval is shorter than a window
(``short_dev_root``). A NaN monitor itself is tested with the callbacks alone (``test_checkpoints``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_runs import tiny_run_args

from cospeech.training.checkpoints import load_checkpoint
from cospeech.training.engine import run_cli

EPOCHS = 2


def fit(workdir: Path, root: Path, *overrides: str) -> Path:
    """A tiny generator-only run of ``EPOCHS`` epochs scoring every dev window; its run directory."""
    run_cli(
        ["fit", *tiny_run_args(workdir, root, discriminator=None), "--trainer.max_epochs", str(EPOCHS),
         "--trainer.limit_val_batches", "1.0", *overrides]
    )  # fmt: skip
    return workdir / "runs" / "tiny" / "version_0"


def ours(recwarn: pytest.WarningsRecorder) -> list[str]:
    return [str(w.message) for w in recwarn if str(w.message).startswith("cospeech:")]


def epoch_of(checkpoint: Path) -> int:
    return load_checkpoint(checkpoint)["epoch"]


def test_a_speaker_without_dev_windows_is_left_out_of_the_mean_and_named_once(
    short_dev_root, tmp_path, recwarn
):
    # batch 1 and one sanity batch: the sanity check scores only ava, which must not be warned about
    run = fit(tmp_path, short_dev_root, "--data.speakers", "[ava, ben, cleo]", "--data.batch_size", "1",
              "--trainer.num_sanity_val_steps", "1")  # fmt: skip
    assert ours(recwarn) == [
        "cospeech: speaker 'ben' has no dev windows to score (its dev intervals are shorter than the 4.3 s "
        "window, or limit_val_batches stops before them); dev/<metric> is the mean over the other speakers "
        "and dev/ben/* is not logged"
    ]
    history = json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == list(range(EPOCHS))
    for entry in history:
        assert not any(key.startswith("dev/ben/") for key in entry)
        for name in ("L1", "PCK"):
            both = (entry[f"dev/ava/{name}"] + entry[f"dev/cleo/{name}"]) / 2
            assert entry[f"dev/{name}"] == pytest.approx(both, rel=1e-6)
    best = min(range(EPOCHS), key=lambda e: history[e]["dev/L1"])
    assert epoch_of(run / "checkpoints" / "best.ckpt") == best
    assert epoch_of(run / "checkpoints" / "last.ckpt") == EPOCHS - 1


def test_without_any_dev_window_last_ckpt_is_still_every_epoch(short_dev_root, tmp_path, recwarn):
    run = fit(tmp_path, short_dev_root, "--data.speakers", "[ben]")
    assert ours(recwarn) == [
        "cospeech: there are no dev batches to score (no speaker has a dev window, or limit_val_batches=0), "
        "so run.monitor 'dev/L1' is never logged: best.ckpt is not written and last.ckpt (every epoch) is "
        "the run's checkpoint; give a speaker dev intervals at least one window long, or train with "
        "--run.selection last"
    ]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt"]
    assert epoch_of(run / "checkpoints" / "last.ckpt") == EPOCHS - 1
