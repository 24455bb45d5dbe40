"""Every gesture metric from one ``update`` on model-space tensors.

The suite goes back to pixel space itself (``pixel = decode(z · std + mean)`` in the flat ``[x…, y…]``
layout, ``decode`` the run's pose representation's, identity for flat joints, then ``flat_to_joints``), so
a validation step only hands over what the model saw and produced. Which metrics it holds, in which space
each is fed and which keys each reports all come from the metric registry (``cospeech.metrics.registry``).
Optional metrics exist only when their inputs are given at construction (FGD: an extractor; F1: cluster
centres; BeatAlign: ``beat_align=True``), never faked with a default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from cospeech.data.poses import flat_to_joints
from cospeech.metrics.functional import (
    LIP_JOINTS,
    POSE_FPS,
    ArrayLike,
    _check_flat,
    _check_pair,
    _to_numpy64,
)
from cospeech.metrics.registry import GT_SUFFIX, MetricNeed, MetricSpec, joint_keys, metric_specs
from cospeech.skeletons import Skeleton, get_skeleton


class _Slot(NamedTuple):
    """One metric instance of the suite: its key in ``metrics``, its spec, and which poses it sees."""

    key: str
    spec: MetricSpec
    sees: Literal["both", "generated", "ground_truth"]


class _WindowCount(Metric):
    """Windows seen by one suite; a sum across processes, so every process agrees on an empty suite."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("count", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, poses: Tensor) -> None:
        self.count += len(poses)

    def compute(self) -> Tensor:
        return self.count


