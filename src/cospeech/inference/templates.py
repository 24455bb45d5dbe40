"""Test-time templates of Speech Drives Templates: the per-utterance ``template`` input, chosen once.

SDT's generator (``cospeech.models.sdt``) takes a template ``(B, D)`` that sets the general appearance of
the gestures while the speech drives the motion (notes sdt §3.5). At inference one template is held fixed
for the whole utterance (``GestureGenerator.generate(…, inputs=…)``), drawn from the prior N(0, I) with a
seed, or taken from a training window: its row of the run's template bank (SDT-BP: the learned template;
SDT-VAE: the pose VAE's μ of that window's pose). The reference's demo picks ``DEMO.CODE_INDEX`` the same
way; its default, a random training clip's template, is ``window`` drawn by the caller.
"""

from __future__ import annotations

import torch

from cospeech.errors import ConfigError
from cospeech.models.interface import Generator


def template_inputs(
    generator: Generator, *, seed: int | None = None, window: int | None = None
) -> dict[str, torch.Tensor]:
    """``{"template": (1, D)}`` for ``generate(…, inputs=…)``: from N(0, I) drawn with ``seed``, or the bank
    row of training window ``window`` (0 ≤ window < the run's ``train_windows``, in the data module's
    training-window order). Exactly one of the two.

    Raises
    ------
    ConfigError : both or neither given, a generator without a template input, or a window outside the
        bank.
    """
    if (seed is None) == (window is None):
        raise ConfigError("choose the template either from a seed or from a training window, not both")
    spec = generator.inputs.get("template")
    if spec is None or not spec.sampled:
        raise ConfigError(
            f"{type(generator).__name__} has no template input (the sdt generator with template_dim > 0 has)"
        )
    if window is not None:
        return {"template": generator.template_from(window)}
    return generator.sample_inputs(("template",), 1, generator=torch.Generator().manual_seed(seed))
