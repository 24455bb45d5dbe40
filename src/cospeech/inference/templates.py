"""Test-time templates of Speech Drives Templates: the per-utterance ``template`` input, chosen once.

SDT's generator (``cospeech.models.sdt``) takes a template ``(B, D)`` that sets the general appearance of
the gestures while the speech drives the motion (notes sdt §3.5). At inference one template is held fixed
for the whole utterance (``GestureGenerator.generate(…, inputs=…)``): by default, as the reference, the row
of a training window drawn uniformly at random with a seed from the run's template bank (SDT-BP: the
learned template; SDT-VAE: the pose VAE's μ of that window's pose); from the prior N(0, I) with a seed (the
reference's ``CLIP_CODE.SAMPLE_FROM_NORMAL``); or a chosen training window's row (the reference's demo
``DEMO.CODE_INDEX``).
"""

from __future__ import annotations

import torch

from cospeech.errors import ConfigError
from cospeech.models.interface import Generator
from cospeech.models.sdt import TemplateSource


def template_inputs(
    generator: Generator,
    *,
    seed: int | None = None,
    window: int | None = None,
    source: TemplateSource | None = None,
) -> dict[str, torch.Tensor]:
    """``{"template": (1, D)}`` for ``generate(…, inputs=…)``: drawn with ``seed`` from ``source`` (default:
    the run's ``template_source``, ``bank`` unless trained otherwise: the row of training window
    ``torch.randint(N, (1,), generator=torch.Generator().manual_seed(seed))``; ``prior``: N(0, I)), or the
    bank row of training window ``window`` (0 ≤ window < the run's ``train_windows``, in the data module's
    training-window order). Exactly one of ``seed`` and ``window``; ``source`` only with ``seed``.

    Raises
    ------
    ConfigError : both or neither of ``seed`` and ``window``, ``source`` with ``window``, a generator
        without a template input, a window outside the bank, or an unknown ``source``.
    """
    if (seed is None) == (window is None):
        raise ConfigError("choose the template either from a seed or from a training window, not both")
    if window is not None and source is not None:
        raise ConfigError(f"a template source ({source!r}) goes with a seed, not with a training window")
    spec = generator.inputs.get("template")
    if spec is None or not spec.sampled:
        raise ConfigError(
            f"{type(generator).__name__} has no template input (the sdt generator with template_dim > 0 has)"
        )
    if window is not None:
        return {"template": generator.template_from(window)}
    drawn = generator.draw_templates(1, source=source, generator=torch.Generator().manual_seed(seed))
    return {"template": drawn}
