"""The run engine behind ``cospeech fit | validate | test``: a ``LightningCLI`` with cospeech's defaults.

Every value of the YAML config can be overridden on the command line (``--model.lr 2e-4``,
``--data.speakers '[ava, ben]'``, ``--trainer.devices 2``); unknown keys and ill-typed values are rejected
by the parser with the key's name. A run lives in ``<run.root>/<run.name>/version_<n>/``:

* ``config.yaml``: the resolved config;
* ``checkpoints/best.ckpt`` (best ``run.monitor``) and ``checkpoints/last.ckpt``;
* ``metrics.json`` per epoch, ``final_metrics.json``, ``test_metrics.json``;
* TensorBoard event files (losses, metrics, generated-vs-real skeleton images).

Resume an interrupted run exactly with ``--ckpt_path <run>/checkpoints/last.ckpt`` (continues in the same
directory); start from another run's weights only with ``--model.init_from <run>``.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from cospeech.data.datamodule import PatsDataModule
from cospeech.training.callbacks import LastCheckpoint, MetricsJson, MonitorCheck, RngState, SkeletonImages

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
"""Built-in configs, usable by name: ``--config speech2gesture``."""


@dataclass
class RunConfig:
    """Where a run is written and how its checkpoint is selected."""

    name: str = "run"
    """Experiment name: the run directory is ``<root>/<name>/version_<n>``."""
    root: str = "runs"
    """Directory holding all runs."""
    monitor: str = "dev/L1"
    """Dev metric that selects ``best.ckpt`` and drives early stopping."""
    mode: Literal["min", "max"] = "min"
    """Whether lower (``min``) or higher (``max``) ``monitor`` is better."""
    selection: Literal["best", "last"] = "best"
    """``best``: keep the best checkpoint by ``monitor``; ``last``: keep the last epoch only (C-DiffGAN's
    ``-overfit 1``)."""
    early_stopping_patience: int | None = None
    """Stop after this many dev evaluations without improvement of ``monitor`` (null: never)."""


class CospeechCLI(LightningCLI):
    """LightningCLI with cospeech's run directory, checkpoints and callbacks."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_class_arguments(RunConfig, "run")

    def parse_arguments(self, parser: LightningArgumentParser, args: list[str]) -> None:
        """Parse as LightningCLI does, but first check the model when ``--print_config`` is asked for.

        jsonargparse prints the config and exits from inside ``parse_args``, before
        ``before_instantiate_classes`` checks the model, so the arguments are first parsed without the flag.
        That parse skips validation (jsonargparse's ``_skip_validation``), as the print does, so a template
        without a model (``cospeech fit --print_config``) still prints.
        """
        printing = [arg for arg in args if arg.partition("=")[0] == "--print_config"]
        if printing:
            config = parser.parse_args([arg for arg in args if arg not in printing], _skip_validation=True)
            _check_model(config[config.subcommand]["model"])
        super().parse_arguments(parser, args)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        _check_model(config["model"])
        run = config["run"]
        resumed = _version_dir(config.get("ckpt_path"))
        if config["trainer"].get("logger") in (None, True):
            # a resumed run continues in the directory its checkpoint lives in
            location = {"save_dir": run.root, "name": run.name, "version": None}
            if resumed is not None:
                location = {
                    "save_dir": str(resumed.parent.parent),
                    "name": resumed.parent.name,
                    "version": int(resumed.name.removeprefix("version_")),
                }
            config["trainer"]["logger"] = {
                "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                "init_args": location,
            }
        if resumed is not None:
            self.save_config_kwargs["overwrite"] = True

    def instantiate_trainer(self, **kwargs: Any):
        run = self.config[self.subcommand]["run"]
        callbacks = [
            ModelCheckpoint(
                filename="best",
                monitor=run.monitor,
                mode=run.mode,
                save_top_k=1 if run.selection == "best" else 0,
                save_last=False,  # LastCheckpoint writes last.ckpt after every epoch
                auto_insert_metric_name=False,
            ),
            LastCheckpoint(),
            MonitorCheck(run.monitor),
            MetricsJson(),
            RngState(),
            SkeletonImages(),
        ]
        if run.early_stopping_patience is not None:
            callbacks.append(
                EarlyStopping(monitor=run.monitor, mode=run.mode, patience=run.early_stopping_patience)
            )
        configured = self.config_init[self.subcommand]["trainer"].get("callbacks") or []
        configured = configured if isinstance(configured, list) else [configured]
        return super().instantiate_trainer(callbacks=[*configured, *callbacks], **kwargs)


def _check_model(model: Any) -> None:
    """Let the model class reject unknown model names and config keys in one line (``check_config``).

    ``model`` is the parsed ``{class_path, init_args}``, or ``None`` in a template printed without one.
    """
    if model is None:
        return
    model_class = _import(model["class_path"])
    if hasattr(model_class, "check_config"):
        model_class.check_config(model["init_args"])


def _import(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _version_dir(ckpt_path: str | None) -> Path | None:
    """``…/version_<n>`` if ``ckpt_path`` is a checkpoint inside a run directory."""
    if not ckpt_path:
        return None
    path = Path(ckpt_path).resolve()
    version = path.parent.parent.name
    if path.parent.name == "checkpoints" and version.startswith("version_") and version[8:].isdigit():
        return path.parent.parent
    return None


def resolve_config_argument(args: list[str]) -> list[str]:
    """``--config NAME`` (no ``.yaml``, not a file) → the built-in config of that name."""
    out = list(args)
    for i, arg in enumerate(out[:-1]):
        if arg == "--config" and not Path(out[i + 1]).exists():
            builtin = CONFIG_DIR / f"{out[i + 1]}.yaml"
            if builtin.is_file():
                out[i + 1] = str(builtin)
    return out


def run_cli(args: list[str]) -> CospeechCLI:
    """Run ``fit``/``validate``/``test`` with command-line style ``args`` (first item the subcommand)."""
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    return CospeechCLI(
        model_class=L.LightningModule,  # any LightningModule named by class_path (GestureModule, …)
        datamodule_class=PatsDataModule,
        subclass_mode_model=True,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": False},
        args=resolve_config_argument(args),
    )
