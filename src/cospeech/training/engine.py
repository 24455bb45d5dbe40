"""The run engine behind ``cospeech fit | validate | test``: a ``LightningCLI`` with cospeech's defaults.

Every value of the YAML config can be overridden on the command line (``--model.lr 2e-4``,
``--data.speakers '[ava, ben]'``, ``--trainer.devices 2``); unknown keys and ill-typed values are rejected
by the parser with the key's name. A run lives in ``<run.root>/<run.name>/version_<n>/``:

* ``config.yaml``: the resolved config (without ``ckpt_path``);
* ``checkpoints/best.ckpt`` (best ``run.monitor``) and ``checkpoints/last.ckpt`` (last epoch), always
  under these names and written atomically (``cospeech.training.run_folder``);
* ``metrics.json`` per epoch, ``final_metrics.json`` (last and selected epoch), ``test_metrics.json`` and
  ``validate_metrics.json`` from ``cospeech test``/``validate`` on the run's checkpoint;
* TensorBoard event files (losses, metrics, generated-vs-real skeleton images).

Resume an interrupted run exactly with ``--ckpt_path <run>/checkpoints/last.ckpt``: it continues in that
folder, wherever it now is, with any config (the run's own ``config.yaml`` included). Start from another
run's weights only with ``--model.init_from <run>``. A command that fails before training removes the
version folder it created.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch.callbacks import EarlyStopping, ModelSummary, ProgressBar, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.strategies import DDPStrategy, Strategy
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from cospeech.data.datamodule import PatsDataModule
from cospeech.errors import ConfigError
from cospeech.training.callbacks import MetricsJson, MonitorCheck, RngState, SkeletonImages
from cospeech.training.run_folder import (
    AtomicCheckpointIO,
    DiscardUnusedRunFolder,
    RunCheckpoint,
    run_directory,
)

TENSORBOARD = "lightning.pytorch.loggers.TensorBoardLogger"

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
    dev_video_frames: int = 45
    """Frames of the dev window video logged to TensorBoard after each dev evaluation (45: 3 s at 15 fps;
    0: none)."""
    tf32: bool = True
    """On CUDA GPUs from Ampere on, float32 matrix multiplies run in TensorFloat-32 (10-bit mantissa
    products, float32 sums: ``torch.set_float32_matmul_precision("high")``), as cuDNN's convolutions
    already do by PyTorch's default; ``false`` makes both full float32. No effect on the CPU."""


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
        """Check the model and place the run: a new ``version_<n>`` under ``run.root/run.name``, or the
        folder of ``--ckpt_path`` when that is a run's checkpoint, wherever the folder now is. The latter also
        holds with the run's own saved config, whose logger (saved by earlier versions) names the old
        place."""
        config = self.config[self.subcommand]
        _check_model(config["model"])
        run = config["run"]
        self.resumed = run_directory(config.get("ckpt_path"))
        logger = config["trainer"].get("logger")
        self.location: dict[str, Any] | None = None
        if logger in (None, True) or (self.resumed is not None and _class_path(logger) == TENSORBOARD):
            self.location = {"save_dir": run.root, "name": run.name, "version": None}
            if self.resumed is not None:
                self.location = {
                    "save_dir": str(self.resumed.parent.parent),
                    "name": self.resumed.parent.name,
                    "version": int(self.resumed.name.removeprefix("version_")),
                }
        if self.resumed is not None:
            self.save_config_kwargs["overwrite"] = True
            self.save_config_kwargs["resumed"] = True
            if self.subcommand != "fit":
                self.save_config_callback = None  # scoring a run's checkpoint keeps the run's config.yaml

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        run = self.config[self.subcommand]["run"]
        set_tf32(run.tf32)
        callbacks = [
            RunCheckpoint(
                resumed_from=self.resumed / "checkpoints" if self.resumed is not None else None,
                filename="best",
                monitor=run.monitor,
                mode=run.mode,
                save_top_k=1 if run.selection == "best" else 0,
                save_last=True,  # every epoch, whatever the monitor does (see RunCheckpoint)
                auto_insert_metric_name=False,
            ),
            MonitorCheck(run.monitor),
            MetricsJson(),
            RngState(),
            SkeletonImages(video_frames=run.dev_video_frames),
        ]
        if run.early_stopping_patience is not None:
            callbacks.append(
                EarlyStopping(monitor=run.monitor, mode=run.mode, patience=run.early_stopping_patience)
            )
        if self.location is not None:
            kwargs["logger"] = TensorBoardLogger(**self.location)
            callbacks.append(DiscardUnusedRunFolder(Path(self.location["save_dir"], self.location["name"])))
        trainer_config = self.config_init[self.subcommand]["trainer"]
        configured = trainer_config.get("callbacks") or []
        configured = configured if isinstance(configured, list) else [configured]
        plugins = trainer_config.get("plugins") or []
        plugins = plugins if isinstance(plugins, list) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            kwargs["plugins"] = [*plugins, AtomicCheckpointIO()]
        callbacks += plain_console_callbacks(trainer_config, configured)
        trainer = super().instantiate_trainer(callbacks=[*configured, *callbacks], **kwargs)
        choose_unused_parameter_search(trainer.strategy, self.model)
        return trainer


