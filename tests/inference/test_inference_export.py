"""Exported models: safetensors + config.json, loaded without pickle, generating exactly what the run did."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from inference_testdata import synthetic_speech
from safetensors import safe_open

from cospeech import __version__
from cospeech.audio import SAMPLE_RATE
from cospeech.errors import CheckpointError
from cospeech.files import OutputError, default_modes
from cospeech.inference import GestureGenerator, export_model, load_exported, read_checkpoint
from cospeech.skeletons import PATS48


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    return export_model(tiny_run, tmp_path_factory.mktemp("export") / "s2g")


def test_export_holds_generator_weights_and_a_readable_config(exported):
    assert sorted(p.name for p in exported.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((exported / "config.json").read_text())
    assert config["format"] == "cospeech-gesture-generator" and config["format_version"] == 2
    assert config["exported_with"] == __version__
    meta = config["metadata"]
    assert meta["cospeech_version"] == __version__ and meta["schema"] == 2
    assert meta["model"]["name"] == "speech2gesture" and meta["model"]["config"]["pose_dim"] == 96
    assert meta["model"]["prefix"] == "" and meta["components"] == {}  # only the generator is exported
    assert meta["data"]["skeleton"] == "pats48" and tuple(config["joint_names"]) == PATS48.joint_names
    assert meta["data"]["speakers"] == ["ava", "ben"]
    assert np.array(meta["normalizer"]["pose.mean"]).shape == (2, 96)
    assert np.array(meta["normalizer"]["audio.std"]).shape == (2, 64)
    assert meta["data"]["audio_key"] == "audio/log_mel_400" and meta["data"]["fps"] == 15
    assert meta["data"]["window_seconds"] == 4.3 and meta["representation"] == "z_flat"
    recipe = config["feature_recipe"]
    assert recipe["sample_rate"] == 16_000 and recipe["n_mels"] == 64 and recipe["hop_length"] == 160
    with safe_open(str(exported / "model.safetensors"), framework="pt") as weights:
        names = list(weights.keys())
    assert names and not any(n.startswith(("generator.", "discriminator")) for n in names)
    assert "decoder.4.weight" in names
    file_mode, _ = default_modes()  # safetensors alone writes 0600
    assert {p.stat().st_mode & 0o777 for p in exported.iterdir()} == {file_mode}


def test_exported_model_generates_exactly_what_the_checkpoint_does(tiny_run, exported, monkeypatch):
    speech = synthetic_speech(10.0, seed=6)
    from_run = GestureGenerator.from_pretrained(tiny_run).generate(
        speech, sample_rate=SAMPLE_RATE, speaker="ben"
    )
    original = read_checkpoint(tiny_run).metadata.normalizer.state_dict()

    def no_pickles(*args, **kwargs):
        raise AssertionError("an exported model must load without torch.load / pickle")

    monkeypatch.setattr(torch, "load", no_pickles)
    from_export = GestureGenerator.from_pretrained(exported).generate(
        speech, sample_rate=SAMPLE_RATE, speaker="ben"
    )
    np.testing.assert_array_equal(from_export.poses, from_run.poses)
    assert from_export.speaker == "ben" and from_export.joint_names == from_run.joint_names
    for key, value in load_exported(exported).metadata.normalizer.state_dict().items():
        assert torch.equal(value, original[key]), key


def test_export_replaces_an_earlier_export_but_not_other_directories(tiny_run, tmp_path):
    target = tmp_path / "model"
    export_model(tiny_run, target)
    export_model(tiny_run, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    with pytest.raises(OutputError, match="notes: exists and is not an exported model"):
        export_model(tiny_run, notes)
    assert (notes / "todo.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(format_version=99), "format_version 99 is not supported"),
        (lambda c: c["feature_recipe"].update(n_mels=80), "feature recipe"),
        (lambda c: c.update(format="something-else"), "not a cospeech exported model"),
        (
            lambda c: c["metadata"]["model"]["config"].update(channels=128),
            "weights do not fit speech2gesture",
        ),
        (
            lambda c: c["metadata"]["normalizer"].update({"pose.mean": [[0.0] * 96]}),
            "normaliser pose statistics",
        ),
        (lambda c: c["metadata"].update(schema=1), "run metadata schema 1"),
        (lambda c: c["metadata"]["data"].pop("speakers"), "missing keys \\['speakers'\\]"),
    ],
)
def test_tampered_exports_are_refused_with_the_file_named(tiny_run, tmp_path, change, message):
    directory = export_model(tiny_run, tmp_path / "model")
    config = json.loads((directory / "config.json").read_text())
    change(config)
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message) as error:
        GestureGenerator.from_pretrained(directory)
    assert str(directory) in str(error.value) and "\n" not in str(error.value)


def test_missing_weights_file_is_named(tiny_run, tmp_path):
    directory = export_model(tiny_run, tmp_path / "model")
    (directory / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: missing"):
        load_exported(directory)
