"""The pose auto-encoder trains through the same engine and serves as the FGD feature extractor."""

from __future__ import annotations

import pytest
import torch

from cospeech.errors import CheckpointError, ConfigError
from cospeech.training.autoencoder import PoseAutoencoderModule, load_autoencoder
from cospeech.training.engine import run_cli


def test_autoencoder_run_and_reload(synth_root, tmp_path):
    run_cli(
        [
            "fit",
            "--config",
            "pose_autoencoder",  # a built-in config, by name
            "--data.root",
            str(synth_root),
            "--data.cache_dir",
            str(tmp_path / "cache"),
            "--data.speakers",
            "[ava, ben]",
            "--data.batch_size",
            "4",
            "--run.root",
            str(tmp_path / "runs"),
            "--run.name",
            "ae",
            "--trainer.max_epochs",
            "2",
            "--trainer.limit_train_batches",
            "3",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    model, name = load_autoencoder(str(tmp_path / "runs" / "ae" / "version_0"))
    assert name == "pose_autoencoder" and not model.training
    poses = torch.randn(3, 64, 96)
    assert model.encode(poses).shape == (3, 32)


def test_config_errors():
    with pytest.raises(ConfigError, match="not an autoencoder"):
        PoseAutoencoderModule(autoencoder="speech2gesture")
    with pytest.raises(ConfigError, match="latent"):
        PoseAutoencoderModule(autoencoder_config={"latent": 3})


def test_a_gesture_checkpoint_is_not_an_extractor(tiny_config, tmp_path):
    run_cli(["fit", *tiny_config, "--trainer.max_epochs", "1"])
    with pytest.raises(CheckpointError, match="not a pose auto-encoder"):
        load_autoencoder(str(tmp_path / "runs" / "tiny" / "version_0"))
