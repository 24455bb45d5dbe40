"""Shared fixtures: one small built-in corpus per test session (real files, written by the real writer),
and tiny training runs made by the real engine."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from tiny_runs import tiny_run_args

from cospeech.audio import SAMPLE_RATE
from cospeech.data.datamodule import CACHE_DIRNAME
from cospeech.data.pats import (
    INTERVALS_CSV,
    RAW_DIR,
    IntervalRecord,
    PatsCorpus,
    write_interval,
    write_intervals_table,
)
from cospeech.data.synth import make_profile, synthesize_corpus
from cospeech.data.synth.corpus import SPEAKER_NAMES, synthesize_interval

SMALL_CORPUS = {"speakers": 3, "minutes": 1.5, "seed": 0, "gesture_word_probability": 0.03}
"""The session corpus. Its gesture-bearing words are 6x denser than the shipped share (0.5 % each), so that
1.5 minutes per speaker hold every one of them several times for the word and text tests."""
SHORT_DEV = ("ben", 3.0)
"""The speaker whose only dev interval ``short_dev_root`` shortens, and its new length in seconds."""


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-speaker × 1.5-minute synthetic PATS corpus, built once per session."""
    root = tmp_path_factory.mktemp("corpus") / "synth"
    synthesize_corpus(root, **SMALL_CORPUS)
    return root


@pytest.fixture(scope="session")
def sdt_synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One speaker (ava) × 1 minute of the built-in corpus in the SDT clip layout, built once per session."""
    root = tmp_path_factory.mktemp("corpus") / "synth_sdt"
    synthesize_corpus(root, speakers=1, minutes=1.0, seed=1, format="sdt")
    return root


@pytest.fixture(scope="session")
def short_dev_root(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small corpus, except that ben's only dev interval lasts 3 s, less than one 4.3 s window: ben has
    no dev windows. The interval is made by the corpus generator and written by the real PATS writer."""
    speaker, seconds = SHORT_DEV
    root = tmp_path_factory.mktemp("corpus") / "short_dev"
    shutil.copytree(synth_root, root, ignore=shutil.ignore_patterns(CACHE_DIRNAME))
    corpus = PatsCorpus(root)
    (interval_id,) = corpus.interval_ids(speaker, "dev")
    profile = make_profile(SPEAKER_NAMES.index(speaker), SMALL_CORPUS["seed"])
    rng = np.random.default_rng(0)
    interval = synthesize_interval(profile, seconds, rng, SMALL_CORPUS["gesture_word_probability"])
    write_interval(root, speaker, interval_id, interval.arrays, text_meta=interval.text_meta)
    raw = root / RAW_DIR / f"{speaker}_cropped" / f"{interval_id}.flac"
    soundfile.write(raw, interval.waveform, SAMPLE_RATE)
    table = pd.read_csv(root / INTERVALS_CSV, dtype=str, keep_default_na=False)
    records = [IntervalRecord(**row) for row in table.to_dict("records")]
    records = [
        dataclasses.replace(r, delta_time=seconds if r.interval_id == interval_id else float(r.delta_time))
        for r in records
    ]
    write_intervals_table(root, records)
    return root


@pytest.fixture(scope="session")
def train_tiny(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Train a tiny run (``model_init_args`` override the GestureModule's); returns its run directory."""
    from cospeech.training.engine import run_cli

    def train(**model_init_args: Any) -> Path:
        workdir = tmp_path_factory.mktemp("tiny_run")
        run_cli(["fit", *tiny_run_args(workdir, synth_root, **model_init_args)])
        return workdir / "runs" / "tiny" / "version_0"

    return train


@pytest.fixture(scope="session")
def tiny_run(train_tiny: Callable[..., Path]) -> Path:
    """A run directory (speakers ava and ben, 2 training batches) trained once per session by the real
    engine; shared by the inference tests and the README test. Tests that write into a run copy it."""
    return train_tiny()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models are faster on one thread, and a second one stalls when other processes hold the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
