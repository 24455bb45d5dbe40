"""The registry's contract, and a forward/backward/save/load round trip for every registered model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from cospeech.errors import ConfigError
from cospeech.models import (
    Generator,
    build_model,
    config_fields,
    list_models,
    model_config,
    model_entry,
    register_model,
    registry,
    run_generator,
)
from cospeech.models.speech2gesture import Speech2GestureConfig

BATCH, FRAMES = 2, 64


def _run(model: nn.Module, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Feed ``model`` a seeded tiny batch of what its kind consumes; return its main output and the sum of
    its auxiliary losses (0 for models without any)."""
    g = torch.Generator().manual_seed(0)
    config = model.config
    if kind in ("generator", "baseline"):  # the contract: the model's own example inputs, in a training step
        output = run_generator(model, model.example_inputs(BATCH, FRAMES), training=True)
        return output.poses, sum(output.losses.values(), torch.zeros(()))
    if kind == "discriminator":
        return model(torch.randn(BATCH, FRAMES, config.pose_dim, generator=g)), torch.zeros(())
    pose = torch.randn(BATCH, config.window, config.pose_dim, generator=g)
    return model(pose).reconstruction, torch.zeros(())


def test_built_in_models_are_registered() -> None:
    assert set(list_models()) >= {
        "speech2gesture",
        "motion_discriminator",
        "pose_autoencoder",
        "mean_pose",
        "random_window",
        "nearest_neighbour",
        "mix_stage",
        "sdt",
    }
    assert {"speech2gesture", "mix_stage", "sdt"} <= set(list_models("generator"))
    assert list_models("discriminator") == ["motion_discriminator", "pose_sequence_discriminator"]
    assert set(list_models("baseline")) == {"mean_pose", "random_window", "nearest_neighbour"}


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'speech2gestur'.*speech2gesture"):
        build_model("speech2gestur")


def test_unknown_key_is_named_with_allowed_keys() -> None:
    with pytest.raises(ConfigError, match=r"no config key 'chanels'; allowed keys: pose_dim, channels"):
        build_model("speech2gesture", chanels=64)


def test_ill_typed_values_are_named_with_the_expected_type() -> None:
    with pytest.raises(ConfigError, match=r"channels='abc' is not int; dropout=True is not float"):
        model_config("speech2gesture", channels="abc", dropout=True)
    with pytest.raises(ConfigError, match="feature='bogus' is not one of 'flat', 'pooled'"):
        model_config("nearest_neighbour", feature="bogus")
    assert (
        model_config("speech2gesture", dropout=0).dropout == 0
    )  # YAML writes 0 for 0.0: an int fits a float


def test_data_derived_fields_come_from_the_data_and_must_agree() -> None:
    data = {"pose_dim": 10, "audio_dim": 64, "num_styles": 2, "window": 32}
    assert model_config("speech2gesture", data).pose_dim == 10
    assert model_config("speech2gesture", data, pose_dim=10).pose_dim == 10
    with pytest.raises(
        ConfigError, match=r"pose_dim=96 in the config disagrees with the data \(pose_dim=10\)"
    ):
        model_config("speech2gesture", data, pose_dim=96)
    with pytest.raises(ConfigError, match="needs window from the data"):
        model_config("pose_autoencoder", {"pose_dim": 10})


def test_invalid_values_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        model_config("speech2gesture", channels=6, dropout=1.5)
    assert "channels must be a positive multiple of 4, got 6" in str(info.value)
    assert "dropout must be in [0, 1), got 1.5" in str(info.value)


def test_model_config_applies_overrides() -> None:
    config = model_config("speech2gesture", channels=32)
    assert isinstance(config, Speech2GestureConfig)
    assert config.channels == 32
    assert config.unet_depth == Speech2GestureConfig().unet_depth


def test_duplicate_name_fails() -> None:
    with pytest.raises(ConfigError, match="registered twice"):

        @register_model("speech2gesture", config=Speech2GestureConfig)
        class Impostor(Generator):
            pass

    assert model_entry("speech2gesture").builder.__name__ == "Speech2GestureGenerator"


def test_a_generator_must_follow_the_contract() -> None:
    with pytest.raises(TypeError, match="must subclass cospeech.models.Generator"):

        @register_model("bare_module", config=Speech2GestureConfig)
        class Bare(nn.Module):
            pass

    assert "bare_module" not in list_models()


def test_config_must_be_a_dataclass() -> None:
    with pytest.raises(TypeError, match="dataclass"):
        register_model("not_a_model", config=dict)


@pytest.mark.parametrize("name", list_models())
def test_every_config_field_is_listed_with_its_default_and_a_docstring(name: str) -> None:
    fields = config_fields(name)
    config = model_entry(name).config
    assert [f.name for f in fields] == [f.name for f in dataclasses.fields(config)]
    assert {f.name: f.default for f in fields} == dataclasses.asdict(config())
    assert all(f.doc and f.type for f in fields), [f.name for f in fields if not f.doc]


def test_config_fields_resolve_types_and_keep_whole_docstrings() -> None:
    fields = {f.name: f for f in config_fields("nearest_neighbour")}
    assert (fields["window"].type, fields["window"].default) == ("int", 64)
    assert fields["feature"].type == "Literal['flat', 'pooled']"
    assert fields["feature"].doc.startswith("Audio key of a window: ``flat``, all ``T_w · F`` values")
    assert fields["feature"].doc.endswith("standardised with the training statistics.")
    assert "\nthe overall sound only)" in fields["feature"].doc  # dedented continuation lines
    with pytest.raises(ConfigError, match="unknown model 'nearest_neighbor'; known models: mean_pose"):
        config_fields("nearest_neighbor")


@dataclass(frozen=True)
class _BaseConfig:
    width: int = 8
    """Width, documented in the base class."""
    label: str = "x"


@dataclass(frozen=True)
class _DerivedConfig(_BaseConfig):
    depth: int = 2
    """Depth, documented in the subclass."""


def test_config_fields_read_docs_of_dataclass_bases_and_tolerate_missing_source(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", registry._REGISTRY.copy())  # keep the test models private
    register_model("derived", config=_DerivedConfig, kind="discriminator")(nn.Identity)
    register_model(
        "sourceless", config=dataclasses.make_dataclass("Made", [("size", int, 3)]), kind="discriminator"
    )(nn.Identity)
    assert [(f.name, f.type, f.default, f.doc) for f in config_fields("derived")] == [
        ("width", "int", 8, "Width, documented in the base class."),
        ("label", "str", "x", ""),
        ("depth", "int", 2, "Depth, documented in the subclass."),
    ]
    assert [(f.name, f.default, f.doc) for f in config_fields("sourceless")] == [("size", 3, "")]


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_state_dict_round_trip(name: str) -> None:
    kind = model_entry(name).kind
    torch.manual_seed(0)
    model = build_model(name)
    out, auxiliary = _run(model, kind)
    assert out.dim() in (2, 3) and out.shape[0] == BATCH
    assert torch.isfinite(out).all() and torch.isfinite(auxiliary)

    params = [p for p in model.parameters() if p.requires_grad]
    assert bool(params) == (kind != "baseline")
    if params:  # what a recipe minimises: a loss on the output plus the auxiliary losses
        (out.square().mean() + auxiliary).backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)

    # A checkpoint is (name, config, state_dict): rebuild through the registry and compare in eval mode.
    clone = build_model(name, **dataclasses.asdict(model.config))
    clone.load_state_dict(model.state_dict())
    model.eval()
    clone.eval()
    with torch.no_grad():
        torch.testing.assert_close(_run(clone, kind), _run(model, kind))
