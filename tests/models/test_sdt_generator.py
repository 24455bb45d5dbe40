"""SDT's generator and discriminator against the reference's sizes and quirks (notes sdt §3)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from cospeech.errors import ConfigError
from cospeech.models import build_model
from cospeech.models.layers import ConvNormRelu, FrameNorm


def test_sdt_bp_generator_has_the_reference_parameter_count() -> None:
    generator = build_model("sdt", pose_dim=242, train_windows=100)
    # netG of voice2pose_sdt_bp.yaml: 7,075,122; the bank (clips_code in the reference) is counted apart
    assert generator.parameter_count() == 7_075_122
    assert sum(p.numel() for p in generator.parameters()) == 7_075_122 + 100 * 32
    assert set(generator.inputs) == {"audio", "template"}


def test_the_s2g_baseline_has_no_template_input_and_batchnorm() -> None:
    generator = build_model("sdt", template_dim=0, norm="batch")
    assert set(generator.inputs) == {"audio"}
    norms = {type(m) for m in generator.modules() if isinstance(m, ConvNormRelu) for m in [m.norm]}
    assert norms == {nn.BatchNorm1d, nn.BatchNorm2d}
    assert generator(torch.randn(3, 64, 560)).poses.shape == (3, 64, 242)


def test_frame_norm_is_instance_norm_of_the_transpose() -> None:
    x = torch.randn(4, 16, 40)  # (B, C, T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InstanceNorm1d(16) on a (B, 40, 16) input warns about the size
        expected = nn.InstanceNorm1d(16)(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(FrameNorm()(x), expected)
    # each frame: zero mean over the channels; a conv without bias
    block = ConvNormRelu(8, 16, norm="frame", bias=False, leaky=False)
    assert block.conv.bias is None and isinstance(block.act, nn.ReLU)


def test_generator_is_per_frame_and_template_conditioned() -> None:
    torch.manual_seed(0)
    generator = build_model("sdt", channels=32).eval()  # instance norm: no batch statistics
    audio = torch.randn(2, 64, 560)
    a, b = torch.randn(2, 32), torch.randn(2, 32)
    first = generator(audio, a).poses
    assert first.shape == (2, 64, 242)
    torch.testing.assert_close(generator(audio[:1], a[:1]).poses, first[:1])  # rows independent
    assert not torch.allclose(generator(audio, b).poses, first)  # the template changes the poses


def test_sampled_templates_are_seeded_rows_of_random_training_windows() -> None:
    generator = build_model("sdt", channels=32, train_windows=50)
    with torch.no_grad():
        generator.templates.copy_(torch.arange(50.0)[:, None].expand(50, 32))  # row i is all i

    def draw(seed: int, batch: int = 3, **source: str) -> torch.Tensor:
        rng = torch.Generator().manual_seed(seed)
        if not source:  # the default, as evaluation and inference draw it
            return generator.sample_inputs(("template",), batch, generator=rng)["template"]
        return generator.draw_templates(batch, generator=rng, **source)

    first = draw(4)
    assert first.shape == (3, 32) and torch.equal(draw(4), first) and not first.requires_grad
    windows = first[:, 0].long()
    torch.testing.assert_close(first, generator.templates[windows].detach())  # each one bank row
    # the reference's draw: torch.randint over the N training windows (notes sdt §3.5)
    assert torch.equal(windows, torch.randint(50, (3,), generator=torch.Generator().manual_seed(4)))
    assert len({int(draw(s, 1)[0, 0]) for s in range(8)}) > 1  # other seeds, other windows
    prior = draw(4, source="prior")  # N(0, I), not a bank row
    assert torch.equal(prior, torch.randn(3, 32, generator=torch.Generator().manual_seed(4)))
    with pytest.raises(ConfigError, match=r"template source 'normal' is not one of 'bank', 'prior'"):
        draw(4, source="normal")


def test_prior_template_source_and_an_empty_bank_draw_from_n01() -> None:
    noise = torch.randn(2, 32, generator=torch.Generator().manual_seed(1))
    for generator in (
        build_model("sdt", channels=32, train_windows=5, template_source="prior"),
        build_model("sdt", channels=32),  # built without data: no bank rows to draw from
    ):
        drawn = generator.sample_inputs(("template",), 2, generator=torch.Generator().manual_seed(1))
        assert torch.equal(drawn["template"], noise)
    with pytest.raises(ConfigError, match=r"template_source='normal' is not one of 'bank', 'prior'"):
        build_model("sdt", template_source="normal")


def test_the_bank_is_indexed() -> None:
    generator = build_model("sdt", channels=32, train_windows=5)
    with torch.no_grad():
        generator.templates[2] = 7.0
    assert torch.equal(generator.template_from(2), torch.full((1, 32), 7.0))
    with pytest.raises(ConfigError, match=r"template window 5 is outside the bank of 5 training windows"):
        generator.template_from(5)


def test_config_problems_are_named() -> None:
    with pytest.raises(ConfigError, match=r"audio_dim=64 is not a multiple of audio_subframes=7"):
        build_model("sdt", audio_dim=64)


def test_pose_sequence_discriminator_layout() -> None:
    discriminator = build_model("pose_sequence_discriminator")
    assert discriminator(torch.randn(2, 64, 242)).shape == (2, 16)
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (242, 256, 4, 2),
        (256, 512, 4, 2),
        (512, 1024, 3, 1),
        (1024, 1, 3, 1),
    ]
    assert [c.bias is not None for c in convs] == [False, False, False, True]
