"""Replay strategies: what a continual task trains on and how rows of earlier speakers are treated.

A task t of a continual sequence trains on speakers ``[s_1, …, s_t]`` (style id = position; the newest
speaker has id ``t − 1``), starting from the previous task's model. A strategy fixes the training set (its
*memory*), the composition of each batch, what the rows of earlier speakers learn from, whether the newest
speaker's inputs get their style ids redrawn (MeRGAN), and which rows the discriminator sees. The data module
reads ``memory`` and ``batches`` (``PatsDataModule(replay=…)``); the continual recipe reads the rest.

Source: the reference's ``-replay`` values (notes pats_data_and_cdiffgan_evaluation §5.2, §5.3;
cdiffgan_models_and_training §7). Each strategy records its reference name in ``reference``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cospeech.errors import ConfigError
from cospeech.registry import Registry

Memory = Literal["newest", "seen", "all_windows"]
BatchComposition = Literal["uniform", "newest_share"]
OldTargets = Literal["real", "teacher"]
StyleRedraw = Literal["none", "all", "old_rows"]
DiscriminatorRows = Literal["all", "newest"]


@dataclass(frozen=True)
class ReplayStrategy:
    """One replay strategy (notes pats §5.2).

    Attributes:
        name: registry name.
        reference: the reference's ``-replay`` value (``pseudo-align-fs-src``…).
        memory: the training set: ``newest`` = the k-shot windows of the newest speaker only, ``seen`` = the
            k-shot windows of every speaker of the sequence, ``all_windows`` = every training window of every
            speaker (no k-shot draw).
        batches: ``uniform`` = every row drawn uniformly from the training set; ``newest_share`` = C-DiffGAN's
            split (`newest_share`): the first ``bs_old`` rows from the earlier speakers' windows, the last
            ``bs_new`` rows from the newest speaker's.
        old_targets: what rows of earlier speakers learn from: their stored ``real`` poses, or the frozen
            previous model's output (``teacher``, "pseudo" replay / reminiscences).
        style_redraw: MeRGAN's reuse of the newest speaker's inputs: ``none``; ``all`` (JTR) = every row's
            style id redrawn uniformly over the seen ids; ``old_rows`` (RA) = the first ``bs − bs_new`` rows
            get uniform *earlier* ids. Rows whose (redrawn) style is below the newest id are the "old
            rows". The recipe redraws (teacher and student see the redrawn ids), not the data module.
        discriminator_rows: the rows the discriminator (and the generator's adversarial term) see: ``all``, or
            the ``newest`` speaker's rows only.
        summary: one line for docs and ``--help``.
    """

    name: str
    reference: str
    memory: Memory
    batches: BatchComposition
    old_targets: OldTargets
    style_redraw: StyleRedraw
    discriminator_rows: DiscriminatorRows
    summary: str

    @property
    def uses_k_shot(self) -> bool:
        """Whether the training set is a k-shot draw (``memory`` newest or seen), so ``k_shot`` is needed."""
        return self.memory != "all_windows"


REPLAY_STRATEGIES: Registry[ReplayStrategy] = Registry("replay strategy", plural="replay strategies")
"""Every registered replay strategy, by name."""

for _strategy in (
    ReplayStrategy(
        "none", "no-replay-fs", "newest", "uniform", "real", "none", "all",
        "no replay: the newest speaker's k-shot windows only (fine-tuning, DiffGAN)",
    ),
    ReplayStrategy(
        "buffer", "random-fs", "seen", "uniform", "real", "none", "all",
        "buffer replay: the stored k-shot windows of every seen speaker, with their real poses",
    ),
    ReplayStrategy(
        "pseudo", "pseudo-fs-src", "seen", "uniform", "teacher", "none", "all",
        "pseudo replay: earlier speakers' stored speech with the previous model's poses as targets",
    ),
    ReplayStrategy(
        "pseudo_aligned", "pseudo-align-fs-src", "seen", "newest_share", "teacher", "none", "newest",
        "C-DiffGAN: pseudo replay in a fixed old/new split of each batch; D sees the newest speaker only",
    ),
    ReplayStrategy(
        "mergan_jtr", "pseudo-fs-tgt", "newest", "uniform", "teacher", "all", "all",
        "MeRGAN-JTR: the newest speaker's inputs with style ids redrawn over all seen speakers",
    ),
    ReplayStrategy(
        "mergan_ra", "pseudo-align-fs-tgt", "newest", "uniform", "teacher", "old_rows", "newest",
        "MeRGAN-RA: the first rows get earlier speakers' ids; D sees the newest speaker only",
    ),
    ReplayStrategy(
        "joint", "random-full", "all_windows", "uniform", "real", "none", "all",
        "joint training on every window of every seen speaker (the upper bound)",
    ),
):  # fmt: skip
    REPLAY_STRATEGIES.add(_strategy.name, _strategy, ReplayStrategy)


def get_replay(name: str) -> ReplayStrategy:
    """The strategy registered as ``name``; ``ConfigError`` listing the known names otherwise."""
    return REPLAY_STRATEGIES[name]


def newest_share(batch_size: int, num_speakers: int) -> tuple[int, int]:
    """C-DiffGAN's batch split ``(bs_old, bs_new)`` with ``bs_new = max(batch_size // num_speakers, 1)``.

    ``num_speakers`` counts the speakers seen so far, the newest included; one speaker gives
    ``(0, batch_size)``. At batch 32, tasks t2..t5 give 16/16, 22/10, 24/8, 26/6 (notes cdiffgan §7,
    pats §5.2).
    Raises ``ConfigError`` if either argument is below 1."""
    if batch_size < 1 or num_speakers < 1:
        raise ConfigError(
            f"newest_share needs batch_size ≥ 1 and num_speakers ≥ 1, got {batch_size}, {num_speakers}"
        )
    new = max(batch_size // num_speakers, 1)
    return batch_size - new, new
