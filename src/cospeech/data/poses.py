"""Pose layout conversions. The PATS ``[x_0..x_{J-1}, y_0..y_{J-1}]`` flat layout is turned into
``(…, J, 2)`` joint arrays here and nowhere else.

Works on NumPy arrays and torch tensors alike (only reshapes, stacks and slicing).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from cospeech.skeletons import PATS52, PATS_MODEL_JOINTS

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def flat_to_joints(flat: Array) -> Array:
    """``(…, 2J)`` ``[x…, y…]`` → ``(…, J, 2)``."""
    if flat.shape[-1] % 2:
        raise ValueError(f"pose layout needs an even last dimension, got shape {tuple(flat.shape)}")
    j = flat.shape[-1] // 2
    xs, ys = flat[..., :j], flat[..., j:]
    if isinstance(flat, torch.Tensor):
        return torch.stack((xs, ys), dim=-1)
    return np.stack((xs, ys), axis=-1)


def joints_to_flat(joints: Array) -> Array:
    """``(…, J, 2)`` → ``(…, 2J)`` ``[x…, y…]``."""
    if joints.shape[-1] != 2:
        raise ValueError(f"joint arrays end in 2 coordinates, got shape {tuple(joints.shape)}")
    if isinstance(joints, torch.Tensor):
        return torch.cat((joints[..., 0], joints[..., 1]), dim=-1)
    return np.concatenate((joints[..., 0], joints[..., 1]), axis=-1)


def pats_to_model_joints(pats_flat: np.ndarray) -> np.ndarray:
    """PATS ``(T, 104)`` (neck absolute, others neck-relative) → the model joints ``(T, 48, 2)``
    as neck-relative offsets."""
    if pats_flat.shape[-1] != 2 * PATS52.num_joints:
        raise ValueError(f"PATS poses have {2 * PATS52.num_joints} columns, got shape {pats_flat.shape}")
    return flat_to_joints(pats_flat)[..., list(PATS_MODEL_JOINTS), :]


def model_joints_to_pats(joints: np.ndarray, neck: np.ndarray | None = None) -> np.ndarray:
    """Model joints ``(T, 48, 2)`` → PATS ``(T, 104)``. The neck goes to ``neck`` (``(T, 2)`` absolute
    pixels, default the origin); nose and eyes, which models do not predict, sit on the neck."""
    full = np.zeros((*joints.shape[:-2], PATS52.num_joints, 2), dtype=joints.dtype)
    full[..., list(PATS_MODEL_JOINTS), :] = joints
    if neck is not None:
        full[..., 0, :] = neck
    return joints_to_flat(full)


def velocity(poses: Array) -> Array:
    """First temporal difference along axis 1 (the T axis of ``(B, T, …)``), with ``v_0 = 0`` so the
    length is kept (as the reference motion discriminator does)."""
    if isinstance(poses, torch.Tensor):
        diff = poses[:, 1:] - poses[:, :-1]
        return torch.cat((torch.zeros_like(poses[:, :1]), diff), dim=1)
    diff = poses[:, 1:] - poses[:, :-1]
    return np.concatenate((np.zeros_like(poses[:, :1]), diff), axis=1)
