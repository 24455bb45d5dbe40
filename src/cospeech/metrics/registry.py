"""Metric registry: every metric is a torchmetrics class registered under an exact name with a ``MetricSpec``.

A spec says everything the rest of cospeech needs to know to use a metric without naming it: which space its
``update`` takes, whether it compares generated with ground truth or scores one pose set, what it needs to be
built, which keys it reports, and whether those keys are logged during training and shown in the evaluation
table. ``GestureMetricSuite``, the training log (``logged_metrics``) and the evaluation table
(``table_metrics``) derive from here, so adding a metric is a function, a class and one
``@register_metric`` (``docs/metrics.md``, "Adding a metric").

Each metric module registers its classes when it is imported; ``cospeech.metrics`` imports them all, and
Python runs it before any of its submodules, so the registry is complete whenever a metric can be used.
Registering a name or a key twice fails at import; an unknown name raises ``ConfigError`` listing the known
ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

from torchmetrics import Metric

from cospeech.errors import ConfigError
from cospeech.registry import Registry

MetricSpace = Literal["z", "pixels"]
"""What ``update`` receives: ``"z"`` model-space poses ``(B, T, 2J)`` as the model produces them, or
``"pixels"`` neck-relative pixel joints ``(B, T, J, 2)`` (``docs/metrics.md``, "Spaces and notation")."""

MetricArity = Literal["paired", "single"]
"""``"paired"``: ``update(preds, target)`` compares generated with GT. ``"single"``: ``update(poses)`` scores
one pose set; the suite keeps two instances, one for the generated poses (keys as declared) and one for the
ground truth (keys + ``GT_SUFFIX``), since such scores only mean something next to the GT's."""

MetricNeed = Literal[
    "mean_pose", "num_features", "extractor", "cluster_centres", "beats", "box_joints", "lips"
]
"""An input a metric cannot be built without. The suite passes each as keyword arguments to the class, and
builds the metric only when every one of its needs is available:

* ``mean_pose``: ``mean_pose=`` the ``(J, 2)`` training mean pose in pixels (always available).
* ``num_features``: ``num_features=`` 2J, the model-space frame size (always available).
* ``extractor``: ``extractor=``, ``num_features=`` (its output size C) and ``name=``, when the suite is given
  an FGD extractor.
* ``cluster_centres``: ``centres=`` the ``(k, 5J)`` gesture-cluster centres, when given.
* ``beats``: ``fps=`` the pose frame rate, with ``beat_align=True``; ``update`` then also receives the
  batch's audio beat times after the poses.
* ``box_joints``: nothing at construction, with ``reference_pck=True``; ``update`` then also receives the
  batch's ``(B, T, K, 2)`` GT pixel joints that widen the PCK box (PATS: nose and eyes) after the poses.
* ``lips``: ``upper=``, ``lower=`` the indices of the inner-lip middle points (``functional.LIP_JOINTS``),
  when the suite is given a skeleton that has them (a face: ``sdt121``; not ``pats48``).

Inputs that ``update`` receives follow the poses in the order of the spec's ``needs``.
"""

JOINT_SEPARATOR = "_joint"
"""A per-joint metric's output ``key`` is reported once per joint j as ``f"{key}{JOINT_SEPARATOR}{j}"``
(``PCK@0.1_joint3``), j the joint's index in the model's joint order."""

GT_SUFFIX = "_gt"
"""Appended to the keys of the ground-truth instance of a ``"single"`` metric (``diversity_gt``)."""

