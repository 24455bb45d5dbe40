"""Speech2Gesture generator and motion discriminator: reference sizes and FLOPs, any length, learning."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cospeech.audio import MEL400_BINS
from cospeech.data.poses import velocity
from cospeech.models import build_model, run_generator
from cospeech.models.layers import AudioEncoder, UNet1D, fold_batch_norms, planes
from cospeech.models.speech2gesture import MotionDiscriminator, Speech2GestureGenerator
from cospeech.skeletons import PATS48

POSE_DIM = 2 * PATS48.num_joints
WINDOW = 64  # the reference training window, 4.3 s at 15 fps


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def generator() -> Speech2GestureGenerator:
    torch.manual_seed(0)
    return Speech2GestureGenerator().eval()


def test_generator_parameters_match_reference(generator: Speech2GestureGenerator) -> None:
    # Reference notes §2.2 and §4, for 48 joints: the parts and the total.
    assert _count(generator.audio_encoder) == 3_912_384
    assert _count(generator.unet) == 2_696_192
    assert _count(generator.decoder) == 814_176
    assert _count(generator) == 7_422_752


def test_discriminator_parameters_match_reference() -> None:
    assert _count(MotionDiscriminator()) == 190_657


def test_generator_flops_match_reference(generator: Speech2GestureGenerator) -> None:
    # FlopCounterMode counts 2 FLOPs per multiply-add; the reference's 1.196 G per window uses the same
    # convention (0.598 G multiply-adds), and every FLOP is a convolution. Training runs the full network;
    # in eval mode the audio encoder skips the mel columns the output never reads (bins 62 and 63 of 64
    # at its input, more in every later layer; the last layer computes its column 0 alone).
    generator.train()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        generator(torch.zeros(2, WINDOW, MEL400_BINS))
    assert counter.get_total_flops() / 2 == pytest.approx(1.196e9, rel=1e-3)
    generator.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        generator(torch.zeros(1, WINDOW, MEL400_BINS))
    assert counter.get_total_flops() == pytest.approx(0.9393e9, rel=1e-3)  # 21 % less


@pytest.mark.parametrize("frames", [64, 900, 37, 1])
def test_generator_accepts_any_length(generator: Speech2GestureGenerator, frames: int) -> None:
    with torch.no_grad():
        pose = generator(torch.randn(2, frames, MEL400_BINS)).poses
    assert pose.shape == (2, frames, POSE_DIM)
    assert torch.isfinite(pose).all()


def test_odd_length_is_padded_by_repeating_the_last_frame(generator: Speech2GestureGenerator) -> None:
    # A 37-frame input is padded to 40 by repeating its last frame: same result as padding it ourselves.
    audio = torch.randn(1, 37, MEL400_BINS)
    padded = torch.cat((audio, audio[:, -1:].expand(1, 3, MEL400_BINS)), dim=1)
    with torch.no_grad():
        torch.testing.assert_close(generator(audio).poses, generator(padded).poses[:, :37])


def test_declares_audio_only(generator: Speech2GestureGenerator) -> None:
    assert list(generator.inputs) == ["audio"]
    output = generator(**generator.example_inputs(batch_size=2, frames=WINDOW))
    assert output.poses.shape == (2, WINDOW, POSE_DIM) and output.losses == {}


def test_audio_encoder_keeps_mel_column_zero_like_nearest_interpolation() -> None:
    # The reference resizes (B, C, T/8, W) to (T, 1) with nearest interpolation; ours slices and repeats.
    torch.manual_seed(0)
    encoder = AudioEncoder(16).eval()
    audio = torch.randn(2, WINDOW, MEL400_BINS)
    with torch.no_grad():
        grid = encoder.convs(audio.unsqueeze(1))
        expected = F.interpolate(grid, size=(WINDOW, 1), mode="nearest").squeeze(-1)
        torch.testing.assert_close(encoder(audio), expected)


def test_blocks_reject_lengths_they_cannot_take() -> None:
    with pytest.raises(ValueError, match="divisible by 8, got T=12"):
        AudioEncoder(16)(torch.randn(1, 12, MEL400_BINS))
    with pytest.raises(ValueError, match="needs T ≥ 32, got T=16"):
        UNet1D(8, 8, depth=5)(torch.randn(1, 8, 16))


def test_unet_takes_lengths_that_are_not_powers_of_two() -> None:
    assert UNet1D(8, 8, depth=3)(torch.randn(2, 8, 37)).shape == (2, 8, 37)


def test_discriminator_scores_patches_of_velocity() -> None:
    discriminator = MotionDiscriminator()
    scores = discriminator(velocity(torch.randn(3, WINDOW, POSE_DIM)))
    assert scores.shape == (3, 12)
    with pytest.raises(ValueError, match="needs T ≥ 20 frames, got T=19"):
        discriminator(torch.randn(3, 19, POSE_DIM))


@pytest.mark.usefixtures("one_thread")
def test_few_adam_steps_lower_the_l1_loss() -> None:
    torch.manual_seed(0)
    model = build_model("speech2gesture", channels=16, unet_depth=3, decoder_layers=1)
    audio, pose = torch.randn(4, WINDOW, MEL400_BINS), torch.randn(4, WINDOW, POSE_DIM)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = F.l1_loss(model(audio).poses, pose)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_audio_encoder_column_zero_reach_of_the_reference_layers():
    # Walking back from column 0 of the (3, 8) conv with padding 3: 5 columns, then 6, 13, 14, 29, 30, 61, 62.
    assert AudioEncoder().column_zero_reach == (62, 61, 30, 29, 14, 13, 6, 5)
    assert AudioEncoder(16, time_stride=2).column_zero_reach == (62, 61, 30, 29, 14, 13, 6, 5)


@pytest.mark.parametrize(("mel_bins", "time_stride"), [(64, 8), (128, 8), (40, 2), (16, 8)])
def test_eval_shortcut_of_the_audio_encoder_changes_nothing(mel_bins: int, time_stride: int) -> None:
    # The shortcut (first layer as a matrix product, every layer cut to the columns column 0 reads) against
    # the full-width stack on inputs wider and narrower than its reach.
    torch.manual_seed(0)
    encoder = AudioEncoder(32, time_stride=time_stride).eval()
    for module in encoder.modules():  # non-trivial statistics and affine parameters, as after training
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            nn.init.normal_(module.weight, 1.0, 0.2)
            nn.init.normal_(module.bias, 0.0, 0.2)
    audio = torch.randn(3, 64, mel_bins)
    with torch.no_grad():
        full = encoder.convs(audio.unsqueeze(1))[..., 0]
        torch.testing.assert_close(encoder._column_zero(audio), full, rtol=1e-5, atol=1e-5)
        # and with the norms folded into the convs, as the inference pipeline runs it
        folded = fold_batch_norms(copy.deepcopy(encoder))
        torch.testing.assert_close(folded._column_zero(audio), full, rtol=1e-5, atol=1e-5)
        # and with the norms as SyncBatchNorm, what the Trainer's sync_batchnorm makes of them under DDP
        synced = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(encoder)).eval()
        torch.testing.assert_close(synced._column_zero(audio), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["speech2gesture", "mix_stage"])
def test_folded_batch_norms_give_the_same_poses(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for module in norms:  # non-trivial statistics and affine parameters, as after training
        module.running_mean.normal_()
        module.running_var.uniform_(0.5, 2.0)
        nn.init.normal_(module.weight, 1.0, 0.2)
        nn.init.normal_(module.bias, 0.0, 0.2)
    inputs = model.example_inputs(batch_size=2, frames=64)
    with torch.no_grad():
        expected = run_generator(model, inputs, training=False).poses
        folded = fold_batch_norms(copy.deepcopy(model))
        got = run_generator(folded, inputs, training=False).poses
    left = [m for m in folded.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) > 10 and len(left) < len(norms)  # the ConvNormRelu ones are gone
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms(build_model(name))


def test_audio_encoder_runs_channels_last_from_its_input_view_like_the_nchw_path():
    torch.manual_seed(0)
    encoder = AudioEncoder(16)  # training mode: batch statistics, the full mel width
    audio = torch.randn(3, WINDOW, MEL400_BINS)
    image = planes(audio)
    assert image.shape == (3, 1, WINDOW, MEL400_BINS) and image.data_ptr() == audio.data_ptr()
    first = encoder.convs[0].conv(image)
    assert first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous()
    fast, plain = encoder.convs(image), encoder.convs(audio.unsqueeze(1).contiguous())
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    fast_grads = torch.autograd.grad(fast.square().sum(), list(encoder.parameters()))
    plain_grads = torch.autograd.grad(plain.square().sum(), list(encoder.parameters()))
    # summed in another order; the conv biases' true gradients are 0 (BatchNorm follows), so their float
    # noise is measured against the gradient as a whole
    fast_all, plain_all = (torch.cat([g.flatten() for g in grads]) for grads in (fast_grads, plain_grads))
    assert (fast_all - plain_all).norm() <= 1e-5 * plain_all.norm()
