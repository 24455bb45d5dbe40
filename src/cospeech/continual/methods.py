"""Continual-learning methods by name: each is a fit-config fragment,
``configs/continual/methods/<name>.yaml`` (replay strategy, trainable generator modules, latent shift),
merged after a preset's task config. Names, the reference's run names (``cl_modelmap.py``) and the C-DiffGAN
paper's labels are from ``pats_data_and_cdiffgan_evaluation.md`` §5.6 and ``cdiffgan_models_and_training.md``
§6-§7; ``docs/continual.md`` tabulates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cospeech.registry import Registry

METHODS_DIR = Path(__file__).resolve().parent.parent / "configs" / "continual" / "methods"


@dataclass(frozen=True)
class Method:
    """One continual-learning method."""

    name: str
    reference: str
    """The reference's run name (``<wrapper>_<replay>``, ``cl_modelmap.py``)."""
    label: str
    """How the C-DiffGAN paper's tables name it."""
    summary: str
    """One line for ``cospeech continual --help``."""

    @property
    def config(self) -> Path:
        """Its fit-config fragment."""
        return METHODS_DIR / f"{self.name}.yaml"


_METHODS = (
    Method(
        "finetune", "mixstage_no-replay-fs", "Mix-StAGE fine-tuning", "newest speaker's k windows, no shift"
    ),
    Method(
        "diffgan", "diffgan_no-replay-fs", "DiffGAN (CVPR'22)", "newest speaker's k windows + timing shift"
    ),
    Method("buffer", "diffgan_random-fs", "Buffer Replay", "DiffGAN on stored real windows of every speaker"),
    Method(
        "pseudo",
        "diffgan_pseudo-fs-src",
        "C-DiffGAN w/o L_ccf",
        "DiffGAN, earlier speakers' poses from the teacher",
    ),
    Method(
        "cdiffgan",
        "diffgan_pseudo-align-fs-src",
        "C-DiffGAN",
        "pseudo replay, aligned batch, D on the newest speaker only",
    ),
    Method(
        "mergan_jtr",
        "diffgan_pseudo-fs-tgt",
        "MeRGAN-JTR",
        "newest inputs with redrawn styles, teacher targets",
    ),
    Method(
        "mergan_ra",
        "diffgan_pseudo-align-fs-tgt",
        "MeRGAN-RA",
        "MeRGAN-JTR with old ids on the first rows only",
    ),
    Method(
        "joint", "mixstage_baseline", "MixStAGe (joint)", "every window of every speaker seen: upper bound"
    ),
)

METHODS: Registry[Method] = Registry(
    "continual method", order=lambda name, _: [m.name for m in _METHODS].index(name)
)
for _method in _METHODS:
    METHODS.add(_method.name, _method, Method)


def get_method(name: str) -> Method:
    """The method called ``name``; ``ConfigError`` listing the known ones otherwise."""
    return METHODS[name]
