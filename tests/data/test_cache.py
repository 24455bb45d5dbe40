import os
from pathlib import Path

import numpy as np
import pytest

from cospeech.data.cache import load_split
from cospeech.data.pats import (
    FEATURE_WIDTHS,
    REQUIRED_KEYS,
    IntervalRecord,
    PatsCorpus,
    write_interval,
    write_intervals_table,
)
from cospeech.data.poses import flat_to_joints
from cospeech.data.windows import WindowSpec
from cospeech.errors import DataError
from cospeech.skeletons import PATS_MODEL_JOINTS

KEYS = ["pose/normalize", "audio/log_mel_400"]


def test_windows_equal_direct_slices_of_the_files(synth_root, tmp_path):
    corpus = PatsCorpus(synth_root)
    spec = WindowSpec(hop=5, audio_rate_mode="pats")
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
