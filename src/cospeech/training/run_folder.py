"""A run's folder (``<root>/<name>/version_<n>/``) as something to trust: fixed checkpoint names, atomic
checkpoint files, resume in place wherever the folder now lives, and no empty folder from a failed start.

* ``checkpoints/best.ckpt`` and ``checkpoints/last.ckpt`` keep their names across resumes, and
  ``last.ckpt`` is the last epoch's (``RunCheckpoint``): Lightning's version counter would write
  ``best-v1.ckpt`` next to stale ones, which every later command would silently pick up.
* A checkpoint appears complete or not at all (``AtomicCheckpointIO``), so a ``kill -9`` while one is
  written leaves the previous ``last.ckpt`` to resume from.
* A resumed run continues in the folder its checkpoint is in (``run_directory``), also when the folder was
  moved or copied since: the checkpoint's record of its own files is re-pointed at the new location.
* A command that fails before its first training step removes the version folder it created
  (``DiscardUnusedRunFolder``), so the next attempt is still ``version_0``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cospeech.files import atomic_write


def run_directory(ckpt_path: str | Path | None) -> Path | None:
    """The run folder ``…/version_<n>`` (resolved) if ``ckpt_path`` is a checkpoint inside one, else None."""
    if not ckpt_path:
        return None
    path = Path(ckpt_path).resolve()
    version = path.parent.parent.name
    if path.parent.name == "checkpoints" and version.startswith("version_") and version[8:].isdigit():
        return path.parent.parent
    return None


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that overwrites ``best.ckpt``/``last.ckpt`` in place, writes ``last.ckpt`` every
    epoch, and keeps its best-score record when the run folder was moved.

    Lightning (2.6) writes ``last.ckpt`` only when it also writes a top-k checkpoint, so after the best
    epoch ``last.ckpt`` stood still: a resume replayed every epoch since. It is now also written where
    Lightning would have written it (after the epoch's dev evaluation, or at the epoch's end without one).

    Lightning restores the best score and the files it knows from the checkpoint's callback state only if
    the folder path recorded there equals the current one; a run started with a relative ``run.root``, or
    moved, fails that test, loses its best score (so any later epoch would become "best") and counts up
    ``best-v1.ckpt``. When ``resumed_from`` (the folder of the checkpoint being resumed) is this callback's
    folder, the recorded paths are re-pointed at it by file name first.

    Args:
        resumed_from: ``checkpoints/`` folder of the checkpoint the run resumes from, or None.
        kwargs: ``ModelCheckpoint``'s arguments (``enable_version_counter`` is always False).
    """

    def __init__(self, *, resumed_from: Path | None = None, **kwargs: Any) -> None:
        super().__init__(enable_version_counter=False, **kwargs)
        self.resumed_from = resumed_from

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def _save_last_if_missed(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` unless this step already wrote a checkpoint (or nothing may be written now:
        sanity check, validate/test, ``fast_dev_run``)."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        recorded, here = state_dict.get("dirpath"), self.dirpath
        moved = bool(recorded and here and recorded != here)
        if moved and self.resumed_from is not None and Path(here).resolve() == self.resumed_from.resolve():
            state_dict = _repoint(state_dict, Path(recorded), Path(here))
        super().load_state_dict(state_dict)


def _repoint(state: dict[str, Any], old: Path, new: Path) -> dict[str, Any]:
    """``ModelCheckpoint`` state with every file under ``old`` renamed to the same file name under ``new``."""

    def move(path: Any) -> Any:
        if isinstance(path, str) and path and Path(path).parent == old:
            return str(new / Path(path).name)
        return path

    state = dict(state, dirpath=str(new))
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in state:
            state[key] = move(state[key])
    if isinstance(state.get("best_k_models"), dict):
        state["best_k_models"] = {move(path): score for path, score in state["best_k_models"].items()}
    return state


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside it and renames it into place.

    Lightning's own save goes through an fsspec transaction whose temporary file lives in ``$TMPDIR``; when
    that is another file system (a local ``/tmp`` under a network ``runs/``), the final move is a copy, and a
    process killed during it leaves a truncated ``last.ckpt``. Remote URLs (``s3://…``) keep Lightning's way.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as temporary:
            torch.save(checkpoint, temporary)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a process killed while writing
            shutil.rmtree(stale, ignore_errors=True)


class DiscardUnusedRunFolder(L.Callback):
    """Removes the logger's version folder when the command fails before any training step and the folder
    did not exist before the command (it then holds only a TensorBoard file and maybe ``config.yaml``), and
    the folders above it that the command created.

    Without this, a ``fit`` that fails on a missing corpus leaves ``version_0`` behind and the real run
    becomes ``version_1``. A folder holding a checkpoint is never removed.

    Args:
        experiment: the folder the version folders are in (``<run.root>/<run.name>``), seen before the run.
    """

    def __init__(self, experiment: Path) -> None:
        self.existing = {p.name for p in experiment.glob("*")}
        self.created = [p for p in (experiment, *experiment.parents) if not p.exists()]  # deepest first

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, error: BaseException) -> None:
        logger = trainer.logger
        if not trainer.is_global_zero or logger is None or trainer.global_step > 0:
            return
        folder = Path(logger.log_dir)
        if folder.name in self.existing or not folder.is_dir() or any(folder.glob("checkpoints/*.ckpt")):
            return
        shutil.rmtree(folder, ignore_errors=True)
        for parent in self.created:
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        print(f"cospeech: removed {folder}: the command failed before training started", file=sys.stderr)
