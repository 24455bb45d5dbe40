"""Model registry: every network is known by an exact name and built from a typed config dataclass.

Like timm's ``@register_model``, but a name maps to a class (or builder) *and* its config, so a checkpoint
can store ``(name, asdict(config))`` and be rebuilt by ``build_model(name, **config)``. Names are exact (no
token concatenation, no fallbacks); registering a name twice fails at import, and every lookup error lists
what is allowed.

Config fields declared with ``from_data(default)`` (pose width, audio width, number of styles …) are filled
from the data module's spec (``cospeech.data.spec.DataSpec.model_fields``) when a run is built, as nanoGPT
takes ``vocab_size`` from the data: a YAML never types them, and one that disagrees with the data is an
error.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from torch import nn

from cospeech.errors import ConfigError
from cospeech.models.interface import Generator
from cospeech.registry import Registry

ModelKind = Literal["generator", "baseline", "discriminator", "autoencoder"]
"""What a model is for: a ``generator`` follows the contract of ``cospeech.models.interface.Generator``
(declared inputs → poses ``(B, T, 2J)`` and auxiliary losses) and is trained; a ``baseline`` has the same
contract but is fitted once (``fit(poses, audio, *, seed)``) and has no parameters; a ``discriminator``
scores pose velocities ``(B, T, 2J)``; an ``autoencoder`` reconstructs poses."""

FROM_DATA = "from_data"
"""Metadata key marking a config field whose value comes from the data spec."""


def from_data(default: Any) -> Any:
    """A config field filled from the data spec (its name must be a key of ``DataSpec.model_fields``);
    ``default`` serves models built without data (tests, ``cospeech models show``)."""
    return dataclasses.field(default=default, metadata={FROM_DATA: True})


def data_fields(config: type) -> list[str]:
    """Names of the fields of config dataclass ``config`` that come from the data spec."""
    return [f.name for f in dataclasses.fields(config) if f.metadata.get(FROM_DATA)]


Builder = TypeVar("Builder", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: how to build it, from which config, and what it consumes."""

    name: str
    builder: Callable[[Any], nn.Module]
    config: type
    kind: ModelKind


_REGISTRY: Registry[ModelEntry] = Registry("model")


def register_model(name: str, *, config: type, kind: ModelKind = "generator") -> Callable[[Builder], Builder]:
    """Class (or function) decorator: register it under ``name``, to be built as ``builder(config)``.

    ``config`` must be a dataclass whose fields all have defaults. A name already taken raises, so two
    modules cannot silently shadow each other.
    """
    if not dataclasses.is_dataclass(config) or not isinstance(config, type):
        raise TypeError(f"register_model({name!r}): config must be a dataclass type, got {config!r}")

    def decorator(builder: Builder) -> Builder:
        contract = kind in ("generator", "baseline")
        if contract and not (isinstance(builder, type) and issubclass(builder, Generator)):
            raise TypeError(f"register_model({name!r}): a {kind} must subclass cospeech.models.Generator")
        _REGISTRY.add(name, ModelEntry(name=name, builder=builder, config=config, kind=kind), builder)
        return builder

    return decorator


def raise_if_invalid(config: object, problems: list[str]) -> None:
    """Raise one ``ConfigError`` naming the config class and every problem found by its ``__post_init__``."""
    if problems:
        raise ConfigError(f"invalid {type(config).__name__}: {'; '.join(problems)}")


def range_problems(
    config: object, minimums: Mapping[str, int], probabilities: tuple[str, ...] = ()
) -> list[str]:
    """The common checks of a config's ``__post_init__``: each field of ``minimums`` at least its minimum,
    each field of ``probabilities`` in [0, 1). One message per problem, with the value."""
    problems = [
        f"{name} must be ≥ {minimum}, got {getattr(config, name)}"
        for name, minimum in minimums.items()
        if getattr(config, name) < minimum
    ]
    problems += [
        f"{name} must be in [0, 1), got {getattr(config, name)}"
        for name in probabilities
        if not 0 <= getattr(config, name) < 1
    ]
    return problems


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def list_models(kind: ModelKind | None = None) -> list[str]:
    """Sorted names of the registered models, optionally only those of one ``kind``."""
    return [entry.name for entry in _REGISTRY.entries() if kind is None or entry.kind == kind]


