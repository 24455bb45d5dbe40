"""``cospeech continual | continual-compare | adapt``: task sequences of continual few-shot personalisation,
their comparison table, and one few-shot task on any trained Mix-StAGE model (``docs/continual.md``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from cospeech.errors import ConfigError

CONTINUAL_EXAMPLES = """examples:
  cospeech continual --preset synth_small --method cdiffgan --out cl_runs
  cospeech continual --preset synth_small --method finetune --k-shot 7 --seeds 1,2,3 --out cl_runs
  cospeech continual --preset pats_paper --method cdiffgan --seeds 2 --out cl_runs --data.root /data/pats
  cospeech continual --preset synth_small --method diffgan --base runs/mix_stage/version_0 --out cl_runs
  cospeech continual --preset synth_small --method cdiffgan --out cl_runs --trainer.max_epochs 2
Fit arguments (--trainer.*, --data.*, --model.*) apply to every task.
"""

COMPARE_EXAMPLES = """examples:
  cospeech continual-compare cl_runs
  cospeech continual-compare cl_runs/cdiffgan cl_runs/diffgan --metrics L1 PCK FID W1_vel --out tables
"""

ADAPT_EXAMPLES = """examples:
  cospeech adapt --base runs/mix_stage/version_0 --speaker fay --k-shot 28 --method cdiffgan --out adapt_fay
  cospeech adapt --base runs/mix_stage --speaker fay --k-shot 7 --method finetune --out adapt_fay7 \\
      --trainer.max_epochs 3