class GestureMetricSuite(nn.Module):
    """Every registered metric whose needs are met: L1, VelL1, PCK (@0.1, @0.2, mean, and per joint), FID,
    W1_vel/W1_acc, diversity and L1div (generated and GT), spatial/spatialNorm/energy/power, plus FGD,
    F1/cluster_acc/cluster_precision/cluster_recall, BeatAlign (generated and GT) and PCK_ref when their
    inputs are given, and any metric registered later.

    ``update(preds, target, beats=None, box_joints=None)``: model-space ``(B, T, 2J)`` generated and GT
    poses; with ``beat_align=True`` per-sequence audio beat times in seconds; with ``reference_pck=True``
    ``(B, T, K, 2)`` neck-relative GT pixels of joints the model does not predict that widen the PCK box
    (PATS: nose, REye, LEye, which the ``pats52`` pose keys hold). ``compute()`` returns a flat
    ``dict[str, float]``, e.g. ``{"L1": …, "VelL1": …, "PCK": …, "PCK@0.1": …, "PCK@0.2": …,
    "PCK@0.1_joint0": …, …, "FID": …, "W1_vel": …, "W1_acc": …, "diversity": …, "diversity_gt": …,
    "L1div": …, "L1div_gt": …, "spatial": …, "spatialNorm": …, "energy": …, "power": …}``.
    ``windows`` counts the windows updated since the last reset: a suite with none has nothing to score,
    and callers leave it out rather than compute NaNs from empty states.

    Args:
        mean, std: the normaliser's per-feature statistics, 2J values each in the ``[x…, y…]`` layout (any
            shape holding 2J values, e.g. ``(1, 1, 2J)``). The mean (decoded) is also the diversity
            reference pose.
        skeleton: the poses' skeleton (or its name); one with a face (``sdt121``) enables SDT's
            ``lip_sync_error_n``. None: no skeleton-specific metric.
        decode: the pose representation's ``decode`` (``cospeech.data.representation``): denormalised
            ``(…, 2J)`` → global neck-relative pixels; linear, so it maps the mean to the mean pose.
            None: the identity (flat joints).
        extractor: FGD feature extractor (``encode(poses (B, T, 2J)) -> (B, C)`` on model-space poses).
        extractor_features: C, required with ``extractor``.
        extractor_name: readable extractor name recorded in ``extractor_id``.
        cluster_centres: ``(k, 5J)`` from ``fit_gesture_clusters``, enables ``F1``, ``cluster_acc``,
            ``cluster_precision`` and ``cluster_recall``.
        beat_align: enables ``BeatAlign`` and ``BeatAlign_gt``; every update must then pass beats.
        fps: pose frame rate, for beat times.
        reference_pck: enables ``PCK_ref`` (the reference's PCK box); every update must then pass
            ``box_joints``.
    """

    def __init__(
        self,
        mean: ArrayLike,
        std: ArrayLike,
        *,
        extractor: nn.Module | None = None,
        extractor_features: int | None = None,
        extractor_name: str | None = None,
        cluster_centres: ArrayLike | None = None,
        beat_align: bool = False,
        fps: float = POSE_FPS,
        reference_pck: bool = False,
        skeleton: Skeleton | str | None = None,
        decode: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.decode = decode
        self.mean = _to_numpy64(mean).reshape(-1)
        self.std = _to_numpy64(std).reshape(-1)
        if self.mean.shape != self.std.shape or self.mean.size % 2:
            raise ValueError(
                f"mean and std must hold the same even number (2J) of values, "
                f"got {self.mean.size} and {self.std.size}"
            )
        mean_pose = flat_to_joints(self.mean if decode is None else decode(self.mean.copy()))  # (J, 2)
        inputs: dict[MetricNeed, dict[str, object]] = {
            "mean_pose": {"mean_pose": mean_pose},
            "num_features": {"num_features": self.mean.size},
        }
        if extractor is not None:
            if extractor_features is None:
                raise ValueError(
                    "extractor_features (the size C of extractor.encode's output) is required for FGD"
                )
            inputs["extractor"] = {
                "extractor": extractor,
                "num_features": extractor_features,
                "name": extractor_name,
            }
        if cluster_centres is not None:
            inputs["cluster_centres"] = {"centres": cluster_centres}
        if beat_align:
            inputs["beats"] = {"fps": fps}
        if reference_pck:
            inputs["box_joints"] = {}
        skeleton = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
        if skeleton is not None and all(name in skeleton.joint_names for name in LIP_JOINTS):
            inputs["lips"] = {"upper": skeleton.index(LIP_JOINTS[0]), "lower": skeleton.index(LIP_JOINTS[1])}
        self._slots: list[_Slot] = []
        metrics = {}
        for spec in metric_specs():
            if not set(spec.needs) <= inputs.keys():
                continue
            kwargs = {k: v for need in spec.needs for k, v in inputs[need].items()}
            if spec.arity == "paired":
                slots = [_Slot(spec.name, spec, "both")]
            else:
                slots = [
                    _Slot(spec.name, spec, "generated"),
                    _Slot(spec.name + GT_SUFFIX, spec, "ground_truth"),
                ]
            for slot in slots:
                metrics[slot.key] = spec.metric(**kwargs)
            self._slots += slots
        self.metrics = nn.ModuleDict(metrics)
        # inputs every update must pass, and only these
        self._update_inputs = {need for need in ("beats", "box_joints") if need in inputs}
        self._windows = _WindowCount()

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key ``compute()`` returns, in its order (a per-joint metric's once per joint). Which of the
        optional metrics the suite holds shows here: ``"PCK_ref" in suite.keys`` with ``reference_pck``."""
        keys: list[str] = []
        for slot in self._slots:
            suffix = GT_SUFFIX if slot.sees == "ground_truth" else ""
            for key in slot.spec.outputs:
                per_joint = slot.spec.per_joint
                keys += joint_keys(key + suffix, self.mean.size // 2) if per_joint else [key + suffix]
        return tuple(keys)

    @property
    def extractor_id(self) -> str | None:
        """``"<name>@<weights hash>"`` of the FGD extractor, or None without FGD."""
        return self.metrics["FGD"].extractor_id if "FGD" in self.metrics else None

    def to_pixels(self, poses: Tensor) -> Tensor:
        """Model-space ``(B, T, 2J)`` → pixel-space ``(B, T, J, 2)`` float64 on the input's device."""
        mean = torch.as_tensor(self.mean, device=poses.device)
        std = torch.as_tensor(self.std, device=poses.device)
        flat = poses.double() * std + mean
        return flat_to_joints(flat if self.decode is None else self.decode(flat))

    def update(
        self,
        preds: Tensor,
        target: Tensor,
        beats: Sequence[ArrayLike] | None = None,
        box_joints: ArrayLike | None = None,
    ) -> None:
        preds, target = _check_pair(preds, target, _check_flat)
        if preds.shape[-1] != self.mean.size:
            raise ValueError(
                f"poses have {preds.shape[-1]} features but the normaliser has {self.mean.size}: "
                f"preds {tuple(preds.shape)}, mean ({self.mean.size},)"
            )
        given = {"beats": beats, "box_joints": box_joints}
        for need, flag in (("beats", "beat_align"), ("box_joints", "reference_pck")):
            if (need in self._update_inputs) != (given[need] is not None):
                what = "audio beats" if need == "beats" else "box_joints"
                raise ValueError(
                    f"{what} must be given to every update when the suite is built with {flag}=True, "
                    "and only then"
                )
        spaces = {"z": (preds, target), "pixels": (self.to_pixels(preds), self.to_pixels(target))}
        for slot in self._slots:
            generated, ground_truth = spaces[slot.spec.space]
            poses = {
                "both": (generated, ground_truth),
                "generated": (generated,),
                "ground_truth": (ground_truth,),
            }[slot.sees]
            extra = tuple(given[need] for need in slot.spec.needs if need in given)
            self.metrics[slot.key].update(*poses, *extra)
        self._windows.update(preds)

    @property
    def windows(self) -> int:
        """Windows scored since the last reset, summed over processes (a collective under DDP: call it on
        every process, as ``compute``). 0 means the suite has nothing to score."""
        with self._windows.sync_context():
            return int(self._windows.count)

    def compute(self) -> dict[str, float]:
        """Every metric's value as a float, synchronised across processes; failed distances are NaN (warned).
        Keys are each spec's ``outputs`` (``_gt``-suffixed for the ground truth of a single-set metric), in
        registry order. The FGD extractor's identity is ``extractor_id``, kept out of this dict so every
        value is a number."""
        result: dict[str, float] = {}
        for slot in self._slots:
            value = self.metrics[slot.key].compute()
            outputs = slot.spec.outputs
            values = value if isinstance(value, dict) else {outputs[0]: value}
            tensors = {k: v for k, v in values.items() if isinstance(v, Tensor)}
            if tensors.keys() != set(outputs):
                raise RuntimeError(
                    f"metric {slot.spec.name!r} ({slot.spec.metric.__qualname__}) computed "
                    f"{sorted(tensors)} but is registered with outputs {list(outputs)}"
                )
            suffix = GT_SUFFIX if slot.sees == "ground_truth" else ""
            for key in outputs:
                if slot.spec.per_joint:
                    per_joint = tensors[key].reshape(-1).tolist()
                    result.update(zip(joint_keys(key + suffix, len(per_joint)), per_joint, strict=True))
                else:
                    result[key + suffix] = float(tensors[key])
        return result

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()
        self._windows.reset()
