"""The SDT / Speech2Gesture clip format: writer → reader round trip on real npz files, the table and label
variants users have on disk, undetected points, and the window cache on top."""

import numpy as np
import pandas as pd
import pytest

from cospeech.data.cache import DataWarning, load_split
from cospeech.data.corpus import open_corpus
from cospeech.data.sdt import (
    CLIP_TABLE,
    PREPROCESSED_TABLE,
    TABLE_COLUMNS,
    SdtClip,
    SdtCorpus,
    clip_samples,
    write_sdt_corpus,
)
from cospeech.data.windows import WindowSpec
from cospeech.errors import DataError
from cospeech.skeletons import OPENPOSE137, SDT121, SDT_MODEL_JOINTS

J = OPENPOSE137.num_joints


def random_clip(speaker: str, split: str, video: str, start: int, rng: np.random.Generator) -> SdtClip:
    """A 64-frame clip of detected points (pixels 100–900) with its 68,266-sample waveform."""
    pose = np.stack(
        [rng.uniform(100, 900, (64, J)), rng.uniform(100, 700, (64, J)), rng.uniform(0.3, 1, (64, J))], axis=1
    )
    audio = rng.uniform(-0.5, 0.5, clip_samples(64)).astype(np.float32)
    return SdtClip(speaker, split, video, start, pose.astype(np.float32), audio)


@pytest.fixture
def clips() -> list[SdtClip]:
    rng = np.random.default_rng(0)
    layout = [("amy", "train", 0), ("amy", "train", 5), ("amy", "dev", 200), ("bob", "train", 0)]
    layout += [("bob", "dev", 300), ("bob", "test", 400)]
    return [random_clip(speaker, split, f"{speaker}_v0", start, rng) for speaker, split, start in layout]


def test_written_clips_read_back_exactly_in_table_order(clips, tmp_path):
    tables = write_sdt_corpus(tmp_path, iter(clips))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tables) == [
        "amy/processed_137.csv",
        "bob/processed_137.csv",
    ]
    table = pd.read_csv(tmp_path / "amy" / CLIP_TABLE)
    assert tuple(table.columns) == TABLE_COLUMNS
    assert (
        list(table["dataset"]) == ["train", "train", "dev"]
        and list(table["end"] - table["start"]) == [64] * 3
    )
    corpus = open_corpus(tmp_path)
    assert isinstance(corpus, SdtCorpus) and corpus.format == "sdt" and corpus.speakers == ["amy", "bob"]
    assert corpus.stored_skeleton is OPENPOSE137 and corpus.model_skeleton is SDT121
    assert corpus.interval_ids("amy", "train") == ["amy_v0-000000-000064", "amy_v0-000005-000069"]
    # amy has no test rows: she is tested on dev, as the reference does
    assert corpus.interval_ids("amy", "test") == corpus.interval_ids("amy", "dev") == ["amy_v0-000200-000264"]
    assert corpus.interval_ids("bob", "test") == ["bob_v0-000400-000464"]
    for clip in clips:
        read = corpus.read(clip.speaker, clip.name, ["pose", "confidence"])
        np.testing.assert_array_equal(
            read["pose"], np.concatenate([clip.pose[:, 0], clip.pose[:, 1]], axis=1)
        )
        np.testing.assert_array_equal(read["confidence"], clip.pose[:, 2])
        np.testing.assert_array_equal(corpus.waveform(clip.speaker, clip.name), clip.audio)
        assert corpus.pose_frames(clip.speaker, clip.name) == 64
    assert corpus.feature_width("pose") == 274 and corpus.default_pose_key == "pose"


def test_model_poses_are_the_121_points_minus_the_neck(clips, tmp_path):
    write_sdt_corpus(tmp_path, clips)
    corpus = SdtCorpus(tmp_path)
    clip = clips[0]
    model = corpus.to_model_pose("pose", corpus.read("amy", clip.name, ["pose"])["pose"])
    assert model.shape == (64, 2 * SDT121.num_joints)
    neck = clip.pose[:, :2, OPENPOSE137.index("Neck")]
    expected = clip.pose[:, :2, list(SDT_MODEL_JOINTS)] - neck[:, :, None]
    np.testing.assert_array_equal(model, expected.reshape(64, -1))
    assert SDT121.joint_names == tuple(OPENPOSE137.joint_names[j] for j in SDT_MODEL_JOINTS)
    # the reference's 121-index table (notes §1.3): nose 0, wrists 3 and 6, face k at 9 + k, hands 79 and 100
    assert [SDT121.index(n) for n in ("Nose", "RWrist", "LWrist", "Face30", "LHandRoot", "RHandRoot")] == [
        0, 3, 6, 39, 79, 100,
    ]  # fmt: skip
    with pytest.raises(DataError, match="'confidence' is not an SDT pose key"):
        corpus.to_model_pose("confidence", model)


