import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cospeech.data import cache as cache_module
from cospeech.data.cache import DataWarning, IntervalDrops, load_split
from cospeech.data.datamodule import PatsDataModule
from cospeech.data.pats import (
    FEATURE_WIDTHS,
    REQUIRED_KEYS,
    IntervalRecord,
    PatsCorpus,
    write_interval,
    write_intervals_table,
)
from cospeech.data.poses import flat_to_joints, joints_to_flat, pats_to_model_joints
from cospeech.data.windows import WindowSpec, align_to_pose_clock
from cospeech.errors import ConfigError, DataError
from cospeech.skeletons import PATS_MODEL_JOINTS

KEYS = ["pose/normalize", "audio/log_mel_400"]


def test_windows_equal_direct_slices_of_the_files(synth_root, tmp_path):
    corpus = PatsCorpus(synth_root)
    spec = WindowSpec(hop=5, audio_rate_mode="pats")
    # the reference's 103 Hz reads past the end of 100 Hz audio: it drops those windows, and we say so
    with pytest.warns(DataWarning, match=r"ava/train: dropped \d+ of \d+ windows extending past the end"):
        cache = load_split(corpus, "ava", "train", KEYS, spec, tmp_path)
    assert len(cache) > 20
    for window in (0, len(cache) // 2, len(cache) - 1):
        interval = cache.interval_ids[cache.window_interval[window]]
        frame = cache.window_frame[window]
        raw = corpus.read("ava", interval, KEYS)
        expected_pose = flat_to_joints(raw["pose/normalize"][frame : frame + 64])[:, list(PATS_MODEL_JOINTS)]
        got_pose = flat_to_joints(cache.gather("pose/normalize", np.array([window]))[0])
        np.testing.assert_array_equal(got_pose, expected_pose)
        audio_start = frame // 5 * 35  # sample i: pose starts at 5i, audio at 35i (reference strides)
        expected_audio = raw["audio/log_mel_400"][audio_start : audio_start + 442 : 7]
        np.testing.assert_array_equal(
            cache.gather("audio/log_mel_400", np.array([window]))[0], expected_audio
        )


def test_second_load_reuses_the_cache_and_a_changed_file_rebuilds(synth_root, tmp_path):
    corpus = PatsCorpus(synth_root)
    first = load_split(corpus, "ben", "dev", KEYS, WindowSpec(), tmp_path)
    stamp = (first.directory / "index.json").stat().st_mtime_ns
    again = load_split(corpus, "ben", "dev", KEYS, WindowSpec(), tmp_path)
    assert again.directory == first.directory
    assert (again.directory / "index.json").stat().st_mtime_ns == stamp
    assert isinstance(again.arrays["pose/normalize"], np.memmap)
    other_spec = load_split(corpus, "ben", "dev", KEYS, WindowSpec(hop=5), tmp_path)
    assert other_spec.directory != first.directory
    interval = corpus.interval_path("ben", corpus.interval_ids("ben", "dev")[0])
    os.utime(interval, ns=(stamp, stamp + 10**9))
    assert load_split(corpus, "ben", "dev", KEYS, WindowSpec(), tmp_path).directory != first.directory


def make_interval(frames: int, nan_frames: slice | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {k: rng.standard_normal((frames, FEATURE_WIDTHS[k])).astype(np.float32) for k in REQUIRED_KEYS}
    out["audio/log_mel_400"] = rng.standard_normal((frames * 100 // 15, 64)).astype(np.float32)
    if nan_frames is not None:
        out["pose/normalize"][nan_frames] = np.nan
    return out


def test_windows_touching_missing_frames_are_skipped(tmp_path: Path):
    root = tmp_path / "pats"
    write_interval(root, "oliver", "a", make_interval(200))
    write_interval(root, "oliver", "b", make_interval(200, nan_frames=slice(70, 72)))
    write_intervals_table(root, [IntervalRecord(i, "oliver", "train", 200 / 15) for i in "ab"])
    with pytest.warns(DataWarning, match="oliver/train: skipped 13 of 56 windows touching non-finite"):
        cache = load_split(PatsCorpus(root), "oliver", "train", KEYS, WindowSpec(hop=5), tmp_path / "cache")
    per_interval = np.bincount(cache.window_interval)
    assert per_interval[0] == len(range(0, 200 - 64, 5))
    starts_b = cache.window_frame[cache.window_interval == 1]
    assert all(s + 64 <= 70 or s >= 72 for s in starts_b)
    assert per_interval[1] == sum(1 for s in range(0, 136, 5) if s + 64 <= 70 or s >= 72)
    assert not np.isnan(cache.gather("pose/normalize", np.arange(len(cache)))).any()


def test_first_key_must_be_a_pose(synth_root, tmp_path):
    with pytest.raises(DataError, match="pose key"):
        load_split(PatsCorpus(synth_root), "ava", "train", KEYS[::-1], WindowSpec(), tmp_path)


def write_split_corpus(root: Path, train: dict[str, dict[str, np.ndarray]]) -> None:
    """``train`` intervals by id for oliver, plus one clean dev and one clean test interval."""
    held_out = {"dev": make_interval(100), "test": make_interval(100)}
    for interval_id, arrays in [*train.items(), *held_out.items()]:
        write_interval(root, "oliver", interval_id, arrays, frame_rates={"audio/log_mel_400": 100.0})
    splits = {**dict.fromkeys(train, "train"), "dev": "dev", "test": "test"}
    write_intervals_table(root, [IntervalRecord(i, "oliver", s, 10.0) for i, s in splits.items()])


def test_nan_poses_and_minus_inf_audio_leave_statistics_finite_and_are_reported(tmp_path: Path):
    rng = np.random.default_rng(1)
    clean, lost, silent = (make_interval(200) for _ in range(3))
    for arrays in (clean, lost, silent):  # distinct data per interval, a mean far from 0
        arrays["pose/normalize"] = rng.normal(50, 20, arrays["pose/normalize"].shape).astype(np.float32)
    lost["pose/normalize"][100:106] = np.nan  # six lost detections
    silent["audio/log_mel_400"][500:504] = -np.inf  # digital silence: centres 5.0125–5.0425 s → pose frame 75
    write_split_corpus(tmp_path / "pats", {"clean": clean, "lost": lost, "silent": silent})

    # features as stored: the -inf frames reach the cache (levelling maps them to its floor, tested below)
    cache = str(tmp_path / "cache")
    dm = PatsDataModule(str(tmp_path / "pats"), ["oliver"], window_hop=5, audio_level="none", cache_dir=cache)
    with pytest.warns(DataWarning) as caught:
        dm.setup()
    (message,) = [str(w.message) for w in caught]
    assert message == (
        "cospeech: oliver/train: skipped 27 of 84 windows touching non-finite frames (NaN/inf frames "
        "audio/log_mel_400: 4, pose/normalize: 6; intervals lost, silent)"
    )
    report = dm.datasets["train"].caches[0].report
    assert report.windows == 57 and report.nonfinite_windows == 27 and report.short_audio_windows == 0
    assert report.intervals == {
        "lost": IntervalDrops({"pose/normalize": 6}, 14),  # starts 40…105 touch frames 100–105
        "silent": IntervalDrops({"audio/log_mel_400": 4}, 13),  # starts 15…75 touch pose frame 75
    }

    # Expected: every frame of every window that touches no bad frame, straight from the arrays.
    pose_frames, audio_frames = [], []
    for arrays, bad in ((clean, []), (lost, range(100, 106)), (silent, [75])):
        pose = corpus_pose(arrays["pose/normalize"])
        audio = align_to_pose_clock(arrays["audio/log_mel_400"], 200, rate=100.0, offset=0.0125)
        for start in range(0, 200 - 64, 5):
            if not any(start <= b < start + 64 for b in bad):
                pose_frames.append(pose[start : start + 64])
                audio_frames.append(audio[start : start + 64])
    for name, frames in (("pose", pose_frames), ("audio", audio_frames)):
        frames = np.concatenate(frames).astype(np.float64)
        assert np.isfinite(frames).all()
        torch.testing.assert_close(dm.normalizer.mean[name][0], torch.tensor(frames.mean(0)).float())
        torch.testing.assert_close(dm.normalizer.std[name][0], torch.tensor(frames.std(0)).float())
    train = dm.datasets["train"]
    batch = train.__getitems__(list(range(len(train))))
    assert len(train) == 57 and all(torch.isfinite(batch[k]).all() for k in ("pose", "audio"))


def corpus_pose(stored: np.ndarray) -> np.ndarray:
    """Stored PATS poses (T, 104) → the model joints the cache keeps (T, 96)."""
    return joints_to_flat(pats_to_model_joints(stored))


@pytest.mark.parametrize("audio_key", ["audio/log_mel_400", "audio/log_mel_512"])
def test_windows_never_extend_past_the_end_of_the_audio(tmp_path: Path, audio_key: str):
    # 300 pose frames (20 s), audio for the first 6.67 s only: the old alignment padded the rest with the
    # last audio frame, pairing 13 s of gestures with one frozen frame.
    arrays = make_interval(300)
    rate = 100.0 if audio_key == "audio/log_mel_400" else 16_000 / 512
    seconds = 100 / 15
    n_audio = int(seconds * rate) if audio_key == "audio/log_mel_400" else 1 + int(seconds * 16_000) // 512
    width = FEATURE_WIDTHS[audio_key]
    arrays[audio_key] = np.arange(n_audio * width, dtype=np.float32).reshape(n_audio, width)
    root = tmp_path / "pats"
    write_interval(root, "oliver", "short", arrays, frame_rates={audio_key: rate})
    write_intervals_table(root, [IntervalRecord("short", "oliver", "train", 20.0)])
    keys = ["pose/normalize", audio_key]
    with pytest.warns(DataWarning, match=r"dropped 40 of 48 windows extending past the end of the audio"):
        cache = load_split(PatsCorpus(root), "oliver", "train", keys, WindowSpec(hop=5), tmp_path / "c")
    assert cache.window_frame.tolist() == list(range(0, 40, 5))  # every window ends by pose frame 100
    assert cache.report.intervals == {"short": IntervalDrops(short_audio_windows=40)}
    audio = cache.gather(audio_key, np.arange(len(cache)))  # (8, 64, F)
    assert len(np.unique(audio[:, :, 0])) == len(np.unique(cache.window_frame[:, None] + np.arange(64)))
    assert (np.diff(audio[:, :, 0], axis=1) > 0).all()  # audio advances in every frame: nothing padded


def test_pats_mode_on_16khz_log_mel_512_says_what_the_89_hz_constant_does(synth_root, tmp_path):
    keys = ["pose/normalize", "audio/log_mel_512"]
    expected = (
        r"ava/dev: audio/log_mel_512 is stored at 31\.25 Hz but audio_rate_mode='pats' reads it at 89 Hz, "
        r"so each window pairs 12\.22 s of audio with 4\.27 s of poses \(use audio_rate_mode='exact'\)"
    )
    with pytest.warns(DataWarning, match=expected):
        cache = load_split(
            PatsCorpus(synth_root), "ava", "dev", keys, WindowSpec(audio_rate_mode="pats"), tmp_path
        )
    assert cache.report.misread_rates == {"audio/log_mel_512": 31.25}


def test_levelled_audio_maps_minus_inf_frames_to_the_floor_instead_of_skipping_windows(tmp_path: Path):
    """``audio_level="utterance"``: exact digital silence (``-inf``) is the quietest sound, so it becomes
    the floor like any pause; no window is lost, and the data spec records the option."""
    silent = make_interval(200)
    silent["audio/log_mel_400"][500:504] = -np.inf
    write_split_corpus(tmp_path / "pats", {"silent": silent})
    dm = PatsDataModule(
        str(tmp_path / "pats"), ["oliver"], audio_level="utterance", cache_dir=str(tmp_path / "cache")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # nothing was left out, so nothing to say
        dm.setup()
    cache = dm.datasets["train"].caches[0]
    assert cache.report.nonfinite_windows == 0 and len(cache) == len(range(0, 200 - 64, 5))
    assert np.isfinite(cache.arrays["audio/log_mel_400"]).all()
    assert dm.spec.audio_level == "utterance"
    with pytest.raises(ConfigError, match="audio_level='loud'; expected one of none, utterance"):
        PatsDataModule(str(tmp_path / "pats"), ["oliver"], audio_level="loud")


def test_a_cache_another_process_finishes_first_is_used(synth_root, tmp_path, monkeypatch):
    """Two DDP ranks build the same split at once; the loser's final rename fails on the winner's
    directory (it never replaces it under the winner's reads). The loser must use that identical
    directory, not abort the run."""
    corpus = PatsCorpus(synth_root)
    real_build = cache_module._build

    winner: list[int] = []

    def build_while_another_process_finishes(*args, **kwargs):
        monkeypatch.setattr(cache_module, "_build", real_build)
        other = load_split(corpus, "ben", "dev", KEYS, WindowSpec(), tmp_path)  # the other rank, done first
        winner.append((other.directory / "index.json").stat().st_ino)
        real_build(*args, **kwargs)

    monkeypatch.setattr(cache_module, "_build", build_while_another_process_finishes)
    cache = load_split(corpus, "ben", "dev", KEYS, WindowSpec(), tmp_path)
    assert len(cache) > 0
    assert (cache.directory / "index.json").stat().st_ino == winner[0]  # the winner's files, not replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == [cache.directory.name]  # no temporary left
