"""GestureGenerator end to end on a tiny trained run: any audio file, any length, no seams, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import soundfile
import soxr
import torch
from inference_testdata import synthetic_speech
from torch import nn

from cospeech.audio import SAMPLE_RATE, log_mel_400
from cospeech.data.windows import align_to_pose_clock, audio_clock
from cospeech.errors import AudioError, CheckpointError, ConfigError
from cospeech.inference import GestureGenerator, Word, pose_clock_features
from cospeech.inference.pipeline import window_starts
from cospeech.models import STANDARD_INPUTS, Generator, GeneratorOutput
from cospeech.skeletons import PATS48


@pytest.mark.parametrize(
    ("suffix", "subtype", "rate", "channels"),
    [
        (".wav", "PCM_16", 16_000, 1),
        (".wav", "FLOAT", 22_050, 1),  # float32 WAV, like SDT's demo_audio.wav
        (".flac", "PCM_16", 44_100, 2),
        (".mp3", None, 32_000, 1),
    ],
)
def test_any_format_rate_and_channel_count_gives_15_poses_per_second(
    pipe, tmp_path, suffix, subtype, rate, channels
):
    speech = soxr.resample(synthetic_speech(7.37, seed=1), SAMPLE_RATE, rate)
    samples = np.stack([speech, 0.5 * speech], axis=1) if channels == 2 else speech
    path = tmp_path / f"speech{suffix}"
    soundfile.write(path, samples, rate, subtype=subtype)
    gestures = pipe.generate(path, speaker="ava")
    seconds = soundfile.info(path).frames / rate
    # 7.37 s rounds to 111 frames, but the log-mel frames end before the middle of the last (pose_frames)
    assert gestures.poses.shape == (round(seconds * 15) - 1, PATS48.num_joints, 2) == (110, 48, 2)
    assert gestures.fps == 15 and gestures.skeleton == "pats48" and gestures.speaker == "ava"
    assert gestures.joint_names == PATS48.joint_names
    assert gestures.sample_rate == rate and gestures.audio.shape[0] == channels  # the speech as given
    assert abs(gestures.duration - seconds) < 1e-3
    assert gestures.poses.dtype == np.float32 and np.isfinite(gestures.poses).all()


def test_arrays_are_resampled_and_mixed_like_files(pipe):
    speech = synthetic_speech(4.0, seed=2)
    stereo_48k = np.repeat(soxr.resample(speech, SAMPLE_RATE, 48_000)[:, None], 2, axis=1)
    from_48k = pipe.generate(stereo_48k, sample_rate=48_000, speaker="ben")
    from_16k = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben")
    assert from_48k.poses.shape == from_16k.poses.shape == (60, 48, 2)
    # the resampled speech differs by soxr's filter only; poses follow it closely
    assert np.abs(from_48k.poses - from_16k.poses).mean() < 0.05 * np.abs(from_16k.poses).mean()


def test_blockwise_features_equal_the_whole_file_alignment(speech_30s):
    whole = log_mel_400(speech_30s)
    T = round(len(speech_30s) * 15 / SAMPLE_RATE)
    rate, offset = audio_clock("audio/log_mel_400", len(whole), T)
    expected = align_to_pose_clock(whole, T, rate=rate, offset=offset)
    for block in (7, 100, 10_000):
        np.testing.assert_allclose(pose_clock_features(speech_30s, block_frames=block), expected, atol=1e-5)


def _seam_ratio(poses: np.ndarray, overlap: int, window: int = 64) -> float:
    """Mean frame-to-frame motion over the hand-over regions (the frame before a window starts to the end
    of the overlap) divided by the mean motion everywhere else."""
    motion = np.linalg.norm(np.diff(poses, axis=0), axis=-1).mean(axis=-1)  # (T - 1,): frame t → t + 1
    seam = np.zeros(len(motion), dtype=bool)
    for start in window_starts(len(poses), window=window, overlap=overlap)[1:]:
        seam[start - 1 : start + max(overlap, 1)] = True
    return float(motion[seam].mean() / motion[~seam].mean())


def test_cross_fading_leaves_no_seam_at_window_boundaries(tiny_run, pipe, speech_30s):
    faded = pipe.generate(speech_30s, sample_rate=SAMPLE_RATE, speaker="ava").poses
    hard = GestureGenerator.from_pretrained(tiny_run, overlap_frames=0)
    cut = hard.generate(speech_30s, sample_rate=SAMPLE_RATE, speaker="ava").poses
    assert len(faded) == len(cut) == 450
    # the measure has teeth: abutting windows jump (×37 on this model) where cross-faded ones do not (×0.8)
    assert _seam_ratio(cut, overlap=0) > 4.0
    assert _seam_ratio(faded, overlap=pipe.overlap_frames) < 2.0


class _Echo(Generator):
    """Outputs audio feature 0 on every pose channel: shows which input frame each output frame came from."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, audio: torch.Tensor) -> GeneratorOutput:
        return GeneratorOutput(audio[..., :1].expand(*audio.shape[:2], 2 * PATS48.num_joints) * self.gain)


