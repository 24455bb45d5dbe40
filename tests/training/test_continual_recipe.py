"""ContinualRecipe on tiny Mix-StAGE tasks of the built-in corpus: the trainable subset, the frozen teacher
and its record, C-DiffGAN's rows for D, pseudo targets, MeRGAN's redraw and DiffGAN's latent shift."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from tiny_runs import QUIET_TRAINER

from cospeech.data.datamodule import PatsDataModule
from cospeech.data.poses import velocity
from cospeech.data.replay import newest_share
from cospeech.errors import CheckpointError, ConfigError
from cospeech.models import build_model, run_generator
from cospeech.training.checkpoints import load_checkpoint
from cospeech.training.continual import DIFFGAN_TRAINABLE, TEACHER_KEY, ContinualRecipe, weights_sha256
from cospeech.training.latent_shift import fit_latent, latent_shift_loss, shift_mask
from cospeech.training.metadata import read_run

TINY = {"channels": 16, "unet_depth": 3, "style_dim": 4, "num_clusters": 2}
"""A narrow Mix-StAGE (audio only): the recipe's wiring, not the width, is under test."""
SPEAKERS = ["ava", "ben", "cleo"]
"""Task 2 of a sequence: ava and ben seen before, cleo the newest (style id 2)."""
BATCH = 8
OLD_ROWS, NEW_ROWS = newest_share(BATCH, len(SPEAKERS))  # 6 / 2

pytestmark = pytest.mark.usefixtures("one_thread")


class DiscriminatorInputs(L.Callback):
    """Records each training batch and every input the discriminator saw during it."""

    def __init__(self) -> None:
        self.steps: list[tuple[dict[str, torch.Tensor], list[torch.Tensor]]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: ContinualRecipe) -> None:
        pl_module.discriminator.register_forward_hook(
            lambda module, args, output: self.steps[-1][1].append(args[0].detach().clone())
        )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.steps.append(({k: v.clone() for k, v in batch.items()}, []))


def _datamodule(synth_root: Path, cache: Path, replay: str) -> PatsDataModule:
    return PatsDataModule(
        str(synth_root),
        SPEAKERS,
        batch_size=BATCH,
        window_hop=16,
        k_shot=4,
        replay=replay,
        train_batches=4,
        cache_dir=str(cache),
    )


def _fit(
    datamodule: PatsDataModule, *, ckpt_path: str | None = None, epochs: int = 1, **init_args: Any
) -> tuple[ContinualRecipe, L.Trainer, DiscriminatorInputs]:
    torch.manual_seed(0)
    init_args.setdefault("trainable", list(DIFFGAN_TRAINABLE))
    model = ContinualRecipe(
        generator="mix_stage", generator_config=TINY, discriminator_config={"channels": 8}, **init_args
    )
    recorder = DiscriminatorInputs()
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=[recorder],
        **QUIET_TRAINER,
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    return model, trainer, recorder


@pytest.fixture(scope="module")
def task1(train_tiny) -> Path:
    """Task 1: a tiny Mix-StAGE with its discriminator on ava and ben."""
    return train_tiny(generator="mix_stage", generator_config=TINY, discriminator_config={"channels": 8})


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("continual_cache")


@pytest.fixture(scope="module")
def cdiffgan(task1, synth_root, cache, tmp_path_factory):
    """Task 2 as C-DiffGAN trains it: pseudo-aligned replay, DiffGAN's subset, the latent shift; saved."""
    datamodule = _datamodule(synth_root, cache, "pseudo_aligned")
    model, trainer, recorder = _fit(
        datamodule, init_from=str(task1), latent_shift=True, shift_steps=5, shift_top_k=4
    )
    path = tmp_path_factory.mktemp("cdiffgan") / "task2.ckpt"
    trainer.save_checkpoint(path)
    return model, trainer, recorder, path


def _task1_generator(task1: Path) -> torch.nn.Module:
    run = read_run(task1)
    return run.metadata.model.build(run.state_dict, run.path)  # eval mode


def test_only_the_trainable_subset_moves_and_frozen_parts_stay_bit_identical(cdiffgan, task1) -> None:
    model, *_ = cdiffgan
    before = _task1_generator(task1).state_dict()
    after = model.generator.state_dict()
    assert set(model.frozen) == {"audio_encoder", "unet"}  # audio-only Mix-StAGE's other children
    for name, value in after.items():  # parameters and buffers (BatchNorm statistics)
        frozen = name.split(".")[0] in model.frozen
        assert torch.equal(value, before[name]) == frozen, f"{name} ({'frozen' if frozen else 'trainable'})"
    trained = {id(p) for group in model.optimizers()[0].optimizer.param_groups for p in group["params"]}
    for name, parameter in model.generator.named_parameters():
        assert parameter.requires_grad == (name.split(".")[0] in DIFFGAN_TRAINABLE), name
        assert (id(parameter) in trained) == parameter.requires_grad, name


def test_teacher_is_frozen_outside_the_checkpoint_and_recorded_by_hash(cdiffgan, task1, synth_root) -> None:
    model, trainer, _, path = cdiffgan
    teacher = model.teacher
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    checkpoint = load_checkpoint(path)
    assert all(k.startswith(("generator.", "discriminator.", "suites.")) for k in checkpoint["state_dict"])
    reference = _task1_generator(task1)
    assert checkpoint[TEACHER_KEY] == {
        "path": str(read_run(task1).path),
        "sha256": weights_sha256(reference),
    }
    batch = next(iter(trainer.datamodule.train_dataloader()))
    with torch.no_grad():
        expected = run_generator(reference, batch, training=False).poses
    torch.testing.assert_close(model.teacher_poses(batch), expected, rtol=0, atol=0)


