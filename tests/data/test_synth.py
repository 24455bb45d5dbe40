"""The built-in corpus has the properties PRODUCT.md asks for, measured on real generated files."""

import numpy as np
import pandas as pd
import pytest

from cospeech.data.pats import PatsCorpus
from cospeech.data.poses import flat_to_joints
from cospeech.data.synth import synthesize_corpus
from cospeech.data.synth.corpus import make_profile, synthesize_interval
from cospeech.data.synth.words import GESTURE_WORDS
from cospeech.data.windows import align_to_pose_clock, audio_clock
from cospeech.errors import ConfigError
from cospeech.skeletons import PATS52

WRISTS = [PATS52.index("RWrist"), PATS52.index("LWrist")]


def test_same_seed_same_corpus_other_seed_other_corpus(tmp_path):
    a = synthesize_corpus(tmp_path / "a", speakers=1, minutes=0.3, seed=7)
    b = synthesize_corpus(tmp_path / "b", speakers=1, minutes=0.3, seed=7)
    c = synthesize_corpus(tmp_path / "c", speakers=1, minutes=0.3, seed=8)
    ca, cb, cc = (PatsCorpus(s.root) for s in (a, b, c))
    interval = ca.interval_ids("ava", "train")[0]
    keys = ["pose/normalize", "audio/log_mel_400", "oracle/normalize", "text/tokens", "text/bert", "text/w2v"]
    for key in keys:
        np.testing.assert_array_equal(
            ca.read("ava", interval, keys)[key], cb.read("ava", interval, keys)[key]
        )
    pd.testing.assert_frame_equal(
        pd.read_hdf(ca.interval_path("ava", interval), "text/meta"),
        pd.read_hdf(cb.interval_path("ava", interval), "text/meta"),
    )
    assert not np.array_equal(
        ca.read("ava", interval, keys)["pose/normalize"][:50],
        cc.read("ava", interval, keys)["pose/normalize"][:50],
    )
    with pytest.raises(ConfigError, match="already exists"):
        synthesize_corpus(tmp_path / "a", speakers=1, minutes=0.3)


def test_interval_durations_are_the_seconds_the_poses_cover(synth_root):
    import soundfile

    from cospeech.data.synth.corpus import SPEAKER_NAMES

    assert not set(SPEAKER_NAMES) & {"train", "dev", "test"}  # a speaker is never named like a split
    corpus = PatsCorpus(synth_root)
    table = pd.read_csv(synth_root / "cmu_intervals_df.csv", dtype={"interval_id": str})
    for row in table.itertuples():
        frames = corpus.pose_frames(row.speaker, row.interval_id)
        assert row.delta_time * 15 == pytest.approx(frames, abs=1e-9)  # synth sums one, data info the other
        speech = soundfile.info(str(corpus.raw_audio(row.speaker, row.interval_id)))
        assert 0 <= speech.duration - row.delta_time < 1 / 15  # the speech covers the poses


def test_every_speaker_has_every_split_and_the_pats_invariants(synth_root):
    corpus = PatsCorpus(synth_root)
    for speaker in corpus.speakers:
        for split in ("train", "dev", "test"):
            assert corpus.interval_ids(speaker, split)
    interval = corpus.interval_ids("ava", "train")[0]
    arrays = corpus.read("ava", interval, ["pose/data", "pose/normalize"])
    normalized = flat_to_joints(arrays["pose/normalize"])
    shoulder = np.linalg.norm(normalized[:, PATS52.index("RShoulder")], axis=-1)
    np.testing.assert_allclose(shoulder, 167.0, rtol=1e-4)  # PATS: RShoulder is 167 px from the neck
    data = flat_to_joints(arrays["pose/data"])
    np.testing.assert_allclose(normalized[:, 0], data[:, 0])  # the neck stays absolute
    assert corpus.raw_audio("ava", interval) is not None


def _loudness_and_motion(corpus, speaker, interval):
    """Per pose frame after the first: loudness, wrist speed, and whether the frame is ≥ 0.7 s before and
    1 s after any gesture-bearing word (whose gestures the transcript causes, not the audio)."""
    arrays = corpus.read(speaker, interval, ["audio/log_mel_400", "pose/normalize"])
    n = len(arrays["pose/normalize"])
    mel = arrays["audio/log_mel_400"]
    rate, offset = audio_clock("audio/log_mel_400", len(mel), n)
    loudness = align_to_pose_clock(np.log(np.exp(mel).sum(1, keepdims=True)), n, rate=rate, offset=offset)[
        :, 0
    ]
    wrists = flat_to_joints(arrays["pose/normalize"])[:, WRISTS]
    speed = np.linalg.norm(np.diff(wrists, axis=0), axis=-1).sum(-1)
    keep = np.ones(n, bool)
    meta = pd.read_hdf(corpus.interval_path(speaker, interval), "text/meta")
    for row in meta[meta["Word"].isin(GESTURE_WORDS)].itertuples():
        keep[max(0, int(row.start_frame) - 10) : int(row.end_frame) + 15] = False
    return loudness[1:], speed, keep[1:]


