"""The recipes' optimiser: Adam with PyTorch's fused kernel where the parameters' device has one.

``torch.optim.Adam`` on CPU defaults to a Python loop over the parameter tensors; the fused kernel updates
them all in one call, the same Adam update (Kingma & Ba 2015, PyTorch's formulation) within float
rounding. Measured on the reference-width Speech2Gesture generator (7.4 M parameters, 1 CPU thread): 11.5
ms per step instead of 37.5 ms, ≈ 2 % of an fp32 and ≈ 5 % of a bf16 training step (BENCHMARKS.md,
issue 15).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

FUSED_DEVICES = ("cpu", "cuda")
"""Device types whose fused Adam kernel this project relies on (others get the default loop)."""


def adam(params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float) -> torch.optim.Adam:
    """``torch.optim.Adam(params, lr)``, fused when every parameter is a floating-point tensor on a
    ``FUSED_DEVICES`` device. ``params``: tensors or parameter groups (dicts with ``"params"``).

    It stays fused after ``load_state_dict`` of a state saved by the plain loop (a checkpoint written
    before the recipes used this function): loading takes the saved groups' ``fused`` flag, which would
    silently turn the resumed run back to the loop (``_stay_fused``)."""
    params = list(params)
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    fused = all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in tensors)
    optimizer = torch.optim.Adam(params, lr=lr, fused=fused or None)
    if fused:
        optimizer.register_load_state_dict_post_hook(_stay_fused)
    return optimizer


def _stay_fused(optimizer: torch.optim.Optimizer) -> None:
    """Mark every group fused again and hold each ``step`` count as the fused kernel needs it: a float32
    tensor on its parameter's device (the loop keeps it on the CPU)."""
    for group in optimizer.param_groups:
        group["fused"] = True
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            if "step" in state:
                state["step"] = torch.as_tensor(state["step"], dtype=torch.float32).to(param.device)
