from pathlib import Path

import h5py
import numpy as np
import pytest

from cospeech.data.pats import (
    FEATURE_WIDTHS,
    REQUIRED_KEYS,
    IntervalRecord,
    PatsCorpus,
    write_interval,
    write_intervals_table,
    write_missing_intervals,
)
from cospeech.errors import DataError


def arrays(frames: int = 80, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {k: rng.standard_normal((frames, FEATURE_WIDTHS[k])).astype(np.float32) for k in REQUIRED_KEYS}
    out["audio/log_mel_400"] = rng.standard_normal((frames * 7, 64)).astype(np.float32)
    out["audio/log_mel_512"] = rng.standard_normal((frames * 6, 128)).astype(np.float32)
    return out


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "pats"
    records = []
    for speaker in ("oliver", "maher"):
        for k, split in enumerate(["train", "train", "dev", "test"]):
            interval_id = f"{speaker[0]}{k:03d}"
            write_interval(root, speaker, interval_id, arrays(seed=k))
            records.append(IntervalRecord(interval_id, speaker, split, 80 / 15))
    write_intervals_table(root, records)
    return root


def test_writer_and_reader_round_trip(tmp_path):
    root = make_root(tmp_path)
    corpus = PatsCorpus(root)
    assert corpus.speakers == ["oliver", "maher"]  # PATS order, not alphabetical
    assert corpus.interval_ids("oliver", "train") == ["o000", "o001"]
    got = corpus.read("oliver", "o001", list(REQUIRED_KEYS))
    for key, value in arrays(seed=1).items():
        np.testing.assert_array_equal(got[key], value)
    assert sorted(corpus.keys("oliver", "o001")) == sorted(REQUIRED_KEYS)


def test_missing_intervals_are_excluded_even_as_bytes(tmp_path):
    root = make_root(tmp_path)
    write_missing_intervals(root, ["o000"])
    with h5py.File(root / "missing_intervals.h5") as h5:
        assert isinstance(h5["intervals"][0], bytes)  # h5py 3 returns bytes: the reader must decode
    assert PatsCorpus(root).interval_ids("oliver", "train") == ["o001"]


def test_interval_ids_are_string_sorted(tmp_path):
    root = tmp_path / "pats"
    ids = ["10", "9", "100"]
    for interval_id in ids:
        write_interval(root, "bee", interval_id, arrays())
    write_intervals_table(root, [IntervalRecord(i, "bee", "train", 5.0) for i in ids])
    assert PatsCorpus(root).interval_ids("bee", "train") == ["10", "100", "9"]


def test_bad_inputs_give_errors_naming_the_file_and_problem(tmp_path):
    root = make_root(tmp_path)
    corpus = PatsCorpus(root)
    with pytest.raises(DataError, match=r"o000\.h5: no key 'text/bert'"):
        corpus.read("oliver", "o000", ["text/bert"])
    (root / "processed" / "oliver" / "o001.h5").unlink()
    with pytest.raises(DataError, match=r"o001\.h5: interval file missing"):
        corpus.read("oliver", "o001", ["pose/data"])
    (root / "processed" / "oliver" / "o000.h5").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"o000\.h5: not a readable HDF5"):
        corpus.read("oliver", "o000", ["pose/data"])
    with h5py.File(root / "processed" / "maher" / "m000.h5", "a") as h5:
        del h5["pose/normalize"]
        h5["pose/normalize"] = np.zeros((80, 100))
    with pytest.raises(DataError, match=r"pose/normalize has shape \(80, 100\), expected \(frames, 104\)"):
        corpus.read("maher", "m000", ["pose/normalize"])
    with pytest.raises(DataError, match="no speaker"):
        corpus.interval_ids("noah", "train")
    with pytest.raises(DataError, match="unknown split"):
        corpus.interval_ids("oliver", "val")


def test_not_a_pats_root(tmp_path):
    with pytest.raises(DataError, match="not found"):
        PatsCorpus(tmp_path / "nothing")
    with pytest.raises(DataError, match="interval table missing"):
        PatsCorpus(tmp_path)
    (tmp_path / "cmu_intervals_df.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        PatsCorpus(tmp_path)


def test_writer_refuses_inconsistent_or_incomplete_intervals(tmp_path):
    bad = arrays()
    bad["pose/data"] = bad["pose/data"][:-1]
    with pytest.raises(DataError, match="disagree on the number of frames"):
        write_interval(tmp_path, "oliver", "x", bad)
    incomplete = arrays()
    del incomplete["pose/confidence"]
    with pytest.raises(DataError, match="pose/confidence"):
        write_interval(tmp_path, "oliver", "x", incomplete)
    assert not (tmp_path / "processed" / "oliver" / "x.h5").exists()
