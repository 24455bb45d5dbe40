"""``cospeech evaluate`` on a real tiny run of the built-in corpus."""

from __future__ import annotations

import json

import pytest

from cospeech.cli.main import main
from cospeech.errors import ConfigError
from cospeech.evaluation import evaluate
from cospeech.training.engine import run_cli


@pytest.fixture(scope="module")
def tiny_run(train_tiny):
    return train_tiny(discriminator=None)


def test_scores_per_speaker_with_baselines_and_oracle(tiny_run):
    result = evaluate(tiny_run, baselines=True)
    assert set(result.scores) == {
        "speech2gesture",
        "mean_pose",
        "random_window",
        "nearest_neighbour",
        "oracle",
    }
    for rows in result.scores.values():
        assert set(rows) == {"ava", "ben", "mean"}
    oracle, mean_pose = result.scores["oracle"]["mean"], result.scores["mean_pose"]["mean"]
    assert oracle["L1"] < 0.5 * mean_pose["L1"]
    assert oracle["PCK"] > mean_pose["PCK"]
    assert all(result.scores[m]["mean"]["PCK"] <= oracle["PCK"] for m in result.scores)
    assert result.windows["ava"] > 0


def test_cli_prints_the_table_and_writes_json(tiny_run, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(tiny_run),
                "--speakers",
                "ben",
                "--split",
                "dev",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "speech2gesture" in printed and "ben" in printed and "PCK" in printed
    scores = json.loads(out.read_text())
    assert scores["split"] == "dev" and list(scores["scores"]["speech2gesture"]) == ["ben", "mean"]


def test_fgd_with_a_trained_extractor_records_its_identity(tiny_run, synth_root, tmp_path):
    run_cli(
        [
            "fit",
            "--config",
            "pose_autoencoder",
            "--data.root",
            str(synth_root),
            "--data.speakers",
            "[ava]",
            "--data.cache_dir",
            str(tmp_path / "cache"),
            "--run.root",
            str(tmp_path / "runs"),
            "--run.name",
            "ae",
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
        ]
    )
    result = evaluate(tiny_run, speakers=["ava"], fgd_extractor=tmp_path / "runs" / "ae" / "version_0")
    assert "FGD" in result.scores["speech2gesture"]["ava"]
    assert result.extractor.startswith("pose_autoencoder@")


def test_unknown_speaker_lists_the_known_ones(tiny_run):
    with pytest.raises(ConfigError, match=r"known: \['ava', 'ben'\]"):
        evaluate(tiny_run, speakers=["zed"])
