"""``cospeech plot``: curves per speaker from a real run's metrics, evaluation bars, continual heatmaps."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from cospeech.cli.main import main
from cospeech.continual.results import ChainResults, task_matrices
from cospeech.errors import DataError
from cospeech.plots import curves_figure, evaluation_figure, plot_run

PNG = b"\x89PNG\r\n\x1a\n"


def test_a_run_gets_curves_and_evaluation_bars_as_png_and_svg(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("checkpoints"))
    scores = {
        "speech2gesture": {"mean": {"L1": 0.5, "PCK": 0.4}},
        "mean_pose": {"mean": {"L1": 0.7, "PCK": 0.3}},
        "oracle": {"mean": {"L1": 0.1, "PCK": 0.9}},
    }
    (run / "evaluation_test.json").write_text(json.dumps({"scores": scores}))
    assert main(["plot", str(run)]) == 0
    names = sorted(p.name for p in (run / "plots").iterdir())
    assert names == ["curves.png", "curves.svg", "evaluation_test.png", "evaluation_test.svg"]
    assert (run / "plots" / "curves.png").read_bytes()[:8] == PNG
    assert "<svg" in (run / "plots" / "curves.svg").read_text()
    assert capsys.readouterr().out.count("plot: ") == 4

    history = json.loads((run / "metrics.json").read_text())
    figure = curves_figure(history, "tiny")
    titles = [axes.get_title() for axes in figure.axes]
    assert titles[0] == "training losses" and "L1 (lower is better)" in titles
    l1 = figure.axes[titles.index("L1 (lower is better)")]
    assert [line.get_label() for line in l1.get_lines()] == ["ava", "ben", "mean"]  # per speaker, then mean
    assert l1.get_lines()[0].get_ydata()[0] == pytest.approx(history[0]["dev/ava/L1"])

    bars = evaluation_figure({"scores": scores}, "test")
    pck = next(a for a in bars.axes if a.get_title().startswith("PCK"))
    assert [t.get_text() for t in pck.get_xticklabels()] == ["speech2gesture", "mean_pose", "oracle"]
    assert [p.get_height() for p in pck.patches] == pytest.approx([0.4, 0.3, 0.9])


def test_a_continual_chain_gets_its_forgetting_heatmaps(tmp_path):
    tasks, speakers = ("t1_ava", "t2_ben"), ("ava", "ben")
    scores = [
        {"ava": {"L1": 0.5, "PCK": 0.8}},
        {"ava": {"L1": 0.6, "PCK": 0.7}, "ben": {"L1": 0.4, "PCK": 0.6}},
    ]
    matrices = task_matrices(tasks, speakers, scores)
    chain = tmp_path / "cdiffgan" / "k28" / "seed1"
    ChainResults({"method": "cdiffgan"}, True, matrices, tasks, speakers).write(
        chain / "results", heatmaps=()
    )
    written = plot_run(chain, tmp_path / "figs")
    assert sorted(p.name for p in written) == [
        "forgetting_L1.png", "forgetting_L1.svg", "forgetting_PCK.png", "forgetting_PCK.svg"
    ]  # fmt: skip
    assert (tmp_path / "figs" / "forgetting_L1.png").read_bytes()[:8] == PNG
    assert not math.isnan(matrices["L1"].forgetting())


def test_nothing_to_plot_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(DataError, match="nothing to plot"):
        plot_run(tmp_path)
    assert main(["plot", str(tmp_path / "missing")]) == 1
    assert "not a run folder" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_run_name_stands_for_its_newest_version_and_one_epoch_of_one_speaker_reads_plainly(
    tiny_run, tmp_path
):
    name = tmp_path / "runs" / "tiny"
    for version in ("version_2", "version_10"):  # numeric order: version_10 is the newest
        shutil.copytree(tiny_run, name / version, ignore=shutil.ignore_patterns("checkpoints"))
    written = plot_run(name)
    assert {p.parent for p in written} == {name / "version_10" / "plots"}

    figure = curves_figure([{"epoch": 0, "train/l1": 0.5, "dev/ava/L1": 0.4, "dev/L1": 0.4}], "one")
    l1 = figure.axes[1]
    assert [line.get_label() for line in l1.get_lines()] == ["ava"]  # no mean drawn over its only speaker
    assert l1.get_xlim() == (-1, 1)  # whole epochs around the only one


def test_a_folder_of_chains_names_them(tmp_path):
    tasks, speakers = ("t1_ava",), ("ava",)
    matrices = task_matrices(tasks, speakers, [{"ava": {"L1": 0.5}}])
    for method in ("cdiffgan", "finetune"):
        ChainResults({"method": method}, True, matrices, tasks, speakers).write(
            tmp_path / method / "k28" / "seed1" / "results", heatmaps=()
        )
    with pytest.raises(DataError, match=r"chains inside: cdiffgan/k28/seed1, finetune/k28/seed1$"):
        plot_run(tmp_path)


def test_a_ground_truth_instance_is_the_reference_line_of_its_metric():
    scores = {
        "sdt_bp": {"mean": {"L1": 0.5, "diversity": 3.0, "diversity_gt": 4.5}},
        "mean_pose": {"mean": {"L1": 0.7, "diversity": 0.0, "diversity_gt": 4.5}},
    }
    figure = evaluation_figure({"scores": scores}, "test")
    titles = [axes.get_title() for axes in figure.axes]
    assert len(titles) == 2 and not any(t.startswith("diversity_gt") for t in titles)
    diversity = figure.axes[1]
    assert [p.get_height() for p in diversity.patches] == pytest.approx([3.0, 0.0])
    (line,) = diversity.get_lines()
    assert line.get_label() == "ground truth" and list(line.get_ydata()) == pytest.approx([4.5, 4.5])
