"""Every built-in config (``src/cospeech/configs/*.yaml``) names registered models and trains.

Like litgpt's ``tests/test_config_hub.py``: the list comes from the directory, so a new YAML is tested
without touching this file. Each is checked statically (model names, kinds and config keys through the
registry) and then run for two training batches and one dev batch by the real engine on the tiny corpus
(in the SDT clip layout for configs that read ``data.format: sdt``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from pathlib import Path
from typing import Any, get_args

import pytest
import torch
import yaml

from cospeech.models import model_config, model_entry
from cospeech.models.registry import ModelKind
from cospeech.training.engine import CONFIG_DIR, run_cli

CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def named_models(config: dict[str, Any]) -> dict[ModelKind, tuple[str, dict[str, Any]]]:
    """``kind → (model name, config overrides)`` for every model the config's LightningModule builds.

    The training modules name their models by init arguments called after a model kind (``generator``,
    ``discriminator``, ``autoencoder``) with the overrides in ``<kind>_config``; an argument the YAML leaves
    out takes the module's default, and a null name builds nothing.
    """
    module, _, name = config["model"]["class_path"].rpartition(".")
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    init_args = config["model"].get("init_args") or {}
    models = {}
    for kind in get_args(ModelKind):
        if kind in parameters:
            model = init_args.get(kind, parameters[kind].default)
            if model is not None:
                models[kind] = (model, init_args.get(f"{kind}_config") or {})
    return models


def test_every_built_in_config_is_found():
    assert {path.stem for path in CONFIGS} >= {"speech2gesture", "quickstart", "pose_autoencoder"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_config_names_registered_models_and_their_config_keys(path: Path):
    models = named_models(yaml.safe_load(path.read_text()))
    assert models, f"{path.name} builds no registered model"
    for kind, (name, overrides) in models.items():
        assert model_entry(name).kind == kind, f"{path.name}: {name!r} is not a {kind}"
        model_config(name, **overrides)  # raises ConfigError naming an unknown key or invalid value


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One feature cache for every config's run (it is keyed on the files and settings)."""
    return tmp_path_factory.mktemp("config_cache")


def corpus_for(path: Path, request: pytest.FixtureRequest) -> Path:
    """The session's built-in corpus in the layout the config reads (``data.format``: PATS or SDT)."""
    data_format = (yaml.safe_load(path.read_text()).get("data") or {}).get("format", "pats")
    return request.getfixturevalue("sdt_synth_root" if data_format == "sdt" else "synth_root")


@pytest.fixture(scope="module")
def pose_vae(
    cache_dir: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Path:
    """A tiny run of ``pose_vae_sdt.yaml`` (ava), for the configs that take templates from a pose VAE."""
    root = tmp_path_factory.mktemp("pose_vae")
    config = CONFIG_DIR / "pose_vae_sdt.yaml"
    run_cli([
        "fit", "--config", str(config),
        "--data.root", str(corpus_for(config, request)), "--data.speakers", "[ava]", "--data.batch_size", "4",
        "--data.cache_dir", str(cache_dir), "--run.root", str(root),
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--model.init_args.autoencoder_config", json.dumps({"variational": True, "channels": 16}),
    ])  # fmt: skip
    return root / "pose_vae_sdt" / "version_0"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_config_trains_and_validates(
    path: Path, cache_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
):
    """Two training batches (so a GAN's coin flips, seeded by step, give one D and one G step: every
    optimiser steps) and one dev batch, through the run engine exactly as ``cospeech fit`` runs it.

    Models are narrowed to 16 channels: at full width one step takes seconds on 2 cores, and the wiring,
    not the width, is under test (the YAML's own values are checked above)."""
    narrow = []
    for kind, (name, overrides) in named_models(yaml.safe_load(path.read_text())).items():
        if "channels" in {field.name for field in dataclasses.fields(model_entry(name).config)}:
            narrow += [f"--model.init_args.{kind}_config", json.dumps({**overrides, "channels": 16})]
    if "pose_vae" in (yaml.safe_load(path.read_text())["model"].get("init_args") or {}):
        narrow += ["--model.init_args.pose_vae", str(request.getfixturevalue("pose_vae"))]
    cli = run_cli([
        "fit", "--config", str(path),
        "--data.root", str(corpus_for(path, request)), "--data.speakers", "[ava]", "--data.batch_size", "4",
        "--data.cache_dir", str(cache_dir), "--run.root", str(tmp_path / "runs"),
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0", "--trainer.log_every_n_steps", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *narrow,
    ])  # fmt: skip
    assert cli.trainer.fit_loop.epoch_loop.batch_progress.total.completed == 2
    monitor = cli.config.fit.run.monitor
    assert torch.isfinite(cli.trainer.callback_metrics[monitor])
    assert (Path(cli.trainer.logger.log_dir) / "checkpoints" / "best.ckpt").is_file()
