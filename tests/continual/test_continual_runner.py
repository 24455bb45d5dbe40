"""The continual runner: presets, chain folders and their settings, and a 3-task sequence (ava → ben →
cleo of the session's small corpus) with a tiny Mix-StAGE that runs end to end and resumes."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tiny_runs import TINY_MIX_STAGE, TINY_TASK_TRAINER

from cospeech.cli.main import main
from cospeech.continual.methods import get_method
from cospeech.continual.results import read_results
from cospeech.continual.runner import claim, inherited_config, load_preset, plan_chains
from cospeech.errors import ConfigError
from cospeech.training.metadata import read_run


def test_preset_problems_are_listed_in_one_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"speakers": ["ava", "ava"], "k_shot": 0, "seeds": [], "extra": 1}))
    with pytest.raises(ConfigError) as caught:
        load_preset(path)
    message = str(caught.value)
    for problem in (
        "unknown key 'extra'",
        "missing key 'config'",
        "two distinct names",
        "k_shot=0",
        "seeds=[]",
    ):
        assert problem in message


def test_a_preset_finds_its_config_next_to_it(tmp_path):
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "base.yaml").write_text("seed_everything: 3\n")
    preset = {"speakers": ["ava", "ben"], "k_shot": 7, "seeds": [1], "config": "base.yaml"}
    (folder / "mine.yaml").write_text(yaml.safe_dump({**preset, "first_task": {}, "task": {}}))
    assert load_preset(folder / "mine.yaml").config == str((folder / "base.yaml").resolve())
    assert load_preset("synth_small").config == "mix_stage"  # a built-in name stays a name


def test_chains_live_in_method_k_seed_folders_and_share_the_first_task(tmp_path):
    chains = plan_chains(load_preset("synth_small"), get_method("cdiffgan"), tmp_path, k_shot=7, seeds=[3, 4])
    assert [c.folder for c in chains] == [
        tmp_path / "cdiffgan" / "k7" / "seed3",
        tmp_path / "cdiffgan" / "k7" / "seed4",
    ]
    assert {c.first_folder for c in chains} == {tmp_path / "t1_ava"}
    assert chains[0].speakers == ("ava", "ben", "cleo", "dia", "eli")
    with pytest.raises(ConfigError, match="k-shot 0: must be an integer ≥ 1"):
        plan_chains(load_preset("synth_small"), get_method("cdiffgan"), tmp_path, k_shot=0)
    with pytest.raises(ConfigError, match="--ckpt_path: set by the continual runner"):
        plan_chains(load_preset("synth_small"), get_method("cdiffgan"), tmp_path, overrides=["--ckpt_path=x"])


def test_a_folder_keeps_the_settings_it_was_started_with(tmp_path):
    claim(tmp_path, {"method": "cdiffgan", "k_shot": 28})
    claim(tmp_path, {"method": "cdiffgan", "k_shot": 28})  # the same chain again: resumes
    assert json.loads((tmp_path / "settings.json").read_text()) == {"method": "cdiffgan", "k_shot": 28}
    (tmp_path / "t2_ben").mkdir()  # a task started: the folder is now this chain's
    with pytest.raises(ConfigError, match="k_shot: 28 there, 7 now"):
        claim(tmp_path, {"method": "cdiffgan", "k_shot": 7})


SPEAKERS = ["ava", "ben", "cleo"]
TASKS = ["t1_ava", "t2_ben", "t3_cleo"]


def tiny_preset(path: Path) -> Path:
    """A 3-speaker preset: audio-only Mix-StAGE at width 16, 2 batches of 4 per task, 2 latent-shift steps."""
    data = {"batch_size": 4, "window_hop": 16, "train_batches": 2}
    preset = {
        "speakers": SPEAKERS,
        "k_shot": 4,
        "seeds": [1],
        "config": "mix_stage",
        "first_task": {
            "model": {"init_args": {"generator_config": TINY_MIX_STAGE}},
            "data": {**data, "text_key": None, "pose_clusters": 2},
            "trainer": TINY_TASK_TRAINER,
        },
        "task": {
            "run": {"selection": "last"},
            "model": {
                "class_path": "cospeech.training.continual.ContinualRecipe",
                "init_args": {"shift_steps": 2},
            },
            "data": data,
            "trainer": TINY_TASK_TRAINER,
        },
    }
    path.write_text(yaml.safe_dump(preset))
    return path


@dataclass(frozen=True)
class Sequence:
    """The tiny preset run by ``cospeech continual --method cdiffgan`` into ``out``; ``run()`` runs (or
    resumes) it again."""

    out: Path
    argv: list[str]

    @property
    def chain(self) -> Path:
        return self.out / "cdiffgan" / "k4" / "seed1"

    def task(self, index: int) -> Path:
        return self.out / TASKS[0] if index == 0 else self.chain / TASKS[index]

    def run(self) -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny models: faster on one thread, and steady when the CPU is shared
        try:
            assert main(self.argv) == 0
        finally:
            torch.set_num_threads(threads)

    def stamps(self, *indices: int) -> dict[str, int]:
        """Modification times (ns) of the checkpoints and done markers of tasks ``indices``."""
        files = [p for i in indices for p in [*self.task(i).rglob("*.ckpt"), self.task(i) / "done.json"]]
        return {str(p): p.stat().st_mtime_ns for p in files}


@pytest.fixture(scope="module")
def sequence(synth_root, tmp_path_factory) -> Sequence:
    work = tmp_path_factory.mktemp("continual")
    preset = tiny_preset(work / "tiny.yaml")
    out = work / "out"
    argv = ["continual", "--preset", str(preset), "--method", "cdiffgan", "--out", str(out)]
    argv += ["--data.root", str(synth_root), "--data.cache_dir", str(work / "cache")]
    sequence = Sequence(out, argv)
    sequence.run()
    return sequence


def _scored(matrix: np.ndarray) -> list[list[bool]]:
    return np.isfinite(matrix).tolist()


def test_every_task_is_scored_on_every_speaker_seen(sequence):
    results = read_results(sequence.chain)
    assert results.complete and results.tasks == tuple(TASKS) and results.speakers == tuple(SPEAKERS)
    assert (
        results.identity["method"] == "cdiffgan"
        and results.identity["reference"] == "diffgan_pseudo-align-fs-src"
    )
    for metric in ("L1", "PCK", "FID"):
        matrix = results.matrices[metric]
        assert _scored(matrix.values) == [[True, False, False], [True, True, False], [True, True, True]]
        assert np.isfinite(matrix.average_accuracy()) and np.isfinite(matrix.forgetting())
        assert (sequence.chain / "results" / f"{metric}.png").read_bytes()[:4] == b"\x89PNG"
    for index in range(len(TASKS)):
        done = json.loads((sequence.task(index) / "done.json").read_text())
        assert done["seen"] == SPEAKERS[: index + 1] and done["run"] == "version_0"
        assert results.matrices["L1"].values[index, 0] == pytest.approx(done["scores"]["ava"]["L1"])
    row = (sequence.out / "comparison.csv").read_text().splitlines()[1]
    assert (
        row.startswith('"preset tiny, speakers ava→ben→cleo, overrides --data.root ')
        and ",cdiffgan,4,1," in row
    )


def test_each_task_starts_from_the_previous_one_with_stable_style_ids(sequence):
    for index in (1, 2):
        config = yaml.safe_load((sequence.task(index) / "version_0" / "config.yaml").read_text())
        assert config["data"]["speakers"] == [["ava"], SPEAKERS[: index + 1]]
        assert config["data"]["k_shot"] == 4 and config["data"]["fewshot_seed"] == 1
        assert config["data"]["replay"] == "pseudo_aligned" and config["data"]["normalization"] == "source"
        assert config["model"]["class_path"] == "cospeech.training.continual.ContinualRecipe"
        assert config["model"]["init_args"]["latent_shift"] is True
        assert config["model"]["init_args"]["generator_config"]["channels"] == 16
        assert (
            config["trainer"]["limit_val_batches"] == 1
            and type(config["trainer"]["limit_val_batches"]) is int
        )
        previous = sequence.task(index - 1) / "version_0"
        assert Path(config["model"]["init_args"]["init_from"]).resolve() == previous.resolve()


def test_tasks_keep_the_first_models_discriminator_or_its_absence(sequence):
    """A first model trained with L1 only gives tasks no discriminator, not a fresh one from the base
    config (which names motion_discriminator)."""
    run = read_run(sequence.task(0) / "version_0")
    assert inherited_config(run)["model"]["init_args"]["discriminator"] == "motion_discriminator"
    without = dataclasses.replace(run, metadata=dataclasses.replace(run.metadata, components={}))
    model = inherited_config(without)["model"]["init_args"]
    assert model["discriminator"] is None and "discriminator_config" not in model


def test_an_interrupted_sequence_resumes_at_its_task(sequence):
    """Task 3 lost (its folder gone), scored but not marked (no done.json), or trained but not finished (no
    final_metrics.json either): each time only what is missing is redone, tasks 1-2 are untouched."""
    earlier = sequence.stamps(0, 1)
    shutil.rmtree(sequence.task(2))
    sequence.run()
    trained = sequence.stamps(2)
    assert read_results(sequence.chain).complete and len(trained) == 2  # last.ckpt and done.json again

    final = sequence.task(2) / "version_0" / "final_metrics.json"
    finished = final.stat().st_mtime_ns
    (sequence.task(2) / "done.json").unlink()
    sequence.run()
    rescored = sequence.stamps(2)
    checkpoint = str(sequence.task(2) / "version_0" / "checkpoints" / "last.ckpt")
    assert rescored[checkpoint] == trained[checkpoint]  # scored again, not trained again
    assert final.stat().st_mtime_ns == finished  # nor even resumed: fitting would rewrite it

    (sequence.task(2) / "done.json").unlink()
    (sequence.task(2) / "version_0" / "final_metrics.json").unlink()
    sequence.run()  # resumes from last.ckpt in its own folder
    assert sorted(p.name for p in sequence.task(2).glob("version_*")) == ["version_0"]
    assert (sequence.task(2) / "version_0" / "final_metrics.json").is_file()
    assert sequence.stamps(0, 1) == earlier
    assert read_results(sequence.chain).complete


def test_the_shared_first_task_refuses_other_settings(sequence, capsys):
    """Another method's chain with other fit arguments would need another first task: refused, untouched."""
    before = sequence.stamps(0)
    argv = [*sequence.argv, "--trainer.max_epochs", "2"]
    argv[argv.index("cdiffgan")] = "finetune"
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "t1_ava: started with other settings (overrides: [" in error
    assert sequence.stamps(0) == before


