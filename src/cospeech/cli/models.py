"""``cospeech models``: which networks are registered, and every key of their configs with its meaning."""

from __future__ import annotations

import argparse
import textwrap

EXAMPLES = """examples:
  cospeech models list
  cospeech models show speech2gesture
  cospeech fit --config speech2gesture --model.init_args.generator_config '{channels: 128}'

In a run's YAML a model's keys go under generator_config, discriminator_config or autoencoder_config,
next to its name (see configs/quickstart.yaml).
"""


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser(
        "models",
        help="list the registered models; show a model's config keys with types, defaults and meaning",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="every registered model: name, kind, what it is")
    listing.set_defaults(run=run_list)

    show = actions.add_parser("show", help="a model's description and every config key")
    show.add_argument("name", help="registered model name (see `cospeech models list`)")
    show.set_defaults(run=run_show)


def run_list(args: argparse.Namespace) -> int:
    from cospeech.models import list_models, model_entry  # imports torch; registers every model

    entries = [model_entry(name) for name in list_models()]
    name_width = max(len(entry.name) for entry in entries)
    kind_width = max(len(entry.kind) for entry in entries)
    print(f"{'model':<{name_width}}  {'kind':<{kind_width}}  description")
    for entry in entries:
        print(f"{entry.name:<{name_width}}  {entry.kind:<{kind_width}}  {_summary(entry.builder)}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import inspect

    from cospeech.models import config_fields, model_entry

    entry = model_entry(args.name)
    print(f"{entry.name} ({entry.kind}): {entry.builder.__module__}.{entry.builder.__qualname__}\n")
    print(inspect.getdoc(entry.builder) or "(no description)")
    inputs = getattr(entry.builder, "inputs", None)  # the generator contract (generators and baselines)
    if inputs is not None:
        print("\ninputs:")
        for name, spec in inputs.items():
            flags = [
                flag
                for flag, on in (
                    ("training only", spec.training_only),
                    ("sampled per utterance", spec.sampled),
                    ("optional", spec.optional),
                )
                if on
            ]
            when = f" ({', '.join(flags)})" if flags else ""
            print(f"  {name}: {spec.shape}{when}\n      {spec.doc}")
    print(f"\nconfig {entry.config.__name__}: {_summary(entry.config)}")
    for field in config_fields(args.name):
        source = "  (from the data)" if field.from_data else ""
        print(f"  {field.name}: {field.type} = {field.default!r}{source}")
        print(textwrap.indent(field.doc or "(undocumented)", " " * 6))
    return 0


def _summary(obj: object) -> str:
    """The first line of ``obj``'s docstring, empty if it has none."""
    import inspect

    return (inspect.getdoc(obj) or "").partition("\n")[0]
