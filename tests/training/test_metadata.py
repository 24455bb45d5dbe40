"""The run-metadata schema refuses malformed input in one line, and the recipe base is not a recipe."""

from __future__ import annotations

import pytest
import torch
from tiny_runs import PATS48_SPEC

from cospeech.data.normalize import Normalizer
from cospeech.data.spec import DataSpec
from cospeech.errors import CheckpointError, ConfigError
from cospeech.training.base import GestureModule
from cospeech.training.checkpoints import resolve_checkpoint
from cospeech.training.metadata import Component, RunMetadata

SPEC = PATS48_SPEC


def _metadata(**data) -> dict:
    normalizer = Normalizer(
        mean={"pose": torch.zeros(1, 96), "audio": torch.zeros(1, 64)},
        std={"pose": torch.ones(1, 96), "audio": torch.ones(1, 64)},
    )
    metadata = RunMetadata(
        model=Component("speech2gesture", {"channels": 16}, "generator."),
        data=DataSpec.from_dict(SPEC),
        normalizer=normalizer,
        recipe="test",
    )
    meta = metadata.to_dict(tensors=False)
    meta["data"].update(data)
    return meta


def test_round_trip():
    meta = RunMetadata.from_dict(_metadata(), "x.ckpt")
    assert meta.speakers == ("ava",) and meta.data.pose_dim == 96 and meta.model.config == {"channels": 16}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"speakers": "ava"}, "speakers='ava' must be a non-empty list of names"),
        ({"window_seconds": "4.3"}, "window_seconds='4.3' must be a number of seconds"),
        ({"audio_dim": 64.0}, "audio_dim=64.0 must be an integer"),
        ({"skeleton": "pats99"}, "pats99"),
    ],
)
def test_malformed_data_specs_are_one_line_errors(change, message):
    with pytest.raises(CheckpointError, match=message) as error:
        RunMetadata.from_dict(_metadata(**change), "x.ckpt")
    assert str(error.value).startswith("x.ckpt: ") and "\n" not in str(error.value)


def test_tampered_statistics_and_configs_are_refused():
    meta = _metadata()
    meta["normalizer"]["pose.std"] = [[0.0] * 96]
    with pytest.raises(CheckpointError, match="pose std has non-positive"):
        RunMetadata.from_dict(meta, "x.ckpt")
    meta = _metadata()
    meta["schema"] = "2"
    with pytest.raises(CheckpointError, match="schema '2'"):
        RunMetadata.from_dict(meta, "x.ckpt")
    with pytest.raises(CheckpointError, match="config of 'speech2gesture' is not a mapping"):
        Component("speech2gesture", [1, 2], "generator.").build({}, "x.ckpt")  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="channels='wide' is not int"):
        Component("speech2gesture", {"channels": "wide"}, "generator.").build({}, "x.ckpt")


def test_data_that_differs_from_the_training_data_is_named():
    meta = RunMetadata.from_dict(_metadata(), "x.ckpt")
    other = DataSpec.from_dict({**SPEC, "speakers": ["ava", "ben"]})
    with pytest.raises(CheckpointError, match=r"speakers: trained \('ava',\), data \('ava', 'ben'\)"):
        meta.check_data(other, "x.ckpt")
    levelled = DataSpec.from_dict({**SPEC, "audio_level": "utterance"})  # the same data, levelled
    with pytest.raises(CheckpointError, match="audio_level: trained 'none', data 'utterance'"):
        meta.check_data(levelled, "x.ckpt")


def test_an_export_is_not_a_run(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="an exported model .* needs a run directory or a .ckpt"):
        resolve_checkpoint(tmp_path)


def test_the_recipe_base_is_not_a_recipe():
    with pytest.raises(ConfigError, match="base of training recipes and has no training step"):
        GestureModule.check_config({})
