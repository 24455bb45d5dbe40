"""A tiny multi-speaker Mix-StAGE with text, trained by the real engine on the built-in corpus, through the
inference pipeline: transcripts are featurised exactly as the corpus stored them, styles mix."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import yaml
from tiny_runs import TINY_MIX_STAGE, tiny_config

from cospeech.cli.main import main
from cospeech.data.pats import PatsCorpus
from cospeech.data.text import Word
from cospeech.errors import ConfigError, DataError
from cospeech.inference import GestureGenerator
from cospeech.inference.clips import render_clips
from cospeech.inference.text import transcript_text
from cospeech.training.engine import run_cli

MIX_STAGE = {"generator": "mix_stage", "generator_config": TINY_MIX_STAGE}


@pytest.fixture(scope="module")
def mix_stage_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("mix_stage")
    config = tiny_config(**MIX_STAGE)
    config["data"].update(text_key="text/bert", repeat_text=False, pose_clusters=2)
    path = workdir / "mix_stage.yaml"
    path.write_text(yaml.safe_dump(config))
    run_cli(
        ["fit", "--config", str(path), "--data.root", str(synth_root),
         "--data.cache_dir", str(workdir / "cache"), "--run.root", str(workdir / "runs")]
    )  # fmt: skip
    return workdir / "runs" / "tiny" / "version_0"


def _interval_words(corpus: PatsCorpus, speaker: str, interval: str) -> tuple[list[Word], int]:
    """The interval's transcript (seconds) from its text/meta, read here with pandas, and its pose frames."""
    meta = pd.read_hdf(corpus.interval_path(speaker, interval), "text/meta")
    words = [Word(w, s / 15, e / 15) for w, s, e in meta.itertuples(index=False)]
    assert corpus.transcript(speaker, interval) == words
    return words, corpus.pose_frames(speaker, interval)


def test_transcripts_are_featurised_exactly_as_the_corpus_stored_them(mix_stage_run, synth_root):
    pipe = GestureGenerator.from_pretrained(mix_stage_run)
    corpus = PatsCorpus(synth_root)
    interval = corpus.interval_ids("ben", "test")[0]
    words, frames = _interval_words(corpus, "ben", interval)
    made = transcript_text(words, pipe.metadata.data, frames)
    stored = corpus.read("ben", interval, ["text/bert"])["text/bert"]
    np.testing.assert_array_equal(made, stored)


def test_text_model_uses_the_transcript_and_mixes_styles(mix_stage_run, synth_root):
    pipe = GestureGenerator.from_pretrained(mix_stage_run)
    corpus = PatsCorpus(synth_root)
    interval = corpus.interval_ids("ava", "test")[0]
    speech = corpus.raw_audio("ava", interval)
    words, _ = _interval_words(corpus, "ava", interval)

    ava = pipe.generate(speech, speaker="ava", transcript=words)
    assert ava.speaker == "ava" and np.isfinite(ava.poses).all()
    same = pipe.generate(speech, speaker={"ava": 1.0, "ben": 0.0}, transcript=words)
    np.testing.assert_array_equal(same.poses, ava.poses)  # weight 1 is the plain speaker

    ben = pipe.generate(speech, speaker="ben", transcript=words)
    half = pipe.generate(speech, speaker="ava=0.5,ben=0.5", transcript=words)
    assert half.speaker == "ava=0.5,ben=0.5"
    assert not np.allclose(half.poses, ava.poses) and not np.allclose(half.poses, ben.poses)

    shuffled = [Word(words[-1 - i].word, w.start, w.end) for i, w in enumerate(words)]
    other_text = pipe.generate(speech, speaker="ava", transcript=shuffled)
    assert not np.allclose(other_text.poses, ava.poses)  # the words reach the model

    with pytest.raises(ConfigError, match="trained with text .*give a transcript"):
        pipe.generate(speech, speaker="ava")
    with pytest.raises(DataError, match="not in the synthetic vocabulary"):
        pipe.generate(speech, speaker="ava", transcript=[Word("zyzzyva", 0.0, 0.5)])
    with pytest.raises(ConfigError, match="unknown speaker 'zed'"):
        pipe.generate(speech, speaker="zed", transcript=words)
    with pytest.raises(ConfigError, match="the transcript has no words"):
        pipe.generate(speech, speaker="ava", transcript=[])
    in_ms = [Word(w.word, 1000 * w.start + 100, 1000 * w.end + 100) for w in words]
    with pytest.raises(
        ConfigError, match="no word of the transcript starts within the .* are its times in seconds"
    ):
        pipe.generate(speech, speaker="ava", transcript=in_ms)
    late = [*words, Word("wide", words[-1].end + 5, words[-1].end + 6)]
    with pytest.warns(UserWarning, match="the words after its end are not used"):
        pipe.generate(speech, speaker="ava", transcript=late)
    as_json = [{"word": w.word.upper() + ",", "start": w.start, "end": w.end} for w in words]  # ASR style
    np.testing.assert_array_equal(pipe.generate(speech, speaker="ava", transcript=as_json).poses, ava.poses)


def test_single_style_models_refuse_mixes_and_style_transfer(train_tiny, synth_root):
    run = train_tiny()
    pipe = GestureGenerator.from_pretrained(run)
    speech = PatsCorpus(synth_root).raw_audio("ava", PatsCorpus(synth_root).interval_ids("ava", "test")[0])
    assert pipe.generate(speech, speaker="ben").speaker == "ben"
    with pytest.raises(ConfigError, match="speech2gesture has no style input, so it cannot mix"):
        pipe.generate(speech, speaker="ava=0.5,ben=0.5")
    with pytest.raises(ConfigError, match="no style input, so every speaker's style would be the same"):
        render_clips([run], style_transfer=True)


def test_render_style_transfer_shows_one_clip_in_every_style(mix_stage_run, tmp_path, capsys):
    args = [
        "render",
        "--checkpoint",
        str(mix_stage_run),
        "--style-transfer",
        "-n",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    (video,) = (tmp_path / "render" / "style_transfer" / "test").glob("*/*.mp4")
    with av.open(str(video)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
    assert "style transfer" in (tmp_path / "gallery_style_transfer.html").read_text()
    assert f"video:   {video}" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="one checkpoint"):
        render_clips([mix_stage_run, mix_stage_run], style_transfer=True)
