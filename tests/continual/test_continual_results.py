"""Continual-learning results on hand-made matrices with known accuracy, forgetting and backward transfer:
the standard definitions (Chaudhry et al. 2018; Lopez-Paz & Ranzato 2017), sign-turned per metric direction,
the files a chain's ``results/`` holds, and the method × k comparison over seeds."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from cospeech.continual.results import (
    ChainResults,
    compare,
    higher_is_better,
    read_results,
    task_matrices,
)
from cospeech.errors import ConfigError, DataError

NAN = math.nan
TASKS = ("t1_ava", "t2_ben", "t3_cleo")
SPEAKERS = ("ava", "ben", "cleo")
L1 = [[0.5, NAN, NAN], [0.6, 0.4, NAN], [0.7, 0.45, 0.3]]
PCK = [[0.8, NAN, NAN], [0.9, 0.7, NAN], [0.6, 0.75, 0.5]]


def _scores(**matrices: list[list[float]]) -> list[dict[str, dict[str, float]]]:
    """Per task ``{speaker: {metric: value}}`` from per-metric matrices (NaN = not scored)."""
    rows = []
    for t in range(len(TASKS)):
        row: dict[str, dict[str, float]] = {}
        for metric, matrix in matrices.items():
            for i, speaker in enumerate(SPEAKERS):
                if not math.isnan(matrix[t][i]):
                    row.setdefault(speaker, {})[metric] = matrix[t][i]
        rows.append(row)
    return rows


def test_directions_come_from_the_metric_registry():
    assert higher_is_better("L1") is False and higher_is_better("FID") is False
    assert higher_is_better("PCK") is True and higher_is_better("PCK@0.1") is True
    assert higher_is_better("diversity") is None and higher_is_better("no_such_metric") is None


def test_lower_is_better_accuracy_forgetting_and_transfer():
    matrix = task_matrices(TASKS, SPEAKERS, _scores(L1=L1))["L1"]
    assert matrix.learnt_at() == [0, 1, 2]
    assert matrix.average_accuracy() == pytest.approx((0.7 + 0.45 + 0.3) / 3)
    # best (lowest) earlier L1 of ava is 0.5 (t1), of ben 0.4 (t2): both got worse, so positive
    assert matrix.forgetting_per_speaker() == pytest.approx({"ava": 0.2, "ben": 0.05})
    assert matrix.forgetting() == pytest.approx(0.125)
    assert matrix.backward_transfer() == pytest.approx(-0.125)


def test_higher_is_better_forgetting_takes_the_best_earlier_task_and_can_be_negative():
    matrix = task_matrices(TASKS, SPEAKERS, _scores(PCK=PCK))["PCK"]
    assert matrix.average_accuracy() == pytest.approx((0.6 + 0.75 + 0.5) / 3)
    # ava peaked after t2 (0.9), not when learnt (0.8); ben improved after it was learnt
    assert matrix.forgetting_per_speaker() == pytest.approx({"ava": 0.3, "ben": -0.05})
    assert matrix.forgetting() == pytest.approx(0.125)
    assert matrix.backward_transfer() == pytest.approx(((0.6 - 0.8) + (0.75 - 0.7)) / 2)


def test_a_base_with_several_speakers_and_a_speaker_without_windows():
    """Row 1 is a two-speaker base model; ben has no test windows after the last task, so it is in neither
    the accuracy nor the forgetting."""
    values = [[0.5, 0.4, NAN], [0.6, NAN, 0.3]]
    matrix = task_matrices(("t1_base", "t2_cleo"), SPEAKERS, _scores(L1=[*values, [NAN] * 3])[:2])["L1"]
    assert matrix.learnt_at() == [0, 0, 1]
    assert matrix.average_accuracy() == pytest.approx(0.45)
    assert matrix.forgetting_per_speaker() == pytest.approx({"ava": 0.1})


def test_no_direction_or_one_task_gives_no_summary():
    single = task_matrices(TASKS[:1], SPEAKERS, _scores(L1=L1)[:1])["L1"]
    assert math.isnan(single.forgetting()) and math.isnan(single.backward_transfer())
    assert single.average_accuracy() == pytest.approx(0.5)
    diversity = task_matrices(TASKS, SPEAKERS, _scores(diversity=L1))["diversity"]
    assert diversity.higher_is_better is None and math.isnan(diversity.average_accuracy())
    assert diversity.forgetting_per_speaker() == {}


def test_a_chain_writes_csv_json_and_heatmaps_and_reads_back(tmp_path):
    matrices = task_matrices(TASKS, SPEAKERS, _scores(L1=L1, PCK=PCK, diversity=L1))
    chain = ChainResults({"method": "cdiffgan", "k_shot": 28, "seed": 1}, True, matrices, TASKS, SPEAKERS)
    folder = chain.write(tmp_path / "results")  # heatmaps of L1, PCK, FID where present
    assert sorted(p.name for p in folder.iterdir()) == [
        "L1.csv", "L1.png", "PCK.csv", "PCK.png", "diversity.csv", "results.json"
    ]  # fmt: skip
    rows = list(csv.reader(io.StringIO((folder / "L1.csv").read_text())))
    assert rows[0] == ["task", *SPEAKERS]
    assert rows[2] == ["t2_ben", "0.6", "0.4", ""]
    for name in ("L1.png", "PCK.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((folder / "results.json").read_text())
    assert data["metrics"]["L1"]["forgetting"] == pytest.approx(0.125)
    assert data["metrics"]["L1"]["matrix"][0] == [0.5, None, None]
    back = read_results(tmp_path)
    assert back.identity == chain.identity and back.complete
    np.testing.assert_array_equal(back.matrices["PCK"].values, matrices["PCK"].values)
    assert back.matrices["PCK"].forgetting() == pytest.approx(0.125)


def _chain(root, method, k, seed, shift, complete=True, **identity):
    l1 = [[v + shift if not math.isnan(v) else v for v in row] for row in L1]
    matrices = task_matrices(TASKS, SPEAKERS, _scores(L1=l1, PCK=PCK))
    folder = root / method / f"k{k}" / f"seed{seed}" / "results"
    identity = {"method": method, "k_shot": k, "seed": seed, "preset": "synth_small", **identity}
    ChainResults(identity, complete, matrices, TASKS, SPEAKERS).write(folder, heatmaps=())


def test_compare_gives_mean_and_std_over_seeds_per_method_and_k(tmp_path):
    _chain(tmp_path / "a", "cdiffgan", 28, 1, 0.0)
    _chain(tmp_path / "a", "cdiffgan", 28, 2, 0.1)
    _chain(tmp_path / "b", "finetune", 28, 1, 0.0)
    _chain(tmp_path / "b", "finetune", 28, 2, 0.0, complete=False)
    table = compare([tmp_path / "b", tmp_path / "a"], order=("finetune", "cdiffgan"))
    assert [(r.method, r.k_shot, r.seeds) for r in table.rows] == [
        ("finetune", 28, (1,)),
        ("cdiffgan", 28, (1, 2)),
    ]
    assert table.columns == ["L1 ACC", "L1 FGT", "PCK ACC", "PCK FGT"]  # no FID in these chains
    mean, std = table.rows[1].values["L1 ACC"]
    assert mean == pytest.approx((0.7 + 0.45 + 0.3) / 3 + 0.05)
    assert std == pytest.approx(np.std([0.48333, 0.58333], ddof=1), abs=1e-4)
    assert table.rows[1].values["L1 FGT"] == pytest.approx((0.125, 0.0))  # a shift changes no difference
    assert math.isnan(table.rows[0].values["PCK FGT"][1])  # one seed: no spread
    assert len(table.notes) == 1 and "finetune/k28/seed2" in table.notes[0]
    text = table.table()
    assert "0.533 ± 0.071" in text and "finetune" in text.splitlines()[2]
    written = table.write(tmp_path / "out")
    assert [p.name for p in written] == ["comparison.csv", "comparison.json"]
    assert json.loads(written[1].read_text())["rows"][1]["L1 FGT"]["mean"] == pytest.approx(0.125)


def test_compare_names_a_folder_without_chains(tmp_path):
    with pytest.raises(DataError, match="holds no continual chain"):
        compare([tmp_path])
    with pytest.raises(DataError, match="no such directory"):
        compare([tmp_path / "missing"])


def test_compare_pools_seeds_only_within_one_protocol(tmp_path):
    """Chains of another preset or with other fit overrides are other rows, never more seeds."""
    _chain(tmp_path / "a", "cdiffgan", 28, 1, 0.0)
    _chain(tmp_path / "b", "cdiffgan", 28, 1, 0.1, overrides=["--trainer.max_epochs", "2"])
    _chain(tmp_path / "c", "cdiffgan", 28, 2, 0.1, preset="mine")
    table = compare([tmp_path])
    assert [(r.protocol, r.seeds) for r in table.rows] == [("P1", (1,)), ("P2", (1,)), ("P3", (2,))]
    assert sorted(table.protocols.values())[0].startswith("preset mine")
    assert any("overrides --trainer.max_epochs 2" in v for v in table.protocols.values())
    text = table.table()
    assert all(f"{name}: " in text for name in ("P1", "P2", "P3"))


def test_compare_refuses_an_unknown_metric_and_names_unfinished_chain_folders(tmp_path):
    _chain(tmp_path, "cdiffgan", 28, 1, 0.0)
    with pytest.raises(ConfigError, match="BOGUS: no chain has them"):
        compare([tmp_path], ["L1", "BOGUS"])
    started = tmp_path / "finetune" / "k28" / "seed1"  # claimed, but no task finished
    started.mkdir(parents=True)
    (started / "settings.json").write_text("{}")
    table = compare([tmp_path])
    assert [r.method for r in table.rows] == ["cdiffgan"]
    assert table.notes == [f"left out (no task finished): {started}"]
    assert compare([started]).rows == []  # on its own: named, not an error