MetricClass = TypeVar("MetricClass", bound=type[Metric])


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric: how the suite builds and feeds it, and where its keys are shown."""

    name: str
    """Registry name, also the metric's key in ``GestureMetricSuite.metrics``."""
    metric: type[Metric]
    """The torchmetrics class, built as ``metric(**keyword arguments of its needs)``."""
    space: MetricSpace
    arity: MetricArity
    higher_is_better: bool | None
    """The class's own torchmetrics ``higher_is_better``; None where neither is better (compare with GT)."""
    needs: tuple[MetricNeed, ...]
    outputs: tuple[str, ...]
    """Keys one instance's ``compute()`` gives: the name for a scalar, else its dict's tensor keys."""
    per_joint: bool
    """Each output is a ``(J,)`` tensor, one value per joint, reported as ``joint_keys(key, J)``; such keys
    are neither logged nor tabulated."""
    logged: tuple[str, ...]
    """Keys logged during training, per speaker and as their mean."""
    table: tuple[str, ...]
    """Keys shown in the evaluation table."""
    order: int | None
    """Position in the suite's output, the training log and the table: ascending, then unordered metrics
    in registration order."""

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the suite reports for this metric: ``outputs``, then for a ``"single"`` metric the same
        keys of its ground-truth instance (``("diversity", "diversity_gt")``)."""
        return _report_keys(self.outputs, self.arity)

    def report_keys(self, num_joints: int) -> tuple[str, ...]:
        """The keys the suite reports for poses of ``num_joints`` joints: ``keys``, or for a per-joint metric
        each of them once per joint (``joint_keys``)."""
        if not self.per_joint:
            return self.keys
        return tuple(k for key in self.keys for k in joint_keys(key, num_joints))


def joint_keys(key: str, num_joints: int) -> tuple[str, ...]:
    """``key`` once per joint: ``("PCK@0.1_joint0", …, "PCK@0.1_joint47")`` (``JOINT_SEPARATOR``)."""
    return tuple(f"{key}{JOINT_SEPARATOR}{j}" for j in range(num_joints))


_REGISTRY: Registry[MetricSpec] = Registry(
    "metric", order=lambda name, spec: (spec.order is None, spec.order or 0)
)
"""Report order: ascending ``order``, then unordered specs as registered (the sort is stable)."""


def register_metric(
    name: str,
    *,
    space: MetricSpace,
    arity: MetricArity,
    needs: Sequence[MetricNeed] = (),
    outputs: Sequence[str] | None = None,
    logged: bool | Sequence[str] = False,
    table: bool | Sequence[str] = False,
    order: int | None = None,
    per_joint: bool = False,
) -> Callable[[MetricClass], MetricClass]:
    """Class decorator: register a torchmetrics class under ``name`` so the suite, the training log and the
    evaluation table pick it up. ``higher_is_better`` is read from the class, where torchmetrics declares it.

    Args:
        name: exact metric name; also its only output key unless ``outputs`` is given.
        space: ``"z"`` or ``"pixels"``, what ``update`` receives (``MetricSpace``).
        arity: ``"paired"`` or ``"single"`` (``MetricArity``).
        needs: inputs the class needs to be built (``MetricNeed``); without them the suite leaves it out.
        outputs: the keys of ``compute()``'s dict, in report order (default ``(name,)``, a scalar).
        logged, table: which of ``MetricSpec.keys`` are logged during training / shown in the evaluation
            table; ``True`` for all of them.
        order: position among the metrics (``MetricSpec.order``); None puts it after the ordered ones.
        per_joint: ``compute()`` gives a ``(J,)`` tensor per output, reported once per joint
            (``MetricSpec.per_joint``); such a metric can be neither logged nor tabulated.

    A name or key already registered, or an invalid value, raises ``ConfigError`` at import.
    """

    def decorator(cls: MetricClass) -> MetricClass:
        if not (isinstance(cls, type) and issubclass(cls, Metric)):
            raise TypeError(f"register_metric({name!r}) decorates torchmetrics Metric classes, got {cls!r}")
        _REGISTRY.check_free(name, cls)
        declared = (name,) if outputs is None else tuple(outputs)
        keys = _report_keys(declared, arity)
        spec = MetricSpec(
            name=name,
            metric=cls,
            space=space,
            arity=arity,
            higher_is_better=cls.higher_is_better,
            needs=tuple(needs),
            outputs=declared,
            per_joint=per_joint,
            logged=_shown(logged, keys),
            table=_shown(table, keys),
            order=order,
        )
        problems = _problems(spec)
        if problems:
            raise ConfigError(f"cannot register metric {name!r} ({cls.__qualname__}): {'; '.join(problems)}")
        _REGISTRY.add(name, spec, cls)
        return cls

    return decorator


def _report_keys(outputs: tuple[str, ...], arity: MetricArity) -> tuple[str, ...]:
    """``outputs``, then for a ``"single"`` metric the same keys of its ground-truth instance."""
    if arity == "single":
        return (*outputs, *(key + GT_SUFFIX for key in outputs))
    return outputs


def _shown(shown: bool | Sequence[str], keys: tuple[str, ...]) -> tuple[str, ...]:
    """``register_metric``'s ``logged``/``table`` argument as keys: True is all of them, False none."""
    if isinstance(shown, bool):
        return keys if shown else ()
    return tuple(shown)