def model_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name raises ``ConfigError`` listing the known ones."""
    return _REGISTRY[name]


def model_config(name: str, data: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """The config dataclass of model ``name`` with ``kwargs`` overriding its defaults, validated.

    With ``data`` (``DataSpec.model_fields()``), every ``from_data`` field takes the data's value.

    Raises
    ------
    ConfigError : an unknown key (named, with the allowed keys); a ``from_data`` value in ``kwargs`` that
        disagrees with ``data``; invalid values (from the config's ``__post_init__``).
    """
    entry = model_entry(name)
    allowed = [f.name for f in dataclasses.fields(entry.config)]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        keys = ", ".join(map(repr, unknown))
        raise ConfigError(f"model {name!r} has no config key {keys}; allowed keys: {', '.join(allowed)}")
    hints = _type_hints(entry.config)
    wrong = [f"{k}={v!r} is not {_expected(hints[k])}" for k, v in kwargs.items() if not _fits(v, hints[k])]
    if wrong:
        raise ConfigError(f"model {name!r}: {'; '.join(wrong)}")
    if data is not None:
        kwargs = dict(kwargs)
        for key in data_fields(entry.config):
            if key not in data:
                raise ConfigError(f"model {name!r} needs {key} from the data, which does not provide it")
            if key in kwargs and kwargs[key] != data[key]:
                raise ConfigError(
                    f"model {name!r}: {key}={kwargs[key]} in the config disagrees with the data "
                    f"({key}={data[key]}); it comes from the data, so leave it out"
                )
            kwargs[key] = data[key]
    return entry.config(**kwargs)


@functools.cache
def _type_hints(config: type) -> dict[str, Any]:
    return typing.get_type_hints(config)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a config value has its field's type (YAML gives ints for floats: those fit too); types this
    check does not know are left to the config's own ``__post_init__``."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _expected(hint: Any) -> str:
    """``int``, or ``one of 'flat', 'pooled'`` for a Literal."""
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    return _type_name(hint)


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def build_model(name: str, data: Mapping[str, Any] | None = None, **kwargs: Any) -> nn.Module:
    """Build model ``name`` from its config defaults overridden by ``kwargs`` and, with ``data``, the
    data-derived fields (see ``model_config``)."""
    return model_entry(name).builder(model_config(name, data, **kwargs))


def check_kind(name: str, kind: ModelKind) -> ModelEntry:
    """The entry of ``name``, which must be a registered model of ``kind`` (else one ``ConfigError``)."""
    entry = model_entry(name)
    if entry.kind != kind:
        raise ConfigError(f"model {name!r} is {_a(entry.kind)}, not {_a(kind)}")
    return entry


@dataclass(frozen=True)
class ConfigField:
    """One key of a model's config, as ``cospeech models show`` lists it."""

    name: str
    """The key, as given to ``build_model``/``model_config`` or under ``generator_config`` in a YAML."""
    type: str
    """The resolved annotation: ``int``, ``float``, ``Literal['flat', 'pooled']``."""
    default: Any
    """The value used when the key is not set."""
    doc: str
    """The field's attribute docstring (the string literal under it), dedented; empty if it has none."""
    from_data: bool = False
    """Filled from the data spec when a run is built (``from_data``); a YAML value must agree with it."""


def config_fields(name: str) -> list[ConfigField]:
    """Every field of model ``name``'s config, in declaration order, with its type, default and docstring.

    An unknown ``name`` raises ``ConfigError`` listing the known models.
    """
    config = model_entry(name).config
    hints, defaults, docs = _type_hints(config), model_config(name), _attribute_docs(config)
    fields = []
    for field in dataclasses.fields(config):
        type_name = _type_name(hints[field.name])
        doc, derived = docs.get(field.name, ""), bool(field.metadata.get(FROM_DATA))
        fields.append(ConfigField(field.name, type_name, getattr(defaults, field.name), doc, derived))
    return fields


_ATTRIBUTE_DOCS: dict[type, dict[str, str]] = {}
"""``_attribute_docs`` per config class: reading and parsing source is the slow part."""


def _attribute_docs(config: type) -> dict[str, str]:
    """Field name → the string literal right under it, in ``config`` and its dataclass bases (cached).

    Python keeps no attribute docstrings at run time, so they are read from the source; a class whose source
    cannot be found (made by ``make_dataclass``, defined in a REPL) contributes none rather than failing.
    """
    import ast  # imported here: only `models show` needs them, and every model module imports the registry
    import inspect
    import itertools
    import textwrap

    if config not in _ATTRIBUTE_DOCS:
        docs: dict[str, str] = {}
        for klass in reversed([k for k in config.__mro__ if dataclasses.is_dataclass(k)]):
            try:
                body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
            except (OSError, TypeError):
                continue
            for statement, after in itertools.pairwise(body):
                if (
                    isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)
                    and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                ):
                    docs[statement.target.id] = inspect.cleandoc(after.value.value)
        _ATTRIBUTE_DOCS[config] = docs
    return _ATTRIBUTE_DOCS[config]