class RunConfigFile(SaveConfigCallback):
    """Writes the run's ``config.yaml`` without ``ckpt_path``: the file describes the run, and a resume
    pointer in it would turn a later ``fit --config RUN/config.yaml`` into a resume from a path that may
    have moved."""

    def __init__(
        self, parser: LightningArgumentParser, config: Any, *args: Any, resumed: bool = False, **kwargs: Any
    ) -> None:
        config = config.clone()
        if "ckpt_path" in config:
            config["ckpt_path"] = None
        super().__init__(parser, config, *args, **kwargs)
        self.resumed = resumed

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """A fresh run writes its config now; a resumed one only in ``on_train_start``, once its checkpoint
        was accepted (restored and checked against the data), so a refused resume leaves the run's
        ``config.yaml`` as it was."""
        if not self.resumed:
            super().setup(trainer, pl_module, stage)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().setup(trainer, pl_module, "fit")


def set_tf32(enabled: bool) -> None:
    """TensorFloat-32 for CUDA float32 matrix multiplies and cuDNN convolutions on (``RunConfig.tf32``) or
    off. TF32 keeps float32's range, so no loss scaling is needed; its products carry about 3 significant
    digits, the precision bf16 autocast gives everything, and the CUDA check found 0.1 px on 91 px poses
    between CPU and GPU with cuDNN's TF32 convolutions (BENCHMARKS.md)."""
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cudnn.allow_tf32 = enabled


def plain_console_callbacks(trainer_config: Any, configured: list[Any]) -> list[L.Callback]:
    """The plain progress bar and model summary, named explicitly: Lightning switches both to Rich's when
    ``rich`` is importable (PyTables pulls it in), which bypasses the quiet console (``cli/console.py``)
    and makes a run print differently depending on what else is installed. A configured one is kept."""
    chosen: list[L.Callback] = []
    if trainer_config.get("enable_progress_bar") is not False and not any(
        isinstance(c, ProgressBar) for c in configured
    ):
        chosen.append(TQDMProgressBar())
    if trainer_config.get("enable_model_summary") is not False and not any(
        isinstance(c, ModelSummary) for c in configured
    ):
        chosen.append(ModelSummary())
    return chosen


def choose_unused_parameter_search(strategy: Strategy, model: L.LightningModule) -> None:
    """Turn on DDP's unused-parameter search for recipes that need it (``ddp_find_unused_parameters``).

    A GAN's discriminator step leaves the generator without gradients, and plain ``ddp`` then fails at the
    second step, once per process. ``ddp`` (and the strategies Lightning picks for several devices) become
    ``ddp_find_unused_parameters_true`` with a note; an explicit ``…_find_unused_parameters_false`` is an
    error naming the fix.
    """
    ddp_kwargs = getattr(strategy, "_ddp_kwargs", None)  # DDPStrategy's DistributedDataParallel arguments
    if not isinstance(strategy, DDPStrategy) or ddp_kwargs is None:
        return
    if not getattr(model, "ddp_find_unused_parameters", False) or ddp_kwargs.get("find_unused_parameters"):
        return
    recipe = type(model).__name__
    if "find_unused_parameters" in ddp_kwargs:
        raise ConfigError(
            f"{recipe} leaves some parameters without gradients in a step (GAN turns); "
            "use --trainer.strategy ddp_find_unused_parameters_true"
        )
    ddp_kwargs["find_unused_parameters"] = True
    _note(
        f"cospeech: using ddp_find_unused_parameters_true: {recipe} leaves some parameters without "
        "gradients in a step (GAN turns)"
    )


@rank_zero_only
def _note(message: str) -> None:
    """Print one ``cospeech: …`` line, once (on the first process)."""
    print(message, file=sys.stderr)


def _class_path(value: Any) -> str | None:
    """``class_path`` of a parsed ``{class_path, init_args}`` value (None for anything else)."""
    return value.get("class_path") if hasattr(value, "get") else None


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
    # a new run always gets a new version folder, so this only fires when a resume continues in its own
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    return CospeechCLI(
        model_class=L.LightningModule,  # any LightningModule named by class_path (GestureModule, …)
        datamodule_class=PatsDataModule,
        subclass_mode_model=True,
        seed_everything_default=0,
        save_config_callback=RunConfigFile,
        save_config_kwargs={"overwrite": False},
        args=resolve_config_argument(args),
    )
