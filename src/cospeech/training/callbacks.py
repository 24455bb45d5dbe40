"""Callbacks of every run: metrics JSON files, RNG state in checkpoints, skeleton images and videos in
TensorBoard, ``last.ckpt`` after every epoch, and a warning when the monitored metric cannot select a
checkpoint."""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from tensorboard.compat.proto.summary_pb2 import Summary

from cospeech.data.representation import make_representation
from cospeech.files import atomic_write
from cospeech.render.draw import draw_pose
from cospeech.skeletons import Skeleton

EPOCH_METRICS_FILE = "metrics.json"
FINAL_METRICS_FILE = "final_metrics.json"
TEST_METRICS_FILE = "test_metrics.json"
VALIDATE_METRICS_FILE = "validate_metrics.json"


def _plain(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Logged tensors → JSON numbers (NaN/inf → null, which JSON can carry)."""
    out: dict[str, float | None] = {}
    for key, value in sorted(metrics.items()):
        number = float(value.item() if isinstance(value, torch.Tensor) else value)
        out[key] = number if math.isfinite(number) else None
    return out


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1))


class MetricsJson(L.Callback):
    """Writes, in the run's log directory, ``metrics.json`` (one entry per epoch: train losses and dev
    metrics), ``final_metrics.json`` when fitting ends (``final_metrics``), and ``test_metrics.json`` /
    ``validate_metrics.json`` after ``cospeech test`` / ``validate``."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []

    def _directory(self, trainer: L.Trainer) -> Path:
        """The logger's directory. (``trainer.log_dir`` would broadcast, a collective only rank 0 reaches.)"""
        logger = trainer.logger
        return Path(logger.log_dir if logger is not None and logger.log_dir else trainer.default_root_dir)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Runs after the epoch's dev evaluation, so the entry holds this epoch's dev metrics."""
        if not trainer.is_global_zero:
            return
        entry = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            **_plain(trainer.callback_metrics),
        }
        self.history = [h for h in self.history if h["epoch"] != trainer.current_epoch] + [entry]
        _write_json(self._directory(trainer) / EPOCH_METRICS_FILE, self.history)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.history:
            best = getattr(trainer.checkpoint_callback, "best_model_path", "")
            final = final_metrics(self.history, Path(best) if best else None)
            _write_json(self._directory(trainer) / FINAL_METRICS_FILE, final)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            test = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
            _write_json(self._directory(trainer) / TEST_METRICS_FILE, _plain(test))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Only for ``cospeech validate``: during fitting the dev metrics go to ``metrics.json``."""
        if trainer.is_global_zero and trainer.state.fn == "validate":
            dev = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("dev/")}
            _write_json(self._directory(trainer) / VALIDATE_METRICS_FILE, _plain(dev))

    def state_dict(self) -> dict[str, Any]:
        return {"history": json.dumps(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = json.loads(state_dict["history"])


def final_metrics(history: list[dict[str, Any]], best: Path | None) -> dict[str, dict[str, Any]]:
    """``final_metrics.json``: the last epoch's entry and the selected checkpoint's, labelled, since the
    weights that evaluate/generate/export use (``best.ckpt``) are often not the last epoch's.

    ``{"last": {..., "epoch": n}, "selected": {..., "epoch": k, "checkpoint": "best.ckpt"}}``; without a
    best checkpoint (``run.selection: last``, or no dev evaluation) the selected one is ``last.ckpt``.
    """
    last = history[-1]
    selected = {**last, "checkpoint": "last.ckpt"}
    if best is not None and best.is_file():
        epoch = torch.load(best, map_location="cpu", weights_only=True, mmap=True)["epoch"]
        entry = next((h for h in history if h["epoch"] == epoch), {"epoch": epoch})
        selected = {**entry, "checkpoint": best.name}
    return {"last": last, "selected": selected}


class RngState(L.Callback):
    """Saves the Python, NumPy and torch RNG states in checkpoints and restores them on resume, so a
    resumed run continues the same random streams (Lightning restores model, optimisers, schedulers and
    loop counters itself; the data order is a function of seed and epoch)."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        _algorithm, keys, position, has_gauss, cached = np.random.get_state()
        checkpoint["rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": json.dumps(random.getstate()),
        }  # fmt: skip

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("rng")
        if state is None:
            return
        torch.set_rng_state(state["torch"])
        numpy_state = state["numpy"]
        np.random.set_state(
            ("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
             numpy_state["has_gauss"], numpy_state["cached"])
        )  # fmt: skip
        version, internal, gauss = json.loads(state["python"])
        random.setstate((version, tuple(internal), gauss))


DEV_VIDEO_SIZE = (384, 208)
"""(width, height) of the dev videos in TensorBoard: two small panels, titles still readable."""


class SkeletonImages(L.Callback):
    """After each dev evaluation, logs to TensorBoard a dev window's real poses (top row) above the
    generated ones (bottom row) at ``frames`` as an image and, with ``video_frames > 0``, its first
    ``video_frames`` frames as a video (real | generated side by side, drawn by
    ``render.draw.PoseCanvasLayout``). Needs a module exposing ``examples["dev"]`` with ``pred``/``pose``
    (T, 2J) model-space tensors and ``style``, its ``data_spec`` and ``normalizer``. Generated poses that
    are not finite are not drawn.

    The video is what ``SummaryWriter.add_video`` logs, an animated GIF in an image summary (TensorBoard's
    Images tab plays it), encoded here with Pillow: ``add_video`` itself needs moviepy 1.x
    (``moviepy.editor``, gone from moviepy 2) and logs nothing without it."""

    def __init__(
        self, frames: tuple[int, ...] = (0, 16, 32, 48), tile: int = 256, video_frames: int = 0
    ) -> None:
        self.frames = frames
        self.tile = tile
        self.video_frames = video_frames

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        example = getattr(pl_module, "examples", {}).get("dev")
        logger = trainer.logger
        if not trainer.is_global_zero or example is None or not hasattr(logger, "experiment"):
            return
        if not hasattr(logger.experiment, "add_image") or pl_module.normalizer is None:
            return
        if not torch.isfinite(example["pred"]).all():
            return  # a diverged model (MonitorCheck warns): drawing NaN poses would end the run
        spec = pl_module.data_spec
        representation = make_representation(spec.representation, spec.skeleton, pl_module.normalizer)
        style = example["style"].reshape(1).cpu()
        rows = []
        for key in ("pose", "pred"):
            joints = representation.to_pixels(example[key].float().cpu()[None], style)[0].numpy()
            row = []
            for frame in self.frames:
                canvas = np.full((self.tile, self.tile, 3), 255, np.uint8)
                draw_pose(canvas, joints[min(frame, len(joints) - 1)], representation.skeleton,
                          scale=self.tile / 900,
                          origin=(self.tile / 2, self.tile * 0.25))  # fmt: skip
                row.append(canvas)
            rows.append(np.concatenate(row, axis=1))
        image = np.concatenate(rows, axis=0)[..., ::-1].copy()  # BGR → RGB
        logger.experiment.add_image(
            "dev/real_top_generated_bottom", image, trainer.current_epoch, dataformats="HWC"
        )
        if self.video_frames > 0 and hasattr(logger.experiment, "_get_file_writer"):
            real, generated = (
                representation.to_pixels(example[key].float().cpu()[None], style)[0].numpy()
                for key in ("pose", "pred")
            )
            gif = dev_video(
                real, generated, representation.skeleton, self.video_frames, pl_module.data_spec.fps
            )
            summary = Summary(
                value=[
                    Summary.Value(
                        tag="dev/video_real_left_generated_right",
                        image=Summary.Image(height=DEV_VIDEO_SIZE[1], width=DEV_VIDEO_SIZE[0], colorspace=3,
                                            encoded_image_string=gif),
                    )
                ]
            )  # fmt: skip
            logger.experiment._get_file_writer().add_summary(summary, trainer.current_epoch)


def dev_video(real: np.ndarray, generated: np.ndarray, skeleton: Skeleton, frames: int, fps: int) -> bytes:
    """An animated GIF (looping) of the first ``frames`` poses of ``real`` and ``generated`` (each
    ``(T, J, 2)`` neck-relative pixels) side by side at ``fps``, ``DEV_VIDEO_SIZE`` pixels."""
    from PIL import Image

    from cospeech.render.draw import PoseCanvasLayout, panel_size
    from cospeech.render.figure import figure_box

    count = min(frames, len(real), len(generated))
    width, height = panel_size(DEV_VIDEO_SIZE, 2)
    box = figure_box([real[:count], generated[:count]], skeleton, aspect=width / height)
    layout = PoseCanvasLayout(skeleton, ["real", "generated"], size=DEV_VIDEO_SIZE, box=box)
    images = []
    for t in range(count):
        layout.render([real[t], generated[t]], t / fps)
        images.append(Image.fromarray(layout.to_bgr()[..., ::-1]))
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                   loop=0)  # fmt: skip
    return buffer.getvalue()


class MonitorCheck(L.Callback):
    """Warns once per run when ``run.monitor`` cannot select ``best.ckpt``: when it is NaN after a dev
    evaluation (no speaker had dev windows to score, or training diverged) and when it is never logged
    because there was no dev batch at all. Either way Lightning would otherwise keep ``best.ckpt`` at an
    old epoch (or write none) without a word; ``RunCheckpoint`` still saves ``last.ckpt`` every epoch."""

    ADVICE = "give a speaker dev intervals at least one window long, or train with --run.selection last"

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self._warned: set[str] = set()

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            rank_zero_warn(f"cospeech: {message}; {self.ADVICE}", category=UserWarning)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
            return  # only fitting selects checkpoints
        if value is None or not torch.isnan(torch.as_tensor(value)).item():
            return
        self._warn_once(
            "nan",
            f"run.monitor {self.monitor!r} is NaN at epoch {trainer.current_epoch} (no dev window was "
            "scored, or training diverged), so best.ckpt is not updated while it is; last.ckpt holds the "
            "latest epoch",
        )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Runs after the epoch's dev evaluation, if there was one."""
        batches = trainer.num_val_batches
        batches = sum(batches) if isinstance(batches, list) else batches
        if batches == 0 and self.monitor not in trainer.callback_metrics:
            self._warn_once(
                "missing",
                f"there are no dev batches to score (no speaker has a dev window, or limit_val_batches=0), "
                f"so run.monitor {self.monitor!r} is never logged: best.ckpt is not written and last.ckpt "
                "(every epoch) is the run's checkpoint",
            )
