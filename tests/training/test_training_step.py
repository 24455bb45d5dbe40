"""The training step wastes no work: fused Adam, and a generator turn computes no discriminator gradients,
with the same results as the plain computation (float tolerance)."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import pytest
import torch
from tiny_runs import QUIET_TRAINER

from cospeech.data.datamodule import PatsDataModule
from cospeech.data.poses import velocity
from cospeech.models import build_model
from cospeech.training.adversarial import AdversarialRecipe
from cospeech.training.losses import generator_l1_gan, reconstruction_l1
from cospeech.training.optim import adam

TINY_S2G = {"channels": 16, "unet_depth": 3, "decoder_layers": 1}


def test_adam_is_fused_on_cpu_and_updates_like_the_plain_loop():
    torch.manual_seed(0)
    fused_params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(7))]
    loop_params = [torch.nn.Parameter(p.detach().clone()) for p in fused_params]
    fused = adam([{"params": fused_params[:1]}, {"params": fused_params[1:], "lr": 0.1}], 0.01)
    loop = torch.optim.Adam([{"params": loop_params[:1]}, {"params": loop_params[1:], "lr": 0.1}], lr=0.01)
    assert fused.defaults["fused"] and not loop.defaults["fused"]
    for _ in range(5):
        grads = [torch.randn_like(p) for p in fused_params]
        for params, optimizer in ((fused_params, fused), (loop_params, loop)):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            optimizer.step()
    for a, b in zip(fused_params, loop_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert not adam([torch.zeros(2, dtype=torch.int64)], 0.01).defaults["fused"]  # no fused kernel


def test_adam_resumed_from_the_plain_loops_state_stays_fused_and_continues_it():
    # a checkpoint written before the recipes used fused Adam holds the loop's state (fused: None)
    torch.manual_seed(0)
    loop_params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(7))]
    loop = torch.optim.Adam([{"params": loop_params[:1]}, {"params": loop_params[1:], "lr": 0.1}], lr=0.01)
    grads = [[torch.randn_like(p) for p in loop_params] for _ in range(6)]

    def steps(params, optimizer, rounds):
        for round_grads in rounds:
            for p, g in zip(params, round_grads, strict=True):
                p.grad = g.clone()
            optimizer.step()

    steps(loop_params, loop, grads[:3])
    saved = copy.deepcopy(loop.state_dict())  # as read from a checkpoint: no tensors shared with loop
    resumed_params = [torch.nn.Parameter(p.detach().clone()) for p in loop_params]
    resumed = adam([{"params": resumed_params[:1]}, {"params": resumed_params[1:], "lr": 0.1}], 0.01)
    resumed.load_state_dict(saved)
    assert all(group["fused"] for group in resumed.param_groups)
    steps(loop_params, loop, grads[3:])
    steps(resumed_params, resumed, grads[3:])
    for a, b in zip(resumed_params, loop_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert resumed.state[resumed_params[0]]["step"].item() == 6


def test_generator_gradients_do_not_need_the_discriminator_weights_in_the_graph():
    torch.manual_seed(0)
    generator = build_model("speech2gesture", **TINY_S2G)
    discriminator = build_model("motion_discriminator", channels=8)
    audio, pose = torch.randn(4, 64, 64), torch.randn(4, 64, 96)
    grads = []
    for frozen in (False, True):
        discriminator.requires_grad_(not frozen)
        generator.zero_grad(set_to_none=True)
        discriminator.zero_grad(set_to_none=True)
        pred = generator(audio).poses
        loss = reconstruction_l1(pred, pose) + generator_l1_gan(discriminator(velocity(pred)))
        loss.backward()
        grads.append([p.grad.clone() for p in generator.parameters()])
        assert all((p.grad is None) == frozen for p in discriminator.parameters())
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class TurnRecorder(L.Callback):
    """For each batch: whether it was a D turn, and whether D's gradients and ``requires_grad`` flags came
    through a G turn unchanged."""

    def __init__(self) -> None:
        self.turns: list[tuple[bool, bool]] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.before = [None if p.grad is None else p.grad.clone() for p in module.discriminator.parameters()]

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        d_turn = module.discriminator_turn(trainer.global_step - 1)
        after = [p.grad for p in module.discriminator.parameters()]
        unchanged = all(
            (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
            for a, b in zip(self.before, after, strict=True)
        )
        assert all(p.requires_grad for p in module.discriminator.parameters())
        self.turns.append((d_turn, unchanged))


@pytest.mark.usefixtures("one_thread")
def test_a_generator_turn_leaves_the_discriminator_gradients_alone(synth_root: Path, tmp_path: Path):
    datamodule = PatsDataModule(
        str(synth_root), ["ava", "ben"], batch_size=4, window_hop=16, cache_dir=str(tmp_path)
    )
    module = AdversarialRecipe(generator_config=TINY_S2G, discriminator_config={"channels": 8})
    recorder = TurnRecorder()
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=8,
        callbacks=[recorder],
        **QUIET_TRAINER,
    )
    trainer.fit(module, datamodule=datamodule)
    assert {d for d, _ in recorder.turns} == {True, False}  # both turns were taken
    assert all(unchanged for d, unchanged in recorder.turns if not d)
    assert not all(unchanged for d, unchanged in recorder.turns if d)  # D turns do update them