def _problems(spec: MetricSpec) -> list[str]:
    """Everything wrong with a new spec, including keys another registered metric already reports."""
    spaces, arities, needs = get_args(MetricSpace), get_args(MetricArity), get_args(MetricNeed)
    problems = []
    if not spec.name or "." in spec.name:
        problems.append("the name must be non-empty and without '.' (it keys a ModuleDict)")
    if spec.space not in spaces:
        problems.append(f"space {spec.space!r} is not one of {', '.join(spaces)}")
    if spec.arity not in arities:
        problems.append(f"arity {spec.arity!r} is not one of {', '.join(arities)}")
    problems += [f"need {n!r} is not one of {', '.join(needs)}" for n in spec.needs if n not in needs]
    if not spec.outputs or len(set(spec.outputs)) != len(spec.outputs):
        problems.append(f"outputs must be at least one key, all distinct, got {spec.outputs}")
    for where, shown in (("logged", spec.logged), ("table", spec.table)):
        problems += [
            f"{where} key {key!r} is not one of its keys {', '.join(spec.keys)}"
            for key in shown
            if key not in spec.keys
        ]
    if spec.per_joint and (spec.logged or spec.table):
        problems.append("per-joint keys can be neither logged nor tabulated")
    for other in _REGISTRY.entries():
        taken = _claimed(other)
        problems += [
            f"key {key!r} is already reported by {other.name!r}"
            for key, claim in zip(spec.keys, _claimed(spec), strict=True)
            if claim in taken
        ]
    return problems


def _claimed(spec: MetricSpec) -> tuple[str, ...]:
    """What each of a spec's keys occupies: the key, or for a per-joint metric its per-joint family
    (``"PCK@0.1_joint"`` for ``PCK@0.1_joint0``…), so ``PCK@0.1`` and per-joint ``PCK@0.1`` can coexist."""
    return tuple(key + JOINT_SEPARATOR if spec.per_joint else key for key in spec.keys)


def list_metrics() -> list[str]:
    """Names of the registered metrics in report order (``MetricSpec.order``)."""
    return [spec.name for spec in metric_specs()]


def metric_specs() -> list[MetricSpec]:
    """Every registered spec in report order: ascending ``order``, then unordered ones as registered."""
    return _REGISTRY.entries()


def metric_spec(name: str) -> MetricSpec:
    """The spec registered as ``name``; an unknown name raises ``ConfigError`` listing the known ones."""
    return _REGISTRY[name]


def logged_metrics() -> tuple[str, ...]:
    """Keys logged during training (per speaker and their mean), in report order."""
    return tuple(key for spec in metric_specs() for key in spec.keys if key in spec.logged)


def table_metrics() -> tuple[str, ...]:
    """Keys shown in the evaluation table, in report order."""
    return tuple(key for spec in metric_specs() for key in spec.keys if key in spec.table)
