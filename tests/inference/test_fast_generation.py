"""The device path of ``GestureGenerator.generate`` (torch features, windows as views, one batched forward
pass per ``batch_size`` windows, cross-fade by ``index_add_``, the audio encoder's eval shortcut) gives the
poses of the reference path: NumPy features (the training cache's), one window at a time through the
full-width audio encoder, cross-faded on the host."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from inference_testdata import synthetic_speech
from tiny_runs import TINY_MIX_STAGE

from cospeech.audio import SAMPLE_RATE
from cospeech.features import LogMel400, get_feature
from cospeech.inference import GestureGenerator, pose_clock_features, pose_clock_features_torch
from cospeech.inference.export import load_pretrained
from cospeech.inference.pipeline import crossfade_weights, window_starts
from cospeech.models import run_generator
from cospeech.models.layers import AudioEncoder, ConvNormRelu


class TwoSubframes(LogMel400):
    key = "audio/toy_two_subframes"
    subframes = 2


@pytest.fixture(scope="module")
def mix_stage_run(train_tiny):
    """A tiny Mix-StAGE run: a style input, and the same audio encoder as speech2gesture."""
    return train_tiny(
        generator="mix_stage", generator_config=TINY_MIX_STAGE, discriminator_config={"channels": 8}
    )


def full_width_encoders(pipe: GestureGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``pipe``'s audio encoders run every mel column in eval mode too (the layers as training runs
    them, then column 0), instead of their eval shortcut."""
    for module in pipe.generator.modules():
        if isinstance(module, AudioEncoder):
            monkeypatch.setattr(
                module, "_column_zero", lambda audio, m=module: m.convs(audio.unsqueeze(1))[..., 0]
            )


def reference_poses(pipe: GestureGenerator, speech: np.ndarray, speaker: str) -> np.ndarray:
    """Poses (T, J, 2) the way generation worked before the device path: NumPy features, then each window
    alone through the generator and into a host array with its cross-fade weight."""
    style = pipe.speakers.index(speaker)
    raw = pose_clock_features(speech, feature=pipe.feature, level=pipe.metadata.data.audio_level)
    z = pipe.normalizer.normalize("audio", raw[None], np.array([style]))[0]
    T, W, overlap = len(z), pipe.window_frames, pipe.overlap_frames
    starts = window_starts(T, window=W, overlap=overlap)
    padded = np.concatenate((z, np.repeat(z[-1:], starts[-1] + W - T, axis=0)))
    fade_in, fade_out = crossfade_weights(W, overlap)
    out = np.zeros((len(padded), pipe.generator_pose_dim), dtype=np.float32)
    with torch.inference_mode():
        for i, start in enumerate(starts):
            inputs = {
                "audio": torch.from_numpy(padded[None, start : start + W]),
                "style": torch.tensor([style]),
            }
            y = run_generator(pipe.generator, inputs, training=False).poses[0].numpy()
            weight = (fade_in if i > 0 else 1.0) * (fade_out if i < len(starts) - 1 else 1.0)
            out[start : start + W] += np.asarray(weight, dtype=np.float32)[:, None] * y
    return pipe.representation.to_pixels(out[None, :T], style)[0]


@pytest.mark.parametrize("level", ["none", "utterance"])
@pytest.mark.parametrize(
    "feature", [get_feature("audio/log_mel_400"), get_feature("audio/log_mel_512"), TwoSubframes()]
)
def test_device_features_equal_the_numpy_features(speech_30s, feature, level):
    speech = speech_30s.copy()
    speech[SAMPLE_RATE : 2 * SAMPLE_RATE] = 0.0  # digital silence: the floor on both paths
    expected = pose_clock_features(speech, feature=feature, level=level, block_frames=100)
    got = pose_clock_features_torch(torch.from_numpy(speech), feature=feature, level=level, block_frames=70)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_device_features_are_computed_in_one_part_per_thread(speech_30s, monkeypatch):
    # 30 s = 2997 frames of log_mel_400: at three threads three parts side by side, each in blocks of 400
    feature = get_feature("audio/log_mel_400")
    calls = []
    compute = type(feature).compute_frames

    def recorded(self, waveform, start, stop):
        calls.append((threading.get_ident(), start, stop, torch.get_num_threads()))
        return compute(self, waveform, start, stop)

    monkeypatch.setattr(type(feature), "compute_frames", recorded)
    speech = torch.from_numpy(speech_30s)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = pose_clock_features_torch(speech, feature=feature, level="utterance", block_frames=60)
        calls.clear()
        torch.set_num_threads(3)
        split = pose_clock_features_torch(speech, feature=feature, level="utterance", block_frames=60)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    assert len({c[0] for c in calls}) == 3 and all(c[3] == 1 for c in calls)
    spans = sorted((start, stop) for _, start, stop, _ in calls)  # blocks of ≤ 400 frames, no gap
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert all(stop - start <= 400 for start, stop in spans) and len(spans) >= 9
    torch.testing.assert_close(split, one, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["speech2gesture", "mix_stage"])