def test_old_rows_learn_the_teachers_poses_and_new_rows_their_own(cdiffgan, task1) -> None:
    model, trainer, *_ = cdiffgan
    batch = next(iter(trainer.datamodule.train_dataloader()))
    assert batch["style"][:OLD_ROWS].lt(2).all() and batch["style"][OLD_ROWS:].eq(2).all()
    with torch.no_grad():
        teacher = run_generator(_task1_generator(task1), batch, training=False).poses
    targets = model.with_teacher_targets(batch)["pose"]
    torch.testing.assert_close(targets[:OLD_ROWS], teacher[:OLD_ROWS], rtol=0, atol=0)
    assert torch.equal(targets[OLD_ROWS:], batch["pose"][OLD_ROWS:])


def test_discriminator_sees_only_the_newest_speakers_rows(cdiffgan) -> None:
    _, _, recorder, _ = cdiffgan
    seen = [inputs for _, inputs in recorder.steps if inputs]
    assert seen and all(x.shape[0] == NEW_ROWS for inputs in seen for x in inputs)
    real = [
        torch.equal(inputs[0], velocity(batch["pose"][batch["style"] == 2]))
        for batch, inputs in recorder.steps
        if len(inputs) == 2  # a D turn: D(v(y)) then D(v(ŷ))
    ]
    assert any(real)


def test_latent_shift_is_logged_and_positive(cdiffgan) -> None:
    _, trainer, *_ = cdiffgan
    assert trainer.callback_metrics["train/shift"] > 0


def test_resume_refuses_an_init_from_with_other_weights(cdiffgan, task1, synth_root, cache, tmp_path) -> None:
    model, _, _, path = cdiffgan
    model.on_load_checkpoint(load_checkpoint(path))  # the same teacher: accepted
    checkpoint = load_checkpoint(task1)
    name = next(k for k in checkpoint["state_dict"] if k.startswith("generator.logits."))
    checkpoint["state_dict"][name] = checkpoint["state_dict"][name] + 1
    other = tmp_path / "other.ckpt"
    torch.save(checkpoint, other)
    with pytest.raises(
        CheckpointError, match=r"trained with teacher .*sha256.*this run.s teacher is .*other\.ckpt \(sha256"
    ):
        _fit(
            _datamodule(synth_root, cache, "pseudo_aligned"),
            ckpt_path=str(path),
            epochs=2,
            init_from=str(other),
            latent_shift=True,
            shift_steps=5,
        )


def test_mergan_ra_redraws_old_ids_per_step_and_d_sees_the_rest(task1, synth_root, cache) -> None:
    model, _, recorder = _fit(
        _datamodule(synth_root, cache, "mergan_ra"), init_from=str(task1), teacher_mode="train"
    )
    batch = recorder.steps[0][0]
    assert batch["style"].eq(2).all()  # memory: the newest speaker's windows only
    drawn = model.training_batch(batch)["style"]
    assert torch.equal(drawn, model.training_batch(batch)["style"])  # seeded by (seed, step)
    assert drawn[:OLD_ROWS].lt(2).all() and drawn[OLD_ROWS:].eq(2).all()
    assert all(x.shape[0] == NEW_ROWS for _, inputs in recorder.steps for x in inputs)
    # the reference's train-mode teacher normalises by the batch but its statistics never move
    assert model.teacher.training
    reference = _task1_generator(task1).state_dict()
    for name, value in model.teacher.state_dict().items():
        assert torch.equal(value, reference[name]), name


def test_a_teacher_needs_init_from_and_trainable_names_must_exist(synth_root, cache) -> None:
    with pytest.raises(ConfigError, match="set init_from to the previous task's run"):
        _fit(_datamodule(synth_root, cache, "pseudo"))
    with pytest.raises(ConfigError, match="not submodules of mix_stage; it has audio_encoder, unet"):
        _fit(_datamodule(synth_root, cache, "none"), trainable=["decoder", "classify_cluster"])


def test_latent_shift_needs_a_latent_split() -> None:
    with pytest.raises(ConfigError, match="speech2gesture has none"):
        ContinualRecipe(generator="speech2gesture", latent_shift=True)


def test_inner_loop_fits_the_target_and_only_the_shift_layer_learns_from_l_shift() -> None:
    torch.manual_seed(0)
    generator = build_model("mix_stage", **TINY, text_dim=0, pose_dim=6, num_styles=2)
    inputs = generator.example_inputs(batch_size=3)
    z_prev, context = generator.features_before_shift(**inputs)
    z = generator.shift_layer(z_prev)
    fixed = dataclasses.replace(context, cluster_probs=context.cluster_probs.detach())

    def decode(latent: torch.Tensor) -> torch.Tensor:
        return generator.poses_after_shift(latent, fixed)

    fit = fit_latent(z, decode, inputs["pose"], steps=20, lr=1000.0)
    assert all(p.grad is None for p in generator.parameters())
    assert fit.last_l1 < fit.first_l1
    assert (decode(fit.latent) - inputs["pose"]).abs().mean() < fit.first_l1
    mask = shift_mask(z.detach(), fit.latent, top_k=10)
    assert mask.shape == (3, 1, 64) and mask.sum(dim=-1).eq(10).all()
    loss = latent_shift_loss(fit.latent, generator.shift_layer(z_prev.detach()), mask)
    assert loss > 0
    loss.backward()
    learning = {
        n.split(".")[0] + "." + n.split(".")[1] for n, p in generator.named_parameters() if p.grad is not None
    }
    assert learning == {"decoder.3"}
