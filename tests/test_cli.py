"""The CLI end to end, through the real entry point."""

import re
import subprocess
import sys

import pytest

from cospeech.cli.main import main
from cospeech.models import list_models, model_entry


def test_data_info_prints_a_row_per_speaker(synth_root, capsys):
    assert main(["data", "info", str(synth_root)]) == 0
    out = capsys.readouterr().out
    for speaker in ("ava", "ben", "cleo", "total"):
        assert speaker in out
    assert "train windows" in out
    assert "non-overlapping 64-frame (4.3 s) windows" in out  # says which windows it counts
    assert "what one training epoch sees" in out


def test_data_info_counts_the_windows_training_draws(synth_root, tmp_path):
    import inspect

    from cospeech.data.datamodule import PatsDataModule
    from cospeech.data.inspect import TRAINING_HOP, corpus_table

    assert inspect.signature(PatsDataModule).parameters["window_hop"].default == TRAINING_HOP
    dm = PatsDataModule(str(synth_root), ["ava"], cache_dir=str(tmp_path))
    dm.setup("fit")
    row = corpus_table(synth_root, ["ava"])[0]
    assert row.training_windows == len(dm.datasets["train"]) > 5 * row.windows["train"]


def test_data_synth_writes_a_corpus(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert (
        main(["data", "synth", "--out", str(out), "--speakers", "2", "--minutes", "0.3", "--seed", "3"]) == 0
    )
    assert (out / "cmu_intervals_df.csv").is_file()
    printed = capsys.readouterr().out
    assert "2 speakers" in printed
    summary_minutes = re.search(r"([\d.]+) min of speech", printed).group(1)
    table_minutes = next(line.split()[2] for line in printed.splitlines() if line.startswith("total"))
    assert summary_minutes == table_minutes  # both count the seconds the poses cover


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["data", "info", "/nonexistent/pats"],
            "root directory not found (make the built-in one: cospeech data synth)",
        ),
        (["data", "synth", "--speakers", "0", "--out", "/tmp/x"], "speakers ≥ 1"),
        (
            [
                "fit",
                "--config",
                "speech2gesture",
                "--model.init_args.generator_config",
                "{bogus: 1}",
                "--print_config",
            ],
            "model 'speech2gesture' has no config key 'bogus'",
        ),
        (["models", "show", "speech2gestur"], "unknown model 'speech2gestur'; known models: mean_pose, "),
    ],
)
def test_errors_are_one_line_and_exit_1(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_models_list_names_every_model_with_its_kind_and_summary(capsys):
    assert main(["models", "list"]) == 0
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert sorted(rows) == list_models()
    for name, (kind, summary) in rows.items():
        entry = model_entry(name)
        assert kind == entry.kind
        assert summary == entry.builder.__doc__.strip().splitlines()[0]


def test_models_show_prints_every_config_field_with_type_default_and_doc(capsys):
    assert main(["models", "show", "nearest_neighbour"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nearest_neighbour (baseline): cospeech.models.baselines.NearestNeighbourBaseline")
    assert "The query audio is cut into consecutive" in out  # the whole docstring, not only its summary
    for field in (
        "pose_dim: int = 96",
        "chunk_size: int = 4096",
        "feature: Literal['flat', 'pooled'] = 'flat'",
    ):
        assert f"\n  {field}\n" in out
    assert "\n      Mel bins F of the audio.\n" in out
    assert "      the overall sound only). Each key dimension" in out  # continuation lines stay indented


def test_models_show_marks_how_each_input_is_given(capsys):
    assert main(["models", "show", "mix_stage"]) == 0
    out = capsys.readouterr().out
    assert "\n  pose: (B, T, 2J) float32 (training only)\n" in out
    assert "\n  cluster: (B, T) int64 (training only, optional)\n" in out
    assert "\n  token_duration: (B, L) int64 (optional)\n" in out


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "cospeech.cli.main", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("cospeech ")


def test_a_path_the_file_system_refuses_is_one_line(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text('[{"epoch": 0, "train/l1": 0.5}]')
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["plot", str(tmp_path), "--out", str(blocker / "plots")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"cospeech: error: {blocker / 'plots'}: Not a directory"
    assert "Traceback" not in err
