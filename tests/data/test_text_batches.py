"""Text keys in batches, checked against the reference loader's slicing (notes pats §2.5, §3.2) written
out here from the notes, on a small PATS-layout corpus made with h5py and pandas."""

from __future__ import annotations

import itertools
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from pats_layout import Interval, write_corpus
from tiny_runs import PATS48_SPEC

from cospeech.data.cache import DataWarning
from cospeech.data.datamodule import PatsDataModule, SpeakerSet
from cospeech.data.pats import PATS_SPEAKERS
from cospeech.data.spec import DataSpec
from cospeech.errors import ConfigError, DataError

WINDOW = int(4.3 * 15)  # 64 pose frames
HOP = 5
INTERVALS = [  # string-sorted ids: the reference's window order
    Interval("cmu0000000101", "oliver", "train", 150),
    Interval("cmu0000000102", "oliver", "train", 131, meta=False),
    Interval("cmu0000000103", "oliver", "train", 64),  # exactly one window long: no window (strict <)
    Interval("cmu0000000104", "oliver", "dev", 140),
    Interval("cmu0000000105", "oliver", "test", 70),
]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("pats") / "data", INTERVALS)


def setup(root: Path, cache: Path, **kwargs) -> PatsDataModule:
    dm = PatsDataModule(str(root), ["oliver"], window_hop=HOP, cache_dir=str(cache), **kwargs)
    dm.setup()
    return dm


def everything(dm: PatsDataModule, split: str = "train") -> dict[str, torch.Tensor]:
    dataset = dm.datasets[split]
    return dataset.__getitems__(list(range(len(dataset))))


# ---------------------------------------------------------------- the reference loader, from the notes


def reference_windows(root: Path, key: str, split: str, hop: int) -> list[dict]:
    """Every window of ``split`` as the reference cuts it: intervals in string order, starts
    ``range(0, T - 64, hop or 64)``, each with its raw per-frame text and the interval's text/meta."""
    out = []
    for item in sorted((i for i in INTERVALS if i.split == split), key=lambda i: i.interval_id):
        path = root / "processed" / item.speaker / f"{item.interval_id}.h5"
        with h5py.File(path, "r") as h5:
            data = h5[key][()]
            meta = pd.read_hdf(path, key="text/meta") if "text/meta" in h5 else None
        for start in range(0, len(data) - WINDOW, hop or WINDOW):
            out.append({"text": data[start : start + WINDOW], "meta": meta, "start": start})
    return out


def reference_tokens(window: dict, key: str) -> tuple[list[int], list[int]]:
    """(token starts, durations) of one window with ``repeat_text=0`` (notes pats §2.5)."""
    vec = window["text"].astype(np.float64)
    meta = window["meta"]
    if meta is None or key == "text/tokens":
        starts = [0]
        for t in range(1, len(vec)):
            if np.sum(vec[t] - vec[starts[-1]]) != 0:
                starts.append(t)
    else:
        start = window["start"]
        words = meta[(start <= meta["end_frame"]) & (start + WINDOW > meta["start_frame"])]
        starts = [int(s - start) for s in words["start_frame"]]
        starts[0] = 0
    durations = [b - a for a, b in itertools.pairwise(starts)] + [WINDOW - starts[-1]]
    return starts, durations


