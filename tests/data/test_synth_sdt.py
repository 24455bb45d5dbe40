"""The built-in corpus with faces, written in SDT's clip layout by ``cospeech data synth --format sdt``:
real npz files read back by the SDT reader, and a mouth that opens with the speech."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cospeech.cli import data as data_cli
from cospeech.cli.main import main
from cospeech.data.corpus import open_corpus
from cospeech.data.poses import flat_to_joints
from cospeech.data.sdt import CLIP_TABLE, SdtCorpus, clip_samples
from cospeech.data.synth.corpus import (
    PATS_IN_OPENPOSE,
    SDT_CLIP_HOP,
    SDT_SHOULDER_WIDTH,
    SYNTH_FORMATS,
    make_profile,
    synthesize_interval,
)
from cospeech.data.synth.face import LOWER_LIP, UPPER_LIP
from cospeech.skeletons import OPENPOSE137, SDT121

FACE = SDT121.groups["face"][0]


@pytest.fixture(scope="module")
def sdt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sdt") / "synth_sdt"
    args = ["data", "synth", "--out", str(root), "--format", "sdt", "--speakers", "2", "--minutes", "0.5"]
    assert main(args) == 0
    return root


def lip_opening(model_pose: np.ndarray) -> np.ndarray:
    """(T,) ‖P[75] − P[71]‖ of ``sdt121`` poses (T, 242): SDT's lip opening (notes §5)."""
    joints = flat_to_joints(model_pose)
    return np.linalg.norm(joints[:, FACE + LOWER_LIP] - joints[:, FACE + UPPER_LIP], axis=-1)


def test_data_synth_writes_sdt_clips_that_data_info_reads(sdt_root, capsys):
    assert data_cli.SYNTH_FORMATS == SYNTH_FORMATS
    corpus = open_corpus(sdt_root)
    assert isinstance(corpus, SdtCorpus) and corpus.speakers == ["ava", "ben"]
    table = pd.read_csv(sdt_root / "ava" / CLIP_TABLE)
    assert (table["end"] - table["start"] == 64).all()
    for _, rows in table.groupby("video_fn", sort=False):  # 3_1: stride 5 within each source interval
        assert (np.diff(rows["start"]) == SDT_CLIP_HOP).all() and rows["start"].iloc[0] == 0
        assert rows["dataset"].nunique() == 1
    order = {"train": 0, "dev": 1, "test": 2}  # splits follow each other in time
    assert (np.diff(table["dataset"].map(order)) >= 0).all() and set(table["dataset"]) == set(order)
    clip = corpus.interval_ids("ava", "dev")[0]
    assert corpus.waveform("ava", clip).shape == (clip_samples(64),)
    pose = corpus.read("ava", clip, ["pose"])["pose"]
    joints = flat_to_joints(pose)
    shoulders = joints[:, OPENPOSE137.index("RShoulder")] - joints[:, OPENPOSE137.index("LShoulder")]
    assert np.linalg.norm(shoulders, axis=-1).mean() == pytest.approx(SDT_SHOULDER_WIDTH, rel=0.03)  # 2_3
    assert (joints[:, OPENPOSE137.index("LAnkle")] == 0).all()  # legs: out of the picture, not detected
    model = corpus.to_model_pose("pose", pose)
    assert np.isfinite(model).all() and model.shape == (64, 242)
    capsys.readouterr()
    assert main(["data", "info", str(sdt_root)]) == 0
    out = capsys.readouterr().out
    assert "one 64-frame window per clip" in out
    minutes = float(out.splitlines()[-2].split()[2])
    assert minutes == pytest.approx(1.0, abs=0.2)  # overlapping clips counted once: 2 × 0.5 min


def test_openpose_points_carry_the_pats_body_and_a_face():
    profile = make_profile(0, seed=0)
    interval = synthesize_interval(profile, 8.0, np.random.default_rng(3))
    data = flat_to_joints(interval.arrays["pose/data"])  # neck absolute, the rest offsets from it
    openpose = interval.openpose.transpose(0, 2, 1)  # (T, 137, 3)
    expected = data + data[:, :1] * (np.arange(len(PATS_IN_OPENPOSE)) > 0)[None, :, None]
    np.testing.assert_allclose(openpose[:, PATS_IN_OPENPOSE, :2], expected, atol=1e-6)
    np.testing.assert_array_equal(
        openpose[:, PATS_IN_OPENPOSE, 2], interval.arrays["pose/confidence"][:, :52]
    )
    face = openpose[:, OPENPOSE137.groups["face"]]
    assert (face[..., 2] > 0).all()
    nose_tip = face[:, 30, :2]
    assert (
        np.abs(nose_tip - openpose[:, OPENPOSE137.index("Nose"), :2]).max() < 10 * profile.camera_scale / 167
    )


def test_lip_opening_follows_the_loudness_of_the_speech(sdt_root):
    corpus = SdtCorpus(sdt_root)
    for speaker in corpus.speakers:
        openings, loudness, shuffled = [], [], []
        clips = corpus.interval_ids(speaker, "train")[::4]
        for clip, other in zip(clips, clips[1:] + clips[:1], strict=True):
            model = corpus.to_model_pose("pose", corpus.read(speaker, clip, ["pose"])["pose"])
            openings.append(lip_opening(model))
            for waves, name in ((loudness, clip), (shuffled, other)):
                wave = corpus.waveform(speaker, name)
                frames = wave[: 64 * (len(wave) // 64)].reshape(64, -1)
                waves.append(np.sqrt((frames**2).mean(axis=1)))  # RMS per pose frame
        opening = np.concatenate(openings)
        assert np.corrcoef(opening, np.concatenate(loudness))[0, 1] > 0.45
        assert abs(np.corrcoef(opening, np.concatenate(shuffled))[0, 1]) < 0.2  # another clip's speech
        assert opening.max() > 10 and np.quantile(opening, 0.1) < 3  # opens wide, and closes in pauses