def test_the_preprocessing_scripts_table_and_labels_are_read(clips, tmp_path):
    write_sdt_corpus(tmp_path, clips)
    table = pd.read_csv(tmp_path / "bob" / CLIP_TABLE)
    table["dataset"] = ["train", "idle", "val"]  # what 3_2 writes: train, a gap, then val
    table.to_csv(tmp_path / "bob" / PREPROCESSED_TABLE, index=False)
    (tmp_path / "bob" / CLIP_TABLE).unlink()
    corpus = SdtCorpus(tmp_path)
    assert corpus.interval_ids("bob", "train") == ["bob_v0-000000-000064"]
    assert corpus.interval_ids("bob", "dev") == corpus.interval_ids("bob", "test") == ["bob_v0-000400-000464"]
    # where both tables exist, the loader's processed_137.csv wins
    write_sdt_corpus(tmp_path, [c for c in clips if c.speaker == "bob"])
    assert SdtCorpus(tmp_path).interval_ids("bob", "dev") == ["bob_v0-000300-000364"]


def test_bad_tables_and_clips_get_one_line_naming_the_file(clips, tmp_path):
    write_sdt_corpus(tmp_path, clips)
    table_path = tmp_path / "amy" / CLIP_TABLE
    table = pd.read_csv(table_path)
    table.assign(dataset=["train", "holdout", "dev"]).to_csv(table_path, index=False)
    with pytest.raises(DataError, match=r"processed_137.csv: unknown dataset value\(s\) \['holdout'\]"):
        SdtCorpus(tmp_path)
    table.drop(columns="pose_fn").to_csv(table_path, index=False)
    with pytest.raises(DataError, match=r"processed_137.csv: missing column\(s\) pose_fn"):
        SdtCorpus(tmp_path)
    table.to_csv(table_path, index=False)
    clip_file = tmp_path / "amy" / table["pose_fn"][0]
    np.savez(clip_file, pose=np.zeros((64, 2, J)), audio=np.zeros(10))
    with pytest.raises(DataError, match=r"000064.npz: pose has shape \(64, 2, 137\)"):
        SdtCorpus(tmp_path).read("amy", table["interval_id"][0], ["pose"])
    clip_file.write_bytes(clip_file.read_bytes()[:300])  # a truncated download
    with pytest.raises(DataError, match=r"000064.npz: not a readable npz file \(File is not a zip file\)"):
        SdtCorpus(tmp_path).read("amy", table["interval_id"][0], ["pose"])
    clip_file.unlink()
    with pytest.raises(DataError, match="000064.npz: clip file missing"):
        SdtCorpus(tmp_path).read("amy", table["interval_id"][0], ["pose"])
    with pytest.raises(DataError, match=r"audio has shape \(5,\), expected \(68266,\)"):
        write_sdt_corpus(tmp_path / "other", [SdtClip("amy", "train", "v", 0, clips[0].pose, np.zeros(5))])
    with pytest.raises(DataError, match="not found"):
        SdtCorpus(tmp_path / "nothing")


def test_undetected_points_become_nan_and_the_cache_skips_their_clips(clips, tmp_path):
    lost = clips[1].pose.copy()
    lost[10, :, OPENPOSE137.index("RHandRoot") + 4] = 0.0  # a fingertip OpenPose did not find in frame 10
    lost[:, :, OPENPOSE137.index("LAnkle")] = 0.0  # legs are out of the picture in every frame: ignored
    clips[1] = SdtClip("amy", "train", "amy_v0", 5, lost, clips[1].audio)
    write_sdt_corpus(tmp_path, clips)
    corpus = SdtCorpus(tmp_path)
    model = corpus.to_model_pose("pose", corpus.read("amy", clips[1].name, ["pose"])["pose"])
    broken = ~np.isfinite(model).all(axis=1)
    assert np.flatnonzero(broken).tolist() == [10]
    assert np.isnan(model[10, [SDT121.index("RHandRoot") + 4, 121 + SDT121.index("RHandRoot") + 4]]).all()
    with pytest.warns(DataWarning, match=r"amy/train: skipped 1 of 2 windows touching non-finite frames"):
        cache = load_split(corpus, "amy", "train", ["pose"], WindowSpec(hop=5), tmp_path / "cache")
    assert cache.interval_ids == [clips[0].name] and len(cache) == 1