def test_adapt_adds_one_speaker_to_a_trained_model(sequence, tmp_path, capsys, one_thread):
    """``cospeech adapt`` on task 1's model: one few-shot task, scored before (the base, ava) and after."""
    base = sequence.task(0) / "version_0"
    out = tmp_path / "adapt_ben"
    argv = ["adapt", "--base", str(base), "--speaker", "ben", "--k-shot", "4", "--method", "finetune"]
    argv += ["--out", str(out), "--preset", sequence.argv[sequence.argv.index("--preset") + 1]]
    argv += sequence.argv[sequence.argv.index("--data.root") :]
    assert main(argv) == 0
    assert "L1: before ava " in capsys.readouterr().out
    results = read_results(out)
    assert results.complete and results.tasks == ("t1_base", "t2_ben")
    assert _scored(results.matrices["L1"].values) == [[True, False], [True, True]]
    base_score = json.loads((sequence.task(0) / "done.json").read_text())["scores"]["ava"]["L1"]
    assert results.matrices["L1"].values[0, 0] == pytest.approx(
        base_score
    )  # the same model, the same windows
    config = yaml.safe_load((out / "t2_ben" / "version_0" / "config.yaml").read_text())
    assert config["data"]["replay"] == "none" and config["model"]["init_args"]["latent_shift"] is False