@pytest.mark.parametrize(
    ("window", "overlap", "batch_size"), [(None, 16, 32), (None, 16, 3), (40, 0, 1), (256, 32, 2)]
)
def test_generate_gives_the_poses_of_the_reference_path(
    request, monkeypatch, one_thread, model, window, overlap, batch_size
):
    # 21.3 s = 320 frames: seven 64-frame windows in batches of 3, 3 and 1 (a partial last batch), eight
    # 40-frame ones, two of 256 frames; mix_stage takes a style input besides the audio.
    run = request.getfixturevalue("tiny_run" if model == "speech2gesture" else "mix_stage_run")
    settings = {"window_frames": window, "overlap_frames": overlap, "batch_size": batch_size}
    pipe = GestureGenerator.from_pretrained(run, **settings)
    reference = GestureGenerator.from_pretrained(run, **settings)
    full_width_encoders(reference, monkeypatch)
    speech = synthetic_speech(21.3, seed=4)
    expected = reference_poses(reference, speech, "ben")
    got = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben").poses
    assert got.shape == expected.shape
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * scale)


@pytest.mark.parametrize("model", ["speech2gesture", "mix_stage"])
def test_a_batch_is_split_across_torch_threads_with_the_poses_of_one_thread(request, model):
    # With n torch threads on the CPU each batch of windows runs as up to n parts side by side, one thread
    # each; 21.3 s at 64/16 is seven windows: parts of 2, 2 and 3 at three threads.
    run = request.getfixturevalue("tiny_run" if model == "speech2gesture" else "mix_stage_run")
    pipe = GestureGenerator.from_pretrained(run, batch_size=7)
    speech = synthetic_speech(21.3, seed=4)
    calls = []

    def record(module, args, kwargs):
        calls.append((threading.get_ident(), len(kwargs["audio"]), torch.get_num_threads()))

    pipe.generator.register_forward_pre_hook(record, with_kwargs=True)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben").poses
        assert [c[1] for c in calls] == [7]
        calls.clear()
        torch.set_num_threads(3)
        split = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben").poses
        assert sorted(c[1] for c in calls) == [2, 2, 3]
        assert len({c[0] for c in calls}) == 3 and all(c[2] == 1 for c in calls)
        assert threading.get_ident() in {c[0] for c in calls}  # the caller runs one part itself
        assert torch.get_num_threads() == 3  # restored
        # two callers at once (the demo serves requests from worker threads): same poses, setting restored
        with ThreadPoolExecutor(2) as callers:
            both = list(
                callers.map(
                    lambda _: pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben").poses, [0, 1]
                )
            )
        assert torch.get_num_threads() == 3

        def fail_in_a_helper(module, args, kwargs):
            if threading.get_ident() != caller:
                raise RuntimeError("out of memory in a helper thread")

        caller = threading.get_ident()
        pipe.generator.register_forward_pre_hook(fail_in_a_helper, with_kwargs=True)
        with pytest.raises(RuntimeError, match="helper thread"):  # raised to the caller, setting restored
            pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben")
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    scale = np.abs(one).max()
    for poses in (split, *both):
        np.testing.assert_allclose(poses, one, rtol=0, atol=1e-5 * scale)


def test_from_pretrained_folds_the_norms_and_a_given_generator_is_used_as_given(tiny_run):
    pretrained = load_pretrained(tiny_run)
    generator = pretrained.build_generator().train()
    pipe = GestureGenerator(generator, pretrained.metadata)
    assert pipe.generator is generator and not generator.training
    blocks = [m for m in generator.modules() if isinstance(m, ConvNormRelu)]
    assert blocks and all(isinstance(b.norm, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d) for b in blocks)
    loaded = GestureGenerator.from_pretrained(tiny_run).generator
    folded = [m for m in loaded.modules() if isinstance(m, ConvNormRelu)]
    assert len(folded) == len(blocks) and all(isinstance(b.norm, torch.nn.Identity) for b in folded)
    speech = synthetic_speech(6.0, seed=1)
    poses = [
        p.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben").poses
        for p in (pipe, GestureGenerator.from_pretrained(tiny_run))
    ]
    np.testing.assert_allclose(poses[1], poses[0], rtol=0, atol=1e-5 * np.abs(poses[0]).max())