def _pooled_lagged_correlation(signals, max_lag=12, smooth=7):
    """Largest correlation (lags up to 0.8 s) of speech energy with later wrist speed, both smoothed, over
    the kept frames of all (loudness, speed, keep) intervals pooled."""
    kernel = np.ones(smooth) / smooth
    smoothed = [
        (
            np.convolve(np.exp(2 * loudness), kernel, mode="same"),
            np.convolve(speed, kernel, mode="same"),
            keep,
        )
        for loudness, speed, keep in signals
    ]
    best = -1.0
    for lag in range(max_lag):
        energy, later_speed = [], []
        for e, v, keep in smoothed:
            n = min(len(e), len(v))
            pair = keep[: n - lag] & keep[lag:n]
            energy.append(e[: n - lag][pair])
            later_speed.append(v[lag:n][pair])
        best = max(best, np.corrcoef(np.concatenate(energy), np.concatenate(later_speed))[0, 1])
    return best


def test_gestures_follow_the_audio_beyond_a_shuffled_audio_control(synth_root):
    corpus = PatsCorpus(synth_root)
    pairs = [(s, i) for s in corpus.speakers for i in corpus.interval_ids(s, "train")]
    signals = [_loudness_and_motion(corpus, s, i) for s, i in pairs]
    real = _pooled_lagged_correlation(signals)
    rng = np.random.default_rng(0)
    controls = []
    for _ in range(5):  # each interval's motion against another interval's audio
        audio_of = rng.permutation(len(signals))
        shuffled = [(signals[j][0], signals[k][1], signals[k][2]) for k, j in enumerate(audio_of) if j != k]
        controls.append(_pooled_lagged_correlation(shuffled))
    assert real > 0.2
    assert real > np.mean(controls) + 0.15


def test_speakers_are_distinguishable_from_their_gestures(synth_root):
    corpus = PatsCorpus(synth_root)

    def window_features(speaker, split):
        feats = []
        for interval in corpus.interval_ids(speaker, split):
            pose = corpus.read(speaker, interval, ["pose/normalize"])["pose/normalize"]
            offsets = pose[:, 1:52].tolist()  # x offsets of every joint but the absolute neck
            pose = np.concatenate([pose[:, 1:52], pose[:, 53:]], axis=1)
            for start in range(0, len(pose) - 64, 32):
                window = pose[start : start + 64]
                feats.append(np.concatenate([window.mean(0), window.std(0)]))
            del offsets
        return np.array(feats)

    speakers = corpus.speakers
    centroids = np.stack([window_features(s, "train").mean(0) for s in speakers])
    correct = total = 0
    for label, speaker in enumerate(speakers):
        for split in ("dev", "test"):
            feats = window_features(speaker, split)
            predicted = np.argmin(((feats[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
            correct += int((predicted == label).sum())
            total += len(feats)
    assert total >= 6
    assert correct / total >= 0.9  # chance is 1/3


def test_oracle_error_is_well_below_the_mean_pose_error(synth_root):
    corpus = PatsCorpus(synth_root)
    for speaker in corpus.speakers:
        train = np.concatenate(
            [
                corpus.read(speaker, i, ["pose/normalize"])["pose/normalize"]
                for i in corpus.interval_ids(speaker, "train")
            ]
        )
        mean_pose = train.mean(0)
        observed, oracle = [], []
        for interval in corpus.interval_ids(speaker, "test"):
            arrays = corpus.read(speaker, interval, ["pose/normalize", "oracle/normalize"])
            observed.append(arrays["pose/normalize"])
            oracle.append(arrays["oracle/normalize"])
        observed, oracle = np.concatenate(observed), np.concatenate(oracle)
        columns = np.r_[1:52, 53:104]  # everything but the absolute neck
        oracle_l1 = np.abs(observed - oracle)[:, columns].mean()
        mean_l1 = np.abs(observed - mean_pose)[:, columns].mean()
        assert oracle_l1 < 0.5 * mean_l1


def test_a_minute_of_data_takes_seconds():
    import time

    profile = make_profile(0, seed=0)
    start = time.perf_counter()
    synthesize_interval(profile, 60.0, np.random.default_rng(0))
    assert time.perf_counter() - start < 10.0  # generous bound for a loaded CI machine; benchmark has figures


def test_parallel_generation_writes_the_same_corpus(tmp_path):
    serial = synthesize_corpus(tmp_path / "serial", speakers=2, minutes=0.2, seed=4, workers=1)
    parallel = synthesize_corpus(tmp_path / "parallel", speakers=2, minutes=0.2, seed=4, workers=2)
    a, b = PatsCorpus(serial.root), PatsCorpus(parallel.root)
    assert a.intervals.equals(b.intervals)
    for speaker in a.speakers:
        interval = a.interval_ids(speaker, "test")[0]
        keys = ["pose/data", "audio/log_mel_400", "text/tokens", "text/bert"]
        for key in keys:
            np.testing.assert_array_equal(
                a.read(speaker, interval, keys)[key], b.read(speaker, interval, keys)[key]
            )


def test_audio_features_record_their_true_rate(synth_root):
    # log_mel_512 is computed at 16 kHz: 16000 / 512 = 31.25 frames per second, not the reference's 89.
    corpus = PatsCorpus(synth_root)
    for interval in corpus.interval_ids("ben", "train"):
        n_pose = corpus.pose_frames("ben", interval)
        mel = corpus.read("ben", interval, ["audio/log_mel_400", "audio/log_mel_512"])
        for key, rate in (("audio/log_mel_400", 100.0), ("audio/log_mel_512", 31.25)):
            assert corpus.frame_rate("ben", interval, key) == rate
            assert abs(len(mel[key]) / rate - n_pose / 15) < 1 / 15  # the rate spans the poses' seconds
