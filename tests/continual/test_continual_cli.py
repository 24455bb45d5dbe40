"""``cospeech continual | continual-compare | adapt`` refuse bad input in one line, before anything is
trained or written: an unknown method or preset, k < 1, a base that is not Mix-StAGE, a fit argument the
runner sets itself, a stray option, a folder without chains."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cospeech.cli.main import main
from cospeech.continual.methods import METHODS, get_method
from cospeech.continual.runner import claim, load_preset
from cospeech.errors import ConfigError
from cospeech.training.engine import run_cli


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("cospeech: error: "), lines
    assert lines[1] == "cospeech: run with --debug for the full traceback"
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["continual", "--method", "ewc"],
            "unknown continual method 'ewc'; known continual methods: finetune,",
        ),
        (["continual", "--method", "cdiffgan", "--k-shot", "0"], "--k-shot 0: must be ≥ 1"),
        (["continual", "--k-shot", "28"], "--method is required (unless --first-task-only)"),
        (
            ["continual", "--method", "cdiffgan", "--preset", "nope"],
            "preset 'nope': no such file or built-in",
        ),
        (
            ["continual", "--method", "cdiffgan", "--data.k_shot", "3"],
            "--data.k_shot: set by the continual runner",
        ),
        (
            ["continual", "--method", "cdiffgan", "--max-epochs", "3"],
            "unrecognized argument(s) --max-epochs;",
        ),
        (["continual", "--method", "cdiffgan", "--seeds", "1,x"], "--seeds '1,x': expected comma-separated"),
        (
            ["adapt", "--base", "x", "--speaker", "fay", "--k-shot", "-2", "--method", "cdiffgan"],
            "--k-shot -2",
        ),
        (
            ["adapt", "--base", "x", "--speaker", "fay", "--k-shot", "7", "--method", "lwf"],
            "unknown continual",
        ),
    ],
)
def test_bad_arguments_are_one_line_errors_and_write_nothing(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert message in _one_line_error(capsys, [*argv, "--out", str(out)])
    assert not out.exists()


def test_a_base_that_is_not_mix_stage_is_refused(tiny_run: Path, tmp_path, capsys):
    """``tiny_run`` is a Speech2Gesture run: the continual methods adapt Mix-StAGE's submodules."""
    out = tmp_path / "out"
    common = ["--k-shot", "7", "--method", "cdiffgan", "--out", str(out), "--base", str(tiny_run)]
    for argv in (["adapt", "--speaker", "cleo", *common], ["continual", *common]):
        error = _one_line_error(capsys, argv)
        assert f"--base {tiny_run}: a speech2gesture model" in error and "Mix-StAGE" in error
    assert not out.exists()


def test_a_base_that_does_not_exist_is_named(tmp_path, capsys):
    argv = ["adapt", "--base", str(tmp_path / "nowhere"), "--speaker", "fay", "--k-shot", "7", "--method"]
    error = _one_line_error(capsys, [*argv, "cdiffgan", "--out", str(tmp_path / "out")])
    assert "nowhere: no such checkpoint or run directory" in error


def test_compare_without_chains_is_a_one_line_error(tmp_path, capsys):
    assert "holds no continual chain" in _one_line_error(capsys, ["continual-compare", str(tmp_path)])


def test_help_lists_every_method(capsys):
    with pytest.raises(SystemExit):
        main(["continual", "--help"])
    text = capsys.readouterr().out
    assert all(f"  {name} " in text for name in METHODS.names())


def test_every_method_has_its_fragment_and_every_preset_loads():
    for name in METHODS.names():
        assert get_method(name).config.is_file()
    for name in ("synth_small", "pats_paper"):
        preset = load_preset(name)
        assert len(preset.speakers) == 5 and preset.k_shot == 28 and preset.config == "mix_stage"


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_fragment_merges_over_a_preset_task_config(name, tmp_path, capsys):
    """The fit configs a task gets (``mix_stage``, the preset's task, the method) parse, and the method's
    values win."""
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(load_preset("synth_small").task))
    method = get_method(name).config
    with pytest.raises(SystemExit) as exit:
        run_cli(
            ["fit", "--config", "mix_stage", "--config", str(task), "--config", str(method), "--print_config"]
        )
    assert exit.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    fragment = yaml.safe_load(method.read_text())
    assert config["data"]["replay"] == fragment["data"]["replay"]
    assert config["data"]["train_batches"] == 20 and config["run"]["selection"] == "last"
    assert config["model"]["class_path"] == "cospeech.training.continual.ContinualRecipe"
    for key, value in fragment["model"]["init_args"].items():
        assert config["model"]["init_args"][key] == value


def test_a_speaker_the_corpus_lacks_is_refused_before_anything_trains(synth_root, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["continual", "--method", "finetune", "--speakers", "ava,zed", "--out", str(out)]
    message = _one_line_error(capsys, [*argv, "--data.root", str(synth_root)])
    assert "no speaker(s) ['zed']" in message
    assert not out.exists()


def test_a_task_only_option_on_the_command_line_names_where_it_belongs(synth_root, tmp_path, capsys):
    argv = ["continual", "--method", "cdiffgan", "--speakers", "ava,ben", "--out", str(tmp_path / "out")]
    argv += ["--data.root", str(synth_root), "--model.init_args.shift_steps", "2"]
    message = _one_line_error(capsys, argv)
    assert "--model.init_args.shift_steps: an option of the later tasks' recipe" in message
    assert "in a copy of the preset" in message


def test_a_missing_base_is_named_as_the_base(tmp_path, capsys):
    argv = ["continual", "--method", "cdiffgan", "--base", str(tmp_path / "nope"), "--out", str(tmp_path)]
    assert _one_line_error(capsys, argv).startswith(f"cospeech: error: --base: {tmp_path / 'nope'}: no such")


def test_a_folder_without_a_task_takes_new_settings_but_a_started_one_does_not(tmp_path):
    """A command that failed before training leaves its settings, which must not lock the folder."""
    claim(tmp_path, {"overrides": ["--trainer.max_epochs", "2"]})
    claim(tmp_path, {"overrides": []})  # nothing trained yet: the corrected command proceeds
    (tmp_path / "t2_ben").mkdir()
    with pytest.raises(ConfigError, match="started with other settings"):
        claim(tmp_path, {"overrides": ["--trainer.max_epochs", "3"]})


PARSE_LIMIT = """
import sys
if sys.argv[1] == "sklearn_first":
    import sklearn.linear_model
import cospeech.cli.continual, cospeech.continual.results, cospeech.continual.runner, cospeech.evaluation
import lightning as L
from jsonargparse import ArgumentParser
parser = ArgumentParser()
parser.add_class_arguments(L.Trainer, "trainer")
print(repr(parser.parse_args(["--trainer.limit_val_batches", "1"]).trainer.limit_val_batches))
"""


@pytest.mark.parametrize(("order", "parsed"), [("cospeech_first", "1"), ("sklearn_first", "1.0")])
def test_limit_batches_1_means_one_batch_in_continual_commands(order, parsed):
    """In a fresh interpreter (the bug depends on import order): scikit-learn imported before Lightning makes
    ``--trainer.limit_val_batches 1`` parse as 1.0, i.e. every batch (the control); importing cospeech's
    continual commands, results and evaluation first does not import scikit-learn, so 1 stays one batch."""
    done = subprocess.run(
        [sys.executable, "-c", PARSE_LIMIT, order], capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.strip().splitlines()[-1] == parsed
