import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from cospeech.data.pats import (
    COMPANION_CSVS,
    FEATURE_WIDTHS,
    INTERVALS_CSV,
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


def test_the_reference_loader_finds_every_interval_of_the_written_corpus(synth_root):
    # The reference concatenates these tables read with pandas defaults, casts ids with str() and opens
    # processed/<speaker>/<id>.h5; zero-padded numeric ids would lose their zeros on the way.
    tables = [pd.read_csv(synth_root / name) for name in (INTERVALS_CSV, *COMPANION_CSVS)]
    header = "dataset,delta_time,end_time,interval_id,speaker,start_time,video_fn,video_link"
    for table in tables:
        assert ",".join(table.columns) == header  # PATS' own header
    assert all(table.empty for table in tables[1:])
    df = pd.concat(tables)
    ids = df["interval_id"].apply(str)
    assert len(ids) == sum(
        len(PatsCorpus(synth_root).interval_ids(s, split))
        for s in PatsCorpus(synth_root).speakers
        for split in ("train", "dev", "test")
    )
    for speaker, interval_id in zip(df["speaker"], ids, strict=True):
        assert re.fullmatch(r"cmu\d{10}", interval_id)  # shaped like PATS' CMU ids
        assert (synth_root / "processed" / speaker / f"{interval_id}.h5").is_file()


def test_ids_a_csv_reader_would_change_are_refused_and_old_corpora_stay_readable(tmp_path):
    for bad in ("0000012", "1e5", "NA"):  # read back as 12, 100000.0, nan
        with pytest.raises(DataError, match=rf"interval id\(s\) \['{bad}'\] change when a CSV reader"):
            write_intervals_table(tmp_path, [IntervalRecord(bad, "bee", "train", 5.0)])
    assert not (tmp_path / "cmu_intervals_df.csv").exists()
    # A corpus written before ids were checked: its table still says 0000012, and cospeech reads ids as text.
    root = tmp_path / "old"
    write_interval(root, "bee", "0000012", arrays())
    pd.DataFrame({"interval_id": ["0000012"], "speaker": ["bee"], "dataset": ["train"]}).to_csv(
        root / "cmu_intervals_df.csv", index=False
    )
    corpus = PatsCorpus(root)
    assert corpus.interval_ids("bee", "train") == ["0000012"]
    assert corpus.read("bee", "0000012", ["pose/data"])["pose/data"].shape == (80, 104)


def test_frame_rates_are_stored_with_the_audio(tmp_path):
    root = tmp_path / "pats"
    write_interval(root, "bee", "a", arrays(), frame_rates={"audio/log_mel_512": 44_100 / 512})
    write_intervals_table(root, [IntervalRecord("a", "bee", "train", 5.0)])
    corpus = PatsCorpus(root)
    assert corpus.frame_rate("bee", "a", "audio/log_mel_512") == 44_100 / 512
    assert corpus.frame_rate("bee", "a", "audio/log_mel_400") is None  # PATS' own files say nothing
    with pytest.raises(DataError, match=r"frame_rates \{'audio/log_mel_400': 0\} must name written keys"):
        write_interval(root, "bee", "b", arrays(), frame_rates={"audio/log_mel_400": 0})
    with h5py.File(root / "processed" / "bee" / "a.h5", "a") as h5:
        h5["audio/log_mel_400"].attrs["frame_rate"] = -1.0
    with pytest.raises(DataError, match=r"a\.h5: audio/log_mel_400 has frame_rate=-1\.0"):
        corpus.frame_rate("bee", "a", "audio/log_mel_400")
