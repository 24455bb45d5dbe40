"""Run folders you can trust: fixed checkpoint names across resumes, resume in a moved folder with the
run's own saved config, no folder left by a failed start, test/validate metrics next to the run, atomic
checkpoint files, and the DDP strategy a GAN needs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from engine_runs import engine_args
from lightning.pytorch.strategies import StrategyRegistry

from cospeech.errors import ConfigError, CospeechError
from cospeech.training.adversarial import AdversarialRecipe
from cospeech.training.checkpoints import load_checkpoint
from cospeech.training.engine import choose_unused_parameter_search, run_cli
from cospeech.training.run_folder import AtomicCheckpointIO


def epoch_of(path: Path) -> int:
    return load_checkpoint(path)["epoch"]


@pytest.fixture(scope="module")
def moved_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run trained for one epoch, copied elsewhere (as onto another machine), then resumed to two epochs
    with its own saved config, typed as a user would: ``fit --config RUN/config.yaml --ckpt_path …``.

    The copy's config names the original place in ``trainer.logger``, as configs saved by earlier versions
    did. ``run.mode max`` makes epoch 0 the best one (dev L1 falls), so a resume that lost the best score
    would overwrite ``best.ckpt`` with epoch 1. Returns (original folder, moved folder)."""
    workdir = tmp_path_factory.mktemp("moved")
    run_cli(["fit", *engine_args(workdir, synth_root), "--run.mode", "max", "--trainer.max_epochs", "1"])
    original = workdir / "runs" / "tiny" / "version_0"
    moved = workdir / "elsewhere" / "tiny" / "version_0"
    shutil.copytree(original, moved)
    config = yaml.safe_load((moved / "config.yaml").read_text())
    assert config["trainer"]["logger"] is None and config["ckpt_path"] is None
    config["trainer"]["logger"] = {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": str(workdir / "runs"), "name": "tiny", "version": None},
    }
    (moved / "config.yaml").write_text(yaml.safe_dump(config))
    run_cli(["fit", "--config", str(moved / "config.yaml"), "--trainer.max_epochs", "2",
             "--ckpt_path", str(moved / "checkpoints" / "last.ckpt")])  # fmt: skip
    return original, moved


def test_resume_with_the_saved_config_continues_in_the_moved_folder(moved_run):
    original, moved = moved_run
    assert sorted(p.name for p in original.parent.iterdir()) == ["version_0"]  # no version_1 at the old place
    assert epoch_of(original / "checkpoints" / "last.ckpt") == 0  # the original was not written to
    assert sorted(p.name for p in moved.parent.iterdir()) == ["version_0"]
    assert [h["epoch"] for h in json.loads((moved / "metrics.json").read_text())] == [0, 1]
    saved = yaml.safe_load((moved / "config.yaml").read_text())
    assert saved["ckpt_path"] is None  # the run's config, not a resume pointer


def test_resume_overwrites_best_and_last_and_keeps_the_best_score(moved_run):
    _, moved = moved_run
    checkpoints = moved / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]  # no -v1 files
    assert epoch_of(checkpoints / "last.ckpt") == 1
    history = json.loads((moved / "metrics.json").read_text())
    best = max(history, key=lambda h: h["dev/L1"])  # run.mode max
    assert best["epoch"] == 0  # (else this test could not tell a kept best score from a lost one)
    assert epoch_of(checkpoints / "best.ckpt") == 0


def test_final_metrics_label_the_last_and_the_selected_epoch(moved_run):
    _, moved = moved_run
    history = json.loads((moved / "metrics.json").read_text())
    final = json.loads((moved / "final_metrics.json").read_text())
    assert final["last"] == history[1]
    assert final["selected"] == {**history[0], "checkpoint": "best.ckpt"}


