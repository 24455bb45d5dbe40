"""Mix-StAGE generator: reference sizes, any length, text fusion masks, style sources and mixing, losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cospeech.errors import ConfigError
from cospeech.models import build_model, generator_inputs, model_config, run_generator
from cospeech.models.layers import AudioEncoder
from cospeech.models.mix_stage import MixStageGenerator, sinusoidal_positions

WINDOW = 64  # the reference training window, 4.3 s at 15 fps
SMALL = {  # narrow enough for milliseconds per step; the wiring, not the width, is under test
    "channels": 16,
    "unet_depth": 3,
    "fusion_heads": 2,
    "num_styles": 3,
    "max_num_speakers": 5,
    "style_dim": 4,
    "num_clusters": 3,
    "pose_dim": 6,
    "text_dim": 12,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def _small(**overrides) -> MixStageGenerator:
    torch.manual_seed(0)
    return build_model("mix_stage", **{**SMALL, **overrides})


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameters_match_reference() -> None:
    # Reference notes §2.2 (bert features in place of BERT, which the notes count separately).
    model = MixStageGenerator()
    assert _count(model.audio_encoder) == 3_912_384
    assert _count(model.fusion.text_encoder) == 196_864  # Linear 768 → 256
    assert _count(model.fusion.transformer) == 1_058_820  # 2 decoder layers, FFN width 2, final LayerNorm
    assert _count(model.concat_encoder) == 393_984
    assert _count(model.unet) == 2_696_192
    assert _count(model.pose_style_encoder) == 554_699
    assert _count(model.style_embedding) == 250
    assert _count(model.cluster_classifier) == 1_193_992
    assert _count(model.decoder) == 6_377_472
    assert _count(model.logits) == 197_376
    assert _count(model) == 16_582_033  # "16.58 M used and non-BERT"


def test_token_ids_take_a_learned_embedding_and_audio_only_has_no_text_modules() -> None:
    tokens = MixStageGenerator(model_config("mix_stage", text_dim=0, text_vocab=30522))
    assert _count(tokens.fusion.text_encoder) == 30522 * 256
    audio_only = MixStageGenerator(model_config("mix_stage", text_dim=0))
    assert not hasattr(audio_only, "fusion") and not hasattr(audio_only, "concat_encoder")
    assert list(audio_only.inputs) == ["audio", "style", "pose", "cluster"]
    assert _count(audio_only) == 16_582_033 - 196_864 - 1_058_820 - 393_984


@pytest.mark.parametrize("frames", [64, 37, 1, 100])
@pytest.mark.parametrize("text", ["features", "tokens", "none"])
def test_any_length_with_and_without_text(frames: int, text: str) -> None:
    kinds = {"features": {}, "tokens": {"text_dim": 0, "text_vocab": 50}, "none": {"text_dim": 0}}
    model = _small(**kinds[text])
    batch = model.example_inputs(batch_size=2, frames=frames)
    assert ("text" in batch) == (text != "none")
    out = run_generator(model, batch, training=True)  # pose and cluster given: every loss
    assert out.poses.shape == (2, frames, 6) and torch.isfinite(out.poses).all()
    assert set(out.losses) == {"cluster_ce", "id_in", "id_out"}
    assert out.extras["cluster_probs"].shape == (2, frames, 3)
    model.eval()
    with torch.no_grad():
        poses = run_generator(model, batch, training=False).poses  # no pose, no cluster
    assert poses.shape == (2, frames, 6) and torch.isfinite(poses).all()


def test_a_single_window_trains() -> None:
    # a trailing batch of one: the pose-style encoder's last BatchNorm would see one value per channel
    model = _small()
    out = model(**model.example_inputs(batch_size=1))
    assert out.poses.shape == (1, WINDOW, 6) and all(torch.isfinite(v) for v in out.losses.values())


def test_text_model_needs_text_and_audio_only_model_refuses_it() -> None:
    model = _small()
    batch = model.example_inputs()
    with pytest.raises(ConfigError, match="needs input 'text'"):
        generator_inputs(model, {k: v for k, v in batch.items() if k != "text"}, training=True)
    audio_only = _small(text_dim=0)
    assert "text" not in generator_inputs(audio_only, batch, training=True)  # undeclared: not passed
    with pytest.raises(ValueError, match="built without text"):
        audio_only(**batch)
    with pytest.raises(ValueError, match=r"text must be \(B, L, 12\) float features"):
        model(**{**batch, "text": torch.zeros(2, WINDOW, dtype=torch.long)})
    with pytest.raises(ValueError, match="text has 10 entries for 64 frames"):
        model(**{**batch, "text": batch["text"][:, :10]})


def test_token_duration_gives_each_frame_its_token_with_token_positions() -> None:
    fusion = _small(text_dim=0, text_vocab=50).fusion
    tokens = torch.tensor([[7, 3, 9, 0], [4, 4, 0, 0]])  # second row: two tokens, then padding
    duration = torch.tensor([[2, 1, 3, 0], [5, 1, 0, 0]])
    memory = fusion.frame_memory(tokens, duration, frames=6)
    entries = fusion.text_encoder(tokens) + sinusoidal_positions(4, 16)  # PE over token positions
    for row in range(2):
        expected = entries[row].repeat_interleave(duration[row], dim=0)
        torch.testing.assert_close(memory[row], expected)
    with pytest.raises(ValueError, match="sum to the 7 frames in every row, got sums \\[6, 6\\]"):
        fusion.frame_memory(tokens, duration, frames=7)


def test_cross_attention_lets_each_frame_see_only_its_own_word() -> None:
    # One layer: self-attention over audio, then cross-attention, so an output frame depends on the text
    # of exactly the frames whose memory it may attend to.
    fusion = _small(fusion_layers=1).fusion.eval()
    queries, text = torch.randn(1, 10, 16), torch.randn(1, 10, 12)
    changed = text.clone()
    changed[0, 4] += 1.0
    with torch.no_grad():
        before = fusion(queries, fusion.frame_memory(text, None, 10))
        after = fusion(queries, fusion.frame_memory(changed, None, 10))
    moved = (after - before).abs().amax(dim=-1)[0] > 1e-6
    assert moved.tolist() == [t == 4 for t in range(10)]

    # Tokens: changing token 1 (frames 2…4) moves exactly those frames.
    duration = torch.tensor([[2, 3, 5]])
    tokens = torch.randn(1, 3, 12)
    other = tokens.clone()
    other[0, 1] -= 1.0
    with torch.no_grad():
        before = fusion(queries, fusion.frame_memory(tokens, duration, 10))
        after = fusion(queries, fusion.frame_memory(other, duration, 10))
    moved = (after - before).abs().amax(dim=-1)[0] > 1e-6
    assert moved.tolist() == [2 <= t < 5 for t in range(10)]


def test_few_adam_steps_lower_the_loss() -> None:
    model = _small()
    batch = model.example_inputs(batch_size=4, frames=WINDOW)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(20):
        out = run_generator(model, batch, training=True)
        terms = {"l1": F.l1_loss(out.poses, batch["pose"]), **out.losses}
        optimizer.zero_grad()
        sum(terms.values()).backward()
        optimizer.step()
        history.append({name: value.item() for name, value in terms.items()})
    first, last = history[0], history[-1]
    assert sum(last.values()) < 0.8 * sum(first.values())
    assert all(last[name] < first[name] for name in first), (first, last)


def test_evaluation_takes_style_from_the_ids_not_the_pose() -> None:
    model = _small().eval()
    batch = model.example_inputs(batch_size=2)
    batch["style"] = torch.tensor([0, 0])
    other_pose = {**batch, "pose": torch.randn_like(batch["pose"]) * 3}
    other_style = {**batch, "style": torch.tensor([2, 1])}
    with torch.no_grad():
        first = run_generator(model, batch, training=False).poses
        assert torch.equal(run_generator(model, other_pose, training=False).poses, first)
        assert not torch.allclose(run_generator(model, other_style, training=False).poses, first)
        without_pose = {k: v for k, v in batch.items() if k not in ("pose", "cluster")}
        assert torch.equal(model(**without_pose).poses, first)  # forward itself: no pose, the ids


def test_train_style_pose_argmax_embeds_the_encoders_argmax() -> None:
    argmax = _small().eval()
    given = _small(train_style="given").eval()
    given.load_state_dict(argmax.state_dict())
    batch = argmax.example_inputs(batch_size=4)
    with torch.no_grad():
        out = argmax(**batch)
        predicted = out.extras["style_logits"].argmax(dim=-1)
        wrong = (predicted + 1) % 5  # the given ids do not matter with pose_argmax
        torch.testing.assert_close(argmax(**{**batch, "style": wrong}).poses, out.poses, rtol=0, atol=0)
        torch.testing.assert_close(given(**{**batch, "style": predicted}).poses, out.poses)
        # with `given`, the ids are used even when the pose is there
        assert not torch.allclose(given(**{**batch, "style": wrong}).poses, out.poses)


def test_style_mixing_interpolates_embeddings() -> None:
    model = _small(text_dim=0).eval()
    batch = {"audio": torch.randn(2, WINDOW, 64), "style": torch.tensor([1, 2])}
    one_hot = F.one_hot(batch["style"], 3).float()
    half = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    with torch.no_grad():
        plain = model(**batch)
        assert torch.equal(model(audio=batch["audio"], style=one_hot).poses, plain.poses)
        mixed = model(audio=batch["audio"], style=half)
    rows = model.style_embedding.weight.detach()
    torch.testing.assert_close(
        mixed.extras["style"], torch.stack(((rows[0] + rows[1]) / 2, (rows[1] + rows[2]) / 2))
    )
    assert not torch.allclose(mixed.poses, plain.poses)
    with pytest.raises(ValueError, match="sum to 1"):
        model(audio=batch["audio"], style=half * 2)
    with pytest.raises(ValueError, match=r"style ids must be in \[0, 5\)"):
        model(audio=batch["audio"], style=torch.tensor([0, 5]))


def test_id_out_trains_the_generator_not_the_pose_style_encoder() -> None:
    model = _small()
    out = model(**model.example_inputs())
    out.losses["id_out"].backward(retain_graph=True)
    encoder = list(model.pose_style_encoder.parameters())
    assert all(p.grad is None for p in encoder)
    assert model.logits.weight.grad is not None and model.logits.weight.grad.abs().sum() > 0
    out.losses["id_in"].backward()
    assert all(p.grad is not None for p in encoder)


def test_losses_are_the_weighted_cross_entropies() -> None:
    model = _small(lambda_id=0.5, train_style="given").eval()
    batch = model.example_inputs(batch_size=3)
    with torch.no_grad():
        out = model(**batch)
        probs = out.extras["cluster_probs"]  # (B, T, K)
        expected = -probs.gather(-1, batch["cluster"][..., None]).log().mean()
        torch.testing.assert_close(out.losses["cluster_ce"], expected)
        logits = out.extras["style_logits"]
        torch.testing.assert_close(out.losses["id_in"], 0.5 * F.cross_entropy(logits, batch["style"]))
        id_out = 0.5 * F.cross_entropy(model.pose_style_encoder(out.poses), batch["style"])
        torch.testing.assert_close(out.losses["id_out"], id_out)
        without_labels = model(**{k: v for k, v in batch.items() if k != "cluster"})
    assert "cluster_ce" not in without_labels.losses
    with pytest.raises(ValueError, match=r"cluster labels must be in \[0, 3\)"):
        model(**{**batch, "cluster": batch["cluster"] + 3})


def test_mixture_is_the_probability_weighted_sum_of_the_grouped_generators() -> None:
    model = _small(text_dim=0).eval()
    batch = {"audio": torch.randn(2, WINDOW, 64), "style": torch.tensor([0, 1])}
    with torch.no_grad():
        out = model(**batch)
        # generator k alone: the group-k slice of the grouped decoder, run as a plain convolution stack
        x = model.unet(model.audio_encoder(batch["audio"]))
        h = torch.cat((x, out.extras["style"][:, :, None].expand(-1, -1, WINDOW)), dim=1)
        k = 2
        for block in model.decoder:
            conv, norm = block.conv, block.norm
            rows = slice(k * 16, (k + 1) * 16)  # generator k's 16 channels
            h = F.conv1d(h, conv.weight[rows], conv.bias[rows], padding=1)
            mean, var = norm.running_mean[rows], norm.running_var[rows]
            h = F.leaky_relu(
                F.batch_norm(h, mean, var, norm.weight[rows], norm.bias[rows], eps=norm.eps), 0.2
            )
        rows = slice(k * 6, (k + 1) * 6)
        pose_k = F.conv1d(h, model.logits.weight[rows], model.logits.bias[rows]).transpose(1, 2)
    one_hot = torch.zeros(3)
    one_hot[k] = 1.0
    # forcing the classifier's probabilities to one-hot k returns generator k's poses
    model.cluster_classifier[-1].weight.data.zero_()
    model.cluster_classifier[-1].bias.data.copy_(one_hot * 1e4)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).poses, pose_k, rtol=1e-5, atol=1e-5)


def test_finer_audio_time_stride_keeps_more_distinct_steps() -> None:
    torch.manual_seed(0)
    audio = torch.randn(1, WINDOW, 64)
    for stride in (8, 2, 1):
        with torch.no_grad():
            features = AudioEncoder(16, time_stride=stride).eval()(audio)  # (1, C, T)
        assert features.shape == (1, 16, WINDOW)
        assert torch.unique(features[0, 0]).numel() == WINDOW // stride
    model = _small(audio_time_stride=1).eval()
    with torch.no_grad():
        assert model(**model.example_inputs(frames=37)).poses.shape == (2, 37, 6)


def test_invalid_configs_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        model_config("mix_stage", text_vocab=30522, num_styles=30, channels=20, lambda_id=-1.0)
    message = str(info.value)
    assert "text is features (text_dim=768) or tokens (text_vocab=30522), not both" in message
    assert "max_num_speakers (25) must be ≥ num_styles (30)" in message
    assert "channels (20) must be divisible by fusion_heads (8)" in message
    assert "lambda_id must be ≥ 0, got -1.0" in message
    with pytest.raises(ConfigError, match="audio_time_stride=3 is not one of 1, 2, 4, 8"):
        model_config("mix_stage", audio_time_stride=3)


@pytest.mark.parametrize(("frames", "padded"), [(64, 64), (37, 40)])
def test_latent_split_at_the_last_decoder_block_composes_to_the_forward(frames: int, padded: int) -> None:
    # DiffGAN's layer l (notes cdiffgan §6.2): z_{l-1} → decoder[-1] → logits + soft mixture
    model = _small().eval()
    batch = model.example_inputs(batch_size=3, frames=frames)
    with torch.no_grad():
        out = model(**batch)
        z_prev, context = model.features_before_shift(**batch)
        z = model.shift_layer(z_prev)
        poses = model.poses_after_shift(z, context)
        whole = model.output_after_shift(z, context)
    assert model.shift_layer is model.decoder[-1]
    assert z_prev.shape == z.shape == (3, 16 * 3, padded)  # (B, C·K, T'): T padded to a multiple of 8
    assert torch.equal(poses, out.poses) and torch.equal(whole.poses, out.poses)
    assert whole.losses.keys() == out.losses.keys()
    for name, value in out.losses.items():
        assert torch.equal(whole.losses[name], value), name