"""


def register(commands: argparse._SubParsersAction) -> None:
    from cospeech.continual.methods import METHODS

    methods = "\n".join(f"  {m.name:11s} {m.label}: {m.summary}" for m in METHODS.entries())
    parser = commands.add_parser(
        "continual",
        help="learn speaker after speaker from k windows each; accuracy and forgetting matrices",
        epilog=f"methods:\n{methods}\n\n{CONTINUAL_EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--method", help="continual method (listed below); required unless --first-task-only")
    parser.add_argument("--out", type=Path, required=True, help="results folder (one chain per seed inside)")
    parser.add_argument(
        "--preset", default="synth_small", help="protocol: synth_small (default), pats_paper or a YAML path"
    )
    parser.add_argument("--k-shot", type=int, help="windows per new speaker (default: the preset's)")
    parser.add_argument("--seeds", help="comma-separated seeds, one chain each (default: the preset's)")
    parser.add_argument("--speakers", help="comma-separated speaker order (default: the preset's)")
    parser.add_argument("--base", type=Path, help="a trained Mix-StAGE run that stands for the first task")
    parser.add_argument(
        "--first-task-only",
        action="store_true",
        help="train and score the shared first task, then stop (a cluster job the chains wait for)",
    )
    parser.set_defaults(run=run_continual, passes_unknown_args=True)

    compare = commands.add_parser(
        "continual-compare",
        help="tabulate continual chains: method × k, accuracy and forgetting, mean ± std over seeds",
        epilog=COMPARE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("folders", nargs="+", type=Path, help="chain folders or folders above them")
    compare.add_argument("--metrics", nargs="+", help="metrics to tabulate (default: L1 PCK FID)")
    compare.add_argument("--out", type=Path, help="also write comparison.csv and comparison.json here")
    compare.set_defaults(run=run_compare)

    adapt = commands.add_parser(
        "adapt",
        help="add one speaker to a trained Mix-StAGE model from k windows, scoring before and after",
        epilog=f"methods:\n{methods}\n\n{ADAPT_EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adapt.add_argument("--base", type=Path, required=True, help="trained Mix-StAGE run directory or .ckpt")
    adapt.add_argument("--speaker", required=True, help="the new speaker (in the base's corpus)")
    adapt.add_argument("--k-shot", type=int, required=True, help="windows of the new speaker")
    adapt.add_argument("--method", required=True, help="continual method (listed below)")
    adapt.add_argument("--out", type=Path, required=True, help="folder of the task and its results")
    adapt.add_argument(
        "--preset", default="synth_small", help="task settings from this preset (default synth_small)"
    )
    adapt.add_argument(
        "--seed", type=int, default=1, help="seed of the k-shot draw and of training (default 1)"
    )
    adapt.set_defaults(run=run_adapt, passes_unknown_args=True)


def run_continual(args: argparse.Namespace) -> int:
    from cospeech.continual.methods import METHODS, get_method
    from cospeech.continual.results import HEADLINE_METRICS, compare
    from cospeech.continual.runner import (
        check_overrides,
        first_task_folder,
        load_preset,
        plan_chains,
        run_chain,
        run_first_task,
    )

    if args.method is None and not args.first_task_only:
        raise ConfigError("--method is required (unless --first-task-only)")
    method = None if args.method is None else get_method(args.method)
    if args.k_shot is not None and args.k_shot < 1:
        raise ConfigError(f"--k-shot {args.k_shot}: must be ≥ 1 (windows per new speaker)")
    overrides = check_overrides(fit_arguments(args.lightning_args))
    preset = load_preset(args.preset)
    speakers = preset.speakers if args.speakers is None else _names(args.speakers, "--speakers")
    if args.first_task_only:
        if args.base is not None:
            raise ConfigError("--first-task-only: with --base there is no first task to train")
        folder = first_task_folder(args.out, speakers)
        record = run_first_task(preset, speakers[0], folder, overrides, _say)
        print(f"first task done: {record.run}")
        return 0
    chains = plan_chains(
        preset,
        method,
        args.out,
        k_shot=args.k_shot,
        seeds=None if args.seeds is None else _integers(args.seeds, "--seeds"),
        speakers=speakers,
        base=args.base,
        overrides=overrides,
    )
    for chain in chains:
        results = run_chain(chain, _say)
        print(f"\n{chain.label} ({chain.folder}):")
        for name in HEADLINE_METRICS:
            if name in results.matrices:
                m = results.matrices[name]
                print(f"  {name}: accuracy {m.average_accuracy():.4g}, forgetting {m.forgetting():.4g}")
    table = compare([args.out], order=METHODS.names())
    print(f"\n{table.table()}")
    for path in table.write(args.out):
        print(f"wrote {path}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from cospeech.continual.methods import METHODS
    from cospeech.continual.results import compare

    table = compare(args.folders, args.metrics, order=METHODS.names())
    print(table.table())
    if args.out is not None:
        for path in table.write(args.out):
            print(f"wrote {path}")
    return 0


def run_adapt(args: argparse.Namespace) -> int:
    from cospeech.continual.methods import get_method
    from cospeech.continual.results import HEADLINE_METRICS
    from cospeech.continual.runner import Chain, check_overrides, load_preset, read_mix_stage, run_chain

    method = get_method(args.method)
    if args.k_shot < 1:
        raise ConfigError(f"--k-shot {args.k_shot}: must be ≥ 1 (windows of the new speaker)")
    overrides = check_overrides(fit_arguments(args.lightning_args))
    preset = load_preset(args.preset)
    known = read_mix_stage(args.base, "--base").metadata.speakers
    if args.speaker in known:
        raise ConfigError(f"--speaker {args.speaker}: already known to {args.base} (speakers {list(known)})")
    chain = Chain(
        args.out,
        preset,
        method,
        args.k_shot,
        args.seed,
        (*known, args.speaker),
        base=args.base,
        overrides=tuple(overrides),
    )
    results = run_chain(chain, _say)
    for name in HEADLINE_METRICS:
        if name in results.matrices:
            row = results.matrices[name].values
            print(f"{name}: before {_row(results.speakers, row[0])}; after {_row(results.speakers, row[-1])}")
    print(f"wrote {args.out / 'results'}")
    return 0


def _row(speakers: tuple[str, ...], values: Any) -> str:
    return ", ".join(f"{s} {v:.4g}" for s, v in zip(speakers, values, strict=True) if math.isfinite(v))


FIT_PREFIXES = ("--trainer.", "--data.", "--model.", "--run.")


def fit_arguments(unknown: list[str]) -> list[str]:
    """The arguments argparse left over, which must be fit arguments for every task (``--trainer.…``,
    ``--data.…``, ``--model.…``, ``--run.…``) and their values; anything else is a ``ConfigError``."""
    strays = [a for a in unknown if a.startswith("--") and not a.startswith(FIT_PREFIXES)]
    if strays:
        raise ConfigError(
            f"unrecognized argument(s) {' '.join(strays)}; fit arguments for every task start with "
            f"{', '.join(FIT_PREFIXES)}"
        )
    return unknown


def _say(message: str) -> None:
    print(message, flush=True)


def _integers(text: str, flag: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated integers, e.g. 1,2,3") from None
    if not values:
        raise ConfigError(f"{flag} {text!r}: expected at least one integer")
    return values


def _names(text: str, flag: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if len(names) < 2:
        raise ConfigError(f"{flag} {text!r}: expected at least two comma-separated speakers")
    return names
