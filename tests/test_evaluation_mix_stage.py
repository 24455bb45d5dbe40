"""``cospeech evaluate`` on tiny multi-speaker Mix-StAGE runs of the built-in corpus: with words (per-word
BERT rows, pose clusters) and audio only, every speaker scored next to the baselines and the oracle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from tiny_runs import tiny_run_args

from cospeech.cli.main import main
from cospeech.data.datamodule import CACHE_DIRNAME
from cospeech.data.pats import PatsCorpus
from cospeech.evaluation import evaluate
from cospeech.training.engine import run_cli

SMALL = {"channels": 16, "unet_depth": 3, "fusion_heads": 2, "style_dim": 4, "num_clusters": 2}
"""Widths of tests/models/test_mix_stage.py: the wiring, not the width, is under test."""
MODELS = {"mix_stage", "mean_pose", "random_window", "nearest_neighbour", "oracle"}


def _train(workdir: Path, synth_root: Path, *data_args: str) -> Path:
    """A tiny mix_stage run (speakers ava and ben, 2 batches) with the data options ``data_args``."""
    args = tiny_run_args(
        workdir, synth_root, generator="mix_stage", discriminator=None, generator_config=SMALL
    )
    run_cli(["fit", *args, *data_args])
    return workdir / "runs" / "tiny" / "version_0"


@pytest.fixture(scope="module")
def text_run(synth_root, tmp_path_factory) -> Path:
    """Words as the reference feeds Mix-StAGE: one BERT row per word with its duration, 2 pose clusters."""
    workdir = tmp_path_factory.mktemp("mix_stage_text")
    return _train(
        workdir,
        synth_root,
        *("--data.text_key", "text/bert", "--data.repeat_text", "false", "--data.pose_clusters", "2"),
    )


@pytest.fixture(scope="module")
def audio_run(synth_root, tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("mix_stage_audio"), synth_root, "--data.text_key", "null")


def _finite_rows(rows: dict[str, dict[str, float]]) -> bool:
    return all(values and all(np.isfinite(v) for v in values.values()) for values in rows.values())


def test_text_run_prints_a_row_per_speaker_for_the_model_baselines_and_oracle(text_run, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--checkpoint", str(text_run), "--baselines", "--out", str(out)]) == 0
    printed = [line.split()[:2] for line in capsys.readouterr().out.splitlines()]
    for model in MODELS:
        assert [model, "ava"] in printed and [model, "ben"] in printed and [model, "mean"] in printed
    scores = json.loads(out.read_text())["scores"]
    assert set(scores) == MODELS
    for rows in scores.values():
        assert list(rows) == ["ava", "ben", "mean"] and _finite_rows(rows)


def test_the_model_reads_the_held_out_words(text_run, synth_root, tmp_path):
    """The same checkpoint on a copy of the corpus whose test intervals have other word features: the
    model's scores change, the ground truth they are measured against does not. The tiny model barely
    listens yet (its L1 moves by ~2e-6), but far beyond rounding: another batch size moves it by ~1e-11."""
    root = tmp_path / "other_words"
    shutil.copytree(synth_root, root, ignore=shutil.ignore_patterns(CACHE_DIRNAME))
    corpus = PatsCorpus(root)
    for speaker in ("ava", "ben"):
        for interval_id in corpus.interval_ids(speaker, "test"):
            with h5py.File(corpus.interval_path(speaker, interval_id), "r+") as h5:
                h5["text/bert"][...] = -h5["text/bert"][()]
    same = evaluate(text_run, cache_dir=str(tmp_path / "cache"))
    other = evaluate(text_run, data_root=root, cache_dir=str(tmp_path / "cache"))
    assert other.windows == same.windows
    for speaker in ("ava", "ben"):
        before, after = same.scores["mix_stage"][speaker], other.scores["mix_stage"][speaker]
        assert after["diversity_gt"] == before["diversity_gt"]
        assert abs(after["L1"] - before["L1"]) > 1e-7


def test_token_rows_gathered_per_batch_give_the_scores_of_one_batch(text_run, tmp_path):
    """Windows with different word counts are padded per batch; the padding is not read, so any batch size
    gives the same scores."""
    whole = evaluate(text_run, split="dev", cache_dir=str(tmp_path))
    pieces = evaluate(text_run, split="dev", cache_dir=str(tmp_path), batch_size=2)
    for speaker in ("ava", "ben"):
        assert pieces.scores["mix_stage"][speaker] == pytest.approx(
            whole.scores["mix_stage"][speaker], rel=1e-6
        )


def test_audio_only_run_scores_every_speaker_with_baselines(audio_run):
    result = evaluate(audio_run, baselines=True)
    assert set(result.scores) == MODELS
    for rows in result.scores.values():
        assert list(rows) == ["ava", "ben", "mean"] and _finite_rows(rows)