@pytest.mark.parametrize("frames", [1, 40, 64, 65, 112, 113, 1000])
def test_windows_cover_every_frame_once_with_weights_summing_to_one(pipe, frames):
    echo = GestureGenerator(_Echo(), pipe.metadata, batch_size=3)
    index = np.repeat(np.arange(frames, dtype=np.float32)[:, None], 64, axis=1)
    out = echo.generate_features(index, speaker="ava")
    np.testing.assert_allclose(out, np.repeat(index[:, :1], 96, axis=1), rtol=1e-6)


def test_batching_and_longer_windows_agree(tiny_run, pipe, speech_30s):
    reference = pipe.generate(speech_30s, sample_rate=SAMPLE_RATE, speaker="ava").poses
    one_by_one = GestureGenerator.from_pretrained(tiny_run, batch_size=1)
    single = one_by_one.generate(speech_30s, sample_rate=SAMPLE_RATE, speaker="ava").poses
    np.testing.assert_allclose(single, reference, atol=1e-3)
    wide = GestureGenerator.from_pretrained(tiny_run, window_frames=256, overlap_frames=32)
    assert wide.generate(speech_30s, sample_rate=SAMPLE_RATE, speaker="ava").poses.shape == reference.shape


_MEMORY_PROBE = """
import json, sys
from pathlib import Path
import numpy as np
from cospeech.inference import GestureGenerator

status, reset = Path("/proc/self/status"), Path("/proc/self/clear_refs")

def field(name):
    line = next(x for x in status.read_text().splitlines() if x.startswith(name))
    return int(line.split()[1]) * 1024

pipe = GestureGenerator.from_pretrained(sys.argv[1])
speech = np.load(sys.argv[2])
pipe.generate(speech[:16_000], sample_rate=16_000, speaker="ava")  # imports, caches
growth = {}
for minutes in (5, 20):
    long = np.tile(speech, 2 * minutes)
    reset.write_text("5")  # the peak resident set restarts from the current one
    before = field("VmRSS")
    poses = pipe.generate(long, sample_rate=16_000, speaker="ben").poses
    del long
    growth[minutes] = field("VmHWM") - before
    assert poses.shape == (minutes * 60 * 15, 48, 2), poses.shape
print(json.dumps(growth))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak-RSS reset")
def test_long_speech_runs_in_bounded_memory(tiny_run, speech_30s, tmp_path):
    # Peak resident-set growth (counts torch's allocations, which tracemalloc does not see), measured in a
    # fresh process: in the test process, what the allocator still holds from earlier tests hides part of
    # a run's growth, and by a different amount for each run.
    np.save(tmp_path / "speech.npy", speech_30s)
    probe = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(tiny_run), str(tmp_path / "speech.npy")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    growth = {int(k): v for k, v in json.loads(probe.stdout.splitlines()[-1]).items()}
    # Beyond one float32 copy of the longer input (15 more minutes: 57.6 MB), 20 minutes may not need more
    # than 5 (measured: 96 and 152 MB). A whole-file STFT of 20 minutes alone would take 247 MB (119,998
    # frames × 257 bins × 8 B) and grow 4× from 5 minutes (617 vs 154 MB measured); blocks of 60 s keep it
    # the same for any length.
    input_copy = (20 - 5) * 60 * SAMPLE_RATE * 4
    assert growth[20] < growth[5] + input_copy + 50e6, growth
    assert growth[20] < 300e6, growth


def test_seed_is_reproducible_and_leaves_global_rng_alone(pipe):
    speech = synthetic_speech(3.0, seed=3)
    state = torch.get_rng_state()
    first = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ava", seed=5).poses
    assert torch.equal(state, torch.get_rng_state())
    again = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ava", seed=5).poses
    np.testing.assert_array_equal(first, again)
    assert pipe.to("cpu") is pipe and pipe.device == torch.device("cpu")


def test_unknown_speaker_lists_the_known_ones(pipe):
    with pytest.raises(ConfigError, match=r"unknown speaker 'zoe'; this model knows: ava, ben"):
        pipe.generate(synthetic_speech(1.0), sample_rate=SAMPLE_RATE, speaker="zoe")


def test_bad_audio_is_a_clear_error(pipe, tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF but not really a wave file")
    with pytest.raises(AudioError, match="junk.wav: "):
        pipe.generate(junk, speaker="ava")
    with pytest.raises(AudioError, match="not found"):
        pipe.generate(tmp_path / "missing.flac", speaker="ava")
    with pytest.raises(AudioError, match="too short for one pose frame"):
        pipe.generate(np.zeros(400, np.float32), sample_rate=SAMPLE_RATE, speaker="ava")
    with pytest.raises(AudioError, match="NaN"):
        pipe.generate(np.full(16_000, np.nan), sample_rate=SAMPLE_RATE, speaker="ava")
    with pytest.raises(ConfigError, match="needs sample_rate"):
        pipe.generate(np.zeros(16_000, np.float32), speaker="ava")


def test_mismatched_checkpoints_are_one_line_errors_naming_the_file(tiny_run, tmp_path):
    checkpoint = torch.load(tiny_run / "checkpoints" / "best.ckpt", weights_only=True)
    checkpoint["cospeech"]["model"]["config"]["pose_dim"] = 90
    wrong_shape = tmp_path / "wrong_shape.ckpt"
    torch.save(checkpoint, wrong_shape)
    random_bytes = tmp_path / "random.ckpt"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(4096))
    speech = tmp_path / "speech.wav"  # a user's slip: a sound file given as the checkpoint
    soundfile.write(speech, np.zeros(1600, np.float32), 16_000)
    junk_text = tmp_path / "junk.ckpt"
    junk_text.write_text("junk\n")  # the weights-only unpickler fails on it with a KeyError
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(3)}}, foreign)
    cases = [
        (wrong_shape, "weights do not fit speech2gesture .*decoder.4.weight is \\(96, 256, 1\\) in the file"),
        (random_bytes, "not a readable checkpoint"),
        (speech, "not a readable checkpoint"),
        (junk_text, "not a readable checkpoint"),
        (foreign, "not a cospeech checkpoint"),
        (tmp_path, "neither an exported model"),
    ]
    for path, message in cases:
        with pytest.raises(CheckpointError, match=message) as error:
            GestureGenerator.from_pretrained(path)
        assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


class _WordCounter(Generator):
    """A stand-in text model: outputs, per window, how many words it was given."""

    inputs: ClassVar = {"audio": STANDARD_INPUTS["audio"], "words": STANDARD_INPUTS["words"]}

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))
        self.seen: list[list[Word]] = []

    def forward(self, audio: torch.Tensor, words: list[list[Word]]) -> GeneratorOutput:
        self.seen.extend(words)
        counts = torch.tensor([float(len(w)) for w in words])
        return GeneratorOutput(
            counts[:, None, None].expand(*audio.shape[:2], 2 * PATS48.num_joints) * self.gain
        )


def test_transcripts_reach_text_models_and_are_ignored_with_a_warning_otherwise(pipe):
    speech = synthetic_speech(6.0, seed=4)
    words = [Word("hello", 0.2, 0.6), Word("there", 3.3, 3.7), Word("friend", 5.0, 5.5)]
    with pytest.warns(UserWarning, match="speech2gesture does not use text; the transcript is ignored"):
        pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ava", transcript=words)
    reader = GestureGenerator(_WordCounter(), pipe.metadata)
    reader.generate(speech, sample_rate=SAMPLE_RATE, speaker="ava", transcript=words)
    # 90 frames → windows at 0 and 48 (3.2 s … 7.47 s); times are relative to each window's start. On a
    # multi-threaded CPU the windows of a batch are split across threads, so they may come in either order.
    seen = reader.generator.seen
    assert len(seen) == 2
    assert [Word("hello", 0.2, 0.6), Word("there", 3.3, 3.7)] in seen
    assert [Word("there", 3.3 - 3.2, 3.7 - 3.2), Word("friend", 5.0 - 3.2, 5.5 - 3.2)] in seen


def test_settings_are_validated(pipe):
    with pytest.raises(ConfigError, match="overlap_frames=40 must be in"):
        GestureGenerator(pipe.generator, pipe.metadata, overlap_frames=40)
    with pytest.raises(ConfigError, match="batch_size=0"):
        GestureGenerator(pipe.generator, pipe.metadata, batch_size=0)