@pytest.mark.parametrize(
    ("command", "written"), [("test", "test_metrics.json"), ("validate", "validate_metrics.json")]
)
def test_scoring_a_runs_checkpoint_writes_into_that_run(moved_run, command, written):
    original, moved = moved_run
    config = (moved / "config.yaml").read_bytes()
    run_cli(
        [
            command,
            "--config",
            str(moved / "config.yaml"),
            "--ckpt_path",
            str(moved / "checkpoints" / "best.ckpt"),
        ]
    )
    split = "test" if command == "test" else "dev"
    metrics = json.loads((moved / written).read_text())
    assert f"{split}/L1" in metrics and f"{split}/ava/L1" in metrics
    assert sorted(p.name for p in moved.parent.iterdir()) == ["version_0"]
    assert sorted(p.name for p in original.parent.iterdir()) == ["version_0"]
    assert (moved / "config.yaml").read_bytes() == config  # scoring does not rewrite the run's config


def test_a_fit_failing_before_training_leaves_no_folder(tiny_config, tmp_path, capsys):
    with pytest.raises(CospeechError, match="not found"):
        run_cli(["fit", *tiny_config, "--data.root", str(tmp_path / "nowhere")])
    assert not (tmp_path / "runs").exists()  # the real run will be version_0
    assert "cospeech: removed" in capsys.readouterr().err


def test_a_failed_resume_keeps_the_existing_run(moved_run, tmp_path):
    _, moved = moved_run
    before = {p.relative_to(moved) for p in moved.rglob("*")}
    with pytest.raises(CospeechError, match="not found"):
        run_cli(["fit", "--config", str(moved / "config.yaml"), "--data.root", str(tmp_path / "nowhere"),
                 "--ckpt_path", str(moved / "checkpoints" / "last.ckpt")])  # fmt: skip
    assert before <= {p.relative_to(moved) for p in moved.rglob("*")}  # nothing removed


def test_a_refused_resume_leaves_the_runs_config_as_it_was(moved_run):
    _, moved = moved_run
    saved = (moved / "config.yaml").read_text()
    with pytest.raises(CospeechError, match="the data does not match the model .*audio_level"):
        run_cli(["fit", "--config", str(moved / "config.yaml"), "--data.audio_level", "none",
                 "--trainer.max_epochs", "3",
                 "--ckpt_path", str(moved / "checkpoints" / "last.ckpt")])  # fmt: skip
    assert (moved / "config.yaml").read_text() == saved  # the README's resume command still works


def test_a_checkpoint_write_that_breaks_midway_leaves_the_previous_file(tmp_path, monkeypatch):
    """As if the process died while writing: the destination keeps the previous complete checkpoint."""
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 0, "w": torch.ones(3)}, path)
    stale = path.parent / ".last.ckpt.killed.tmp"  # what a kill -9 during a write leaves behind
    stale.mkdir()

    def torn_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise OSError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", torn_save)
        with pytest.raises(OSError, match="No space"):
            io.save_checkpoint({"epoch": 1, "w": torch.zeros(3)}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 0
    io.save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary files left


def test_ddp_with_a_gan_searches_for_unused_parameters(capsys):
    strategy = StrategyRegistry.get("ddp")
    choose_unused_parameter_search(strategy, AdversarialRecipe())
    assert strategy._ddp_kwargs["find_unused_parameters"] is True
    note = capsys.readouterr().err
    assert note.startswith("cospeech: using ddp_find_unused_parameters_true") and note.count("\n") == 1

    without_gan = StrategyRegistry.get("ddp")
    choose_unused_parameter_search(without_gan, AdversarialRecipe(discriminator=None))
    assert "find_unused_parameters" not in without_gan._ddp_kwargs  # L1 alone uses every parameter
    assert capsys.readouterr().err == ""

    with pytest.raises(ConfigError, match="ddp_find_unused_parameters_true"):
        choose_unused_parameter_search(
            StrategyRegistry.get("ddp_find_unused_parameters_false"), AdversarialRecipe()
        )
