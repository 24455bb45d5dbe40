"""``cospeech fit | validate | test``: the Lightning run engine (see ``cospeech.training.engine``)."""

from __future__ import annotations

import argparse

from cospeech.errors import ConfigError

EXAMPLES = {
    "fit": """examples:
  cospeech fit --config configs/speech2gesture.yaml
  cospeech fit --config speech2gesture --data.root cospeech_data/synth --data.speakers '[ava]'
  cospeech fit --config speech2gesture --trainer.max_epochs 5 --model.init_args.lr 2e-4
  cospeech fit --config speech2gesture --ckpt_path runs/speech2gesture/version_0/checkpoints/last.ckpt
  cospeech fit --config speech2gesture --model.init_args.init_from runs/speech2gesture/version_0
  cospeech fit --config speech2gesture --trainer.devices 2 --trainer.strategy ddp_find_unused_parameters_true
""",
    "validate": "example:\n  cospeech validate --config runs/speech2gesture/version_0/config.yaml \\\n"
    "      --ckpt_path runs/speech2gesture/version_0/checkpoints/best.ckpt\n",
    "test": "example:\n  cospeech test --config runs/speech2gesture/version_0/config.yaml \\\n"
    "      --ckpt_path runs/speech2gesture/version_0/checkpoints/best.ckpt\n",
}


def register(commands: argparse._SubParsersAction) -> None:
    for name, help_text in (
        ("fit", "train a model from a YAML config with command-line overrides"),
        ("validate", "score a checkpoint on the dev split"),
        ("test", "score a checkpoint on the test split"),
    ):
        parser = commands.add_parser(
            name,
            help=help_text,
            add_help=False,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(run=run, subcommand=name, passes_unknown_args=True)


def run(args: argparse.Namespace) -> int:
    from cospeech.training.engine import run_cli  # Lightning is imported only when training

    check_accelerator(args.lightning_args)
    run_cli([args.subcommand, *args.lightning_args])
    return 0


def check_accelerator(lightning_args: list[str]) -> None:
    """Refuse ``--trainer.accelerator cuda|gpu`` on a machine without CUDA before anything is built.

    Lightning would refuse it too, but only after reading the data, with a traceback naming its
    ``Trainer`` argument rather than the flag the user typed. (An accelerator set in a YAML config is
    refused by Lightning; the CLI prints that as one line too, see ``console.configuration_error``.)
    """
    import torch

    for i, arg in enumerate(lightning_args):
        name, _, value = arg.partition("=")
        if name != "--trainer.accelerator":
            continue
        if not value and i + 1 < len(lightning_args):
            value = lightning_args[i + 1]
        if value in ("cuda", "gpu") and not torch.cuda.is_available():
            raise ConfigError(
                f"--trainer.accelerator {value}: no CUDA device is available on this machine "
                "(torch.cuda.is_available() is False); use --trainer.accelerator cpu, or leave it at auto, "
                "which uses a GPU only where there is one"
            )