def z_scores(windows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over every frame of every training window (overlaps counted per window)."""
    frames = np.concatenate([w["text"] for w in windows]).astype(np.float64)
    std = frames.std(axis=0)
    return frames.mean(axis=0), np.where(std == 0, 1e-8, std)


# ---------------------------------------------------------------- tests


def test_token_ids_per_frame_are_the_reference_windows(root, tmp_path):
    dm = setup(root, tmp_path, text_key="text/tokens")
    batch = everything(dm)
    expected = reference_windows(root, "text/tokens", "train", HOP)
    assert len(expected) == len(range(0, 150 - 64, HOP)) + len(range(0, 131 - 64, HOP))
    assert batch["text"].dtype == torch.int64 and batch["text"].shape == (len(expected), WINDOW)
    np.testing.assert_array_equal(batch["text"].numpy(), np.stack([w["text"] for w in expected]))
    assert "token_duration" not in batch and "token_count" not in batch
    dev = everything(dm, "dev")  # eval windows do not overlap (eval_window_hop 0)
    np.testing.assert_array_equal(
        dev["text"].numpy(), np.stack([w["text"] for w in reference_windows(root, "text/tokens", "dev", 0)])
    )
    assert dm.spec.text_key == "text/tokens" and dm.spec.model_fields()["text_vocab"] == 30522
    assert dm.spec.model_fields()["text_dim"] == 0


def test_token_ids_collapse_as_the_reference_does(root, tmp_path):
    dm = setup(root, tmp_path, text_key="text/tokens", repeat_text=False)
    batch = everything(dm)
    expected = reference_windows(root, "text/tokens", "train", HOP)
    longest = max(len(reference_tokens(w, "text/tokens")[0]) for w in expected)
    assert batch["text"].shape == batch["token_duration"].shape == (len(expected), longest)
    assert batch["text"].dtype == batch["token_duration"].dtype == batch["token_count"].dtype == torch.int64
    merged = 0
    for row, window in enumerate(expected):
        starts, durations = reference_tokens(window, "text/tokens")
        n = len(starts)
        assert batch["token_count"][row] == n
        np.testing.assert_array_equal(batch["text"][row, :n].numpy(), window["text"][starts])
        np.testing.assert_array_equal(batch["token_duration"][row, :n].numpy(), durations)
        assert batch["token_duration"][row].sum() == WINDOW
        assert not batch["text"][row, n:].any() and not batch["token_duration"][row, n:].any()
        if window["meta"] is not None:  # a word starting inside that is no new token: identical ids merged
            inside = window["meta"]["start_frame"].to_numpy() - window["start"]
            merged += len(set(inside[(inside > 0) & (inside < WINDOW)].astype(int)) - set(starts))
    assert merged > 0
    assert dm.spec.repeat_text is False


def test_bert_rows_start_at_text_meta_words_or_change_points(root, tmp_path):
    dm = setup(root, tmp_path, text_key="text/bert", repeat_text=False)
    batch = everything(dm)
    expected = reference_windows(root, "text/bert", "train", HOP)
    mean, std = z_scores(expected)
    assert batch["text"].dtype == torch.float32 and batch["text"].shape[2] == 768
    zero_length = 0
    for row, window in enumerate(expected):
        starts, durations = reference_tokens(window, "text/bert")
        n = len(starts)
        assert batch["token_count"][row] == n
        np.testing.assert_array_equal(batch["token_duration"][row, :n].numpy(), durations)
        z = (window["text"][starts] - mean) / std
        np.testing.assert_allclose(batch["text"][row, :n].numpy(), z, atol=2e-5, rtol=1e-5)
        assert not batch["text"][row, n:].any()
        zero_length += durations.count(0)
    assert zero_length > 0  # words of 0 frames, and words ending at the window start, keep their row
    assert sum(w["meta"] is None for w in expected) > 0  # the interval without text/meta: change-points
    assert dm.spec.model_fields()["text_dim"] == 768 and dm.spec.text_vocab == 0


def test_word2vec_frames_are_z_normalised_like_audio(root, tmp_path):
    dm = setup(root, tmp_path, text_key="text/w2v")
    batch = everything(dm)
    expected = reference_windows(root, "text/w2v", "train", HOP)
    mean, std = z_scores(expected)
    want = (np.stack([w["text"] for w in expected]) - mean) / std
    assert batch["text"].shape == (len(expected), WINDOW, 300) and batch["text"].dtype == torch.float32
    np.testing.assert_allclose(batch["text"].numpy(), want, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(dm.normalizer.mean["text"][0], torch.tensor(mean, dtype=torch.float32))
    loader_batch = next(iter(dm.val_dataloader()))
    assert loader_batch["text"].shape[1:] == (WINDOW, 300)


def test_text_frames_that_are_not_finite_drop_their_windows(tmp_path):
    broken = Interval("cmu0000000201", "oliver", "train", 100, nan_frames={"text/w2v": [10]})
    root = write_corpus(tmp_path / "data", [broken, Interval("cmu0000000202", "oliver", "dev", 70)])
    with pytest.warns(DataWarning, match=r"oliver/train: skipped 3 of 8 windows .*text/w2v: 1"):
        dm = setup(root, tmp_path / "cache", text_key="text/w2v")
    assert list(dm.datasets["train"].caches[0].window_frame) == [15, 20, 25, 30, 35]


def test_a_text_key_the_corpus_lacks_names_the_key_the_interval_and_the_keys_it_has(tmp_path):
    items = [Interval("cmu0000000301", "oliver", "train", 80, omit=("text/w2v",))]
    root = write_corpus(tmp_path / "data", items)
    with pytest.raises(DataError) as caught:
        setup(root, tmp_path / "cache", text_key="text/w2v")
    message = str(caught.value)
    assert "\n" not in message and "oliver/cmu0000000301.h5" in message and "'text/w2v'" in message
    assert "text/meta" in message and "text/bert" in message and "axis0" not in message


def test_text_options_are_checked_and_old_specs_read_without_them():
    with pytest.raises(ConfigError, match="text_key='text/pos'"):
        PatsDataModule("x", ["oliver"], text_key="text/pos")
    with pytest.raises(ConfigError, match="pose_clusters=-1"):
        PatsDataModule("x", ["oliver"], pose_clusters=-1)
    old = PATS48_SPEC  # the fields metadata had before text and clusters
    spec = DataSpec.from_dict(old)
    assert (spec.text_key, spec.repeat_text, spec.pose_clusters) == (None, True, 0)
    assert spec.model_fields()["text_dim"] == spec.model_fields()["text_vocab"] == 0
    w2v = DataSpec.from_dict({**old, "text": {"text/w2v": 300}, "text_key": "text/w2v"})
    assert DataSpec.from_dict(w2v.to_dict()) == w2v and w2v.text_dim == 300


# ---------------------------------------------------------------- speakers: all


def test_all_means_the_25_pats_speakers_in_the_reference_order():
    assert len(PATS_SPEAKERS) == 25 and PATS_SPEAKERS[:3] == ("oliver", "jon", "conan")
    everyone = SpeakerSet(PATS_SPEAKERS, PATS_SPEAKERS)
    assert SpeakerSet.parse("all") == SpeakerSet.parse(["all"]) == everyone
    assert SpeakerSet.parse([["oliver"], "all"]) == SpeakerSet.parse([["oliver"], ["all"]])
    assert SpeakerSet.parse([["oliver"], "all"]) == SpeakerSet(PATS_SPEAKERS, ("oliver",))
    with pytest.raises(ConfigError):
        SpeakerSet.parse("everyone")


def test_all_speakers_get_their_pats_style_ids(tmp_path):
    items = [Interval(f"cmu{i:010d}", s, "train", 70) for i, s in enumerate(reversed(PATS_SPEAKERS), 1)]
    root = write_corpus(tmp_path / "data", items)
    dm = PatsDataModule(str(root), "all", cache_dir=str(tmp_path / "cache"))
    dm.setup()
    assert dm.speakers == PATS_SPEAKERS and dm.spec.num_styles == 25
    train = dm.datasets["train"]
    batch = everything(dm)
    for style, index in zip(batch["style"], batch["index"], strict=True):
        _, interval_id, _ = train.window_info(int(index))
        speaker = next(i.speaker for i in items if i.interval_id == interval_id)
        assert int(style) == PATS_SPEAKERS.index(speaker)


def test_all_on_a_corpus_without_some_pats_speakers_lists_the_missing(tmp_path):
    root = write_corpus(tmp_path / "data", [Interval("cmu0000000401", "oliver", "train", 70)])
    dm = PatsDataModule(str(root), [["oliver"], "all"], cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"24 are missing: \['jon', 'conan'.*'noah'\]") as caught:
        dm.setup()
    assert "oliver'" not in str(caught.value).split("missing")[1]
