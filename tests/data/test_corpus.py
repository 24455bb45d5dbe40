"""The corpus interface: format registry, detection, and a format defined in this file only (``.npz``
intervals of a made-up 3-joint skeleton) that the cache and the data module read with no change to src/."""

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from cospeech.data import corpus as corpus_module
from cospeech.data.cache import load_split
from cospeech.data.corpus import (
    SPLITS,
    Corpus,
    corpus_format,
    list_formats,
    open_corpus,
    register_format,
)
from cospeech.data.datamodule import PatsDataModule
from cospeech.data.pats import PatsCorpus
from cospeech.data.poses import flat_to_joints, joints_to_flat
from cospeech.data.windows import WindowSpec
from cospeech.errors import ConfigError, DataError
from cospeech.skeletons import PATS48, PATS52, PATS_MODEL_JOINTS, Skeleton

TOY_SKELETON = Skeleton("toy3", ("Root", "Elbow", "Hand"), (-1, 0, 1))
TOY_MODEL_SKELETON = TOY_SKELETON.subset([1, 2], name="toy2")
TOY_MARKER = "toy_corpus"
TOY_WIDTHS = {"pose": 2 * TOY_SKELETON.num_joints, "mel": 5}


class ToyCorpus(Corpus):
    """``<root>/toy_corpus`` (marker) and ``<root>/<speaker>/<split>/<interval>.npz`` holding ``pose``
    (T, 6) and ``mel`` (T, 5) on the pose clock. Models learn every joint but the root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def looks_like(cls, root: Path) -> bool:
        return (root / TOY_MARKER).is_file()

    @property
    def stored_skeleton(self) -> Skeleton:
        return TOY_SKELETON

    @property
    def model_skeleton(self) -> Skeleton:
        return TOY_MODEL_SKELETON

    @property
    def speakers(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def interval_ids(self, speaker: str, split: str) -> list[str]:
        self.check_speakers([speaker])
        return sorted(p.stem for p in (self.root / speaker / split).glob("*.npz"))

    def interval_path(self, speaker: str, interval_id: str) -> Path:
        (path,) = self.root.glob(f"{speaker}/*/{interval_id}.npz")
        return path

    def read(self, speaker: str, interval_id: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        path = self.interval_path(speaker, interval_id)
        with np.load(path) as npz:
            absent = [k for k in keys if k not in npz]
            if absent:
                raise DataError(f"{path}: no key(s) {absent}")
            return {k: npz[k].astype(np.float32) for k in keys}

    def keys(self, speaker: str, interval_id: str) -> list[str]:
        with np.load(self.interval_path(speaker, interval_id)) as npz:
            return sorted(npz.files)

    def pose_frames(self, speaker: str, interval_id: str) -> int:
        return len(self.read(speaker, interval_id, ["pose"])["pose"])

    def raw_audio(self, speaker: str, interval_id: str) -> Path | None:
        return None

    def feature_width(self, key: str) -> int:
        return TOY_WIDTHS[key]

    def is_pose_key(self, key: str) -> bool:
        return key == "pose"

    def to_model_pose(self, key: str, array: np.ndarray) -> np.ndarray:
        return joints_to_flat(flat_to_joints(array)[:, 1:])


def write_toy_corpus(root: Path, frames: Mapping[str, Sequence[int]]) -> Path:
    """Two speakers; ``frames[split]`` gives the length of each interval of that split."""
    rng = np.random.default_rng(0)
    for speaker, scale in (("amy", 1.0), ("bob", 3.0)):
        for split, lengths in frames.items():
            (root / speaker / split).mkdir(parents=True)
            for k, n in enumerate(lengths):
                pose = scale * rng.standard_normal((n, TOY_WIDTHS["pose"]))
                mel = rng.standard_normal((n, TOY_WIDTHS["mel"]))
                np.savez(root / speaker / split / f"{speaker}_{split}_{k}.npz", pose=pose, mel=mel)
    (root / TOY_MARKER).touch()
    return root


@pytest.fixture
def toy_format() -> Iterator[type[ToyCorpus]]:
    """``ToyCorpus`` registered as ``toy`` for one test; the registry is restored afterwards."""
    list_formats()  # the built-in formats register first, so restoring the registry keeps them
    with mock.patch.object(corpus_module, "_FORMATS", corpus_module._FORMATS.copy()):
        yield register_format("toy")(ToyCorpus)
    assert "toy" not in list_formats()


def test_registry_knows_pats_and_refuses_duplicates_and_unknown_names(toy_format):
    assert corpus_format("pats") is PatsCorpus and corpus_format("toy") is ToyCorpus
    assert {"pats", "sdt", "toy"} <= set(list_formats())
    with pytest.raises(ConfigError, match=r"'pats' is registered twice: by cospeech\.data\.pats\.PatsCorpus"):
        register_format("pats")(ToyCorpus)
    assert corpus_format("pats") is PatsCorpus
    with pytest.raises(
        ConfigError, match=r"unknown corpus format 'bvh'; known corpus formats: .*pats.*toy"
    ) as exc:
        corpus_format("bvh")
    assert exc.value.args[0].endswith(", ".join(list_formats()))
    with pytest.raises(TypeError, match="not a Corpus subclass"):
        register_format("plain")(dict)


def test_the_builtin_corpus_is_detected_as_pats(synth_root):
    corpus = open_corpus(synth_root)
    assert isinstance(corpus, PatsCorpus) and corpus.format == "pats"
    assert corpus.stored_skeleton is PATS52 and corpus.model_skeleton is PATS48
    assert corpus.feature_width("pose/normalize") == 2 * PATS52.num_joints
    assert corpus.feature_width("audio/log_mel_512") == 128
    assert dict(corpus.text_features) == {"text/bert": 768, "text/w2v": 300}
    with pytest.raises(DataError, match="'text/tokens' has no fixed width"):
        corpus.feature_width("text/tokens")
    interval = corpus.interval_ids("ava", "dev")[0]
    stored = corpus.read("ava", interval, ["pose/normalize"])["pose/normalize"]
    assert corpus.pose_frames("ava", interval) == len(stored)
    model = corpus.to_model_pose("pose/normalize", stored)
    assert model.shape == (len(stored), 2 * PATS48.num_joints)
    np.testing.assert_array_equal(flat_to_joints(model), flat_to_joints(stored)[:, list(PATS_MODEL_JOINTS)])
    assert corpus.is_pose_key("oracle/normalize") and not corpus.is_pose_key("pose/confidence")
    with pytest.raises(DataError, match="not a PATS pose key"):
        corpus.to_model_pose("pose/confidence", stored)


def test_a_directory_that_is_no_corpus_gets_one_line_naming_root_and_formats(tmp_path):
    (tmp_path / "notes.txt").write_text("not a corpus")
    with pytest.raises(DataError) as exc:
        open_corpus(tmp_path)
    message = str(exc.value)
    assert message.startswith(f"{tmp_path}: not a corpus in any known format (tried pats, sdt")
    assert "cospeech data synth" in message and "\n" not in message
    with pytest.raises(DataError, match=r"nothing: corpus root directory not found .*cospeech data synth"):
        open_corpus(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="unknown corpus format 'nope'"):
        open_corpus(tmp_path, format="nope")


def test_a_root_two_formats_claim_must_be_named(toy_format, synth_root, tmp_path):
    root = write_toy_corpus(tmp_path / "toy", {"train": [80]})
    (root / "cmu_intervals_df.csv").write_text("interval_id,speaker,dataset\n")
    with pytest.raises(DataError, match=r"several corpus formats \(pats, toy\); name one with format="):
        open_corpus(root)
    assert isinstance(open_corpus(root, format="toy"), ToyCorpus)
    assert isinstance(open_corpus(synth_root), PatsCorpus)


def test_a_format_defined_in_one_file_feeds_the_cache_and_the_data_module(toy_format, tmp_path):
    root = write_toy_corpus(tmp_path / "toy", {"train": [100, 90], "dev": [70], "test": [70]})
    corpus = open_corpus(root)
    assert isinstance(corpus, ToyCorpus) and corpus.format == "toy"
    cache = load_split(corpus, "amy", "train", ["pose", "mel"], WindowSpec(hop=5), tmp_path / "cache")
    assert len(cache) == len(range(0, 100 - 64, 5)) + len(range(0, 90 - 64, 5))
    window = len(cache) - 1
    interval, frame = cache.interval_ids[cache.window_interval[window]], cache.window_frame[window]
    stored = corpus.read("amy", interval, ["pose"])["pose"][frame : frame + 64]
    np.testing.assert_array_equal(
        cache.gather("pose", np.array([window]))[0], corpus.to_model_pose("pose", stored)
    )

    dm = PatsDataModule(
        str(root),
        ["amy", "bob"],
        format="toy",
        pose_key="pose",
        audio_key="mel",
        batch_size=4,
        cache_dir=str(tmp_path / "dm_cache"),
    )
    dm.setup()
    assert dm.corpus.format == "toy" and set(dm.datasets) == set(SPLITS)
    batch = next(iter(dm.train_dataloader()))
    width = 2 * TOY_MODEL_SKELETON.num_joints
    assert batch["pose"].shape == (4, 64, width) and batch["audio"].shape == (4, 64, TOY_WIDTHS["mel"])
    assert "oracle" not in batch
    train = dm.datasets["train"]
    style, interval, frame = train.window_info(int(batch["index"][0]))
    speaker = dm.speakers[style]
    stored = corpus.read(speaker, interval, ["pose"])["pose"][frame : frame + 64]
    pixels = dm.normalizer.denormalize("pose", batch["pose"][:1].numpy(), np.array([style]))[0]
    np.testing.assert_allclose(pixels, corpus.to_model_pose("pose", stored), rtol=1e-5, atol=1e-5)
