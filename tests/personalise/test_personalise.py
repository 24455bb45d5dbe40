"""``cospeech personalise`` end to end with a tiny Mix-StAGE: a built-in speaker exported as a recording (mp4
with speech + OpenPose JSON) is imported, added to a base model of two other speakers with C-DiffGAN's replay,
scored next to the baselines, and then generated for by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tiny_runs import TINY_MIX_STAGE, TINY_TASK_TRAINER

from cospeech.cli.main import main
from cospeech.render.recording import export_recording

DATA = {"batch_size": 4, "window_hop": 16, "train_batches": 2}


def _tiny_files(work: Path) -> tuple[Path, Path]:
    """A base-model config (audio-only Mix-StAGE at width 16) and a preset whose task is 2 batches of 4."""
    base = work / "base.yaml"
    base.write_text(
        yaml.safe_dump(
            {
                "seed_everything": 1,
                "model": {"init_args": {"generator_config": TINY_MIX_STAGE}},
                "data": {**DATA, "text_key": None, "pose_clusters": 2},
                "trainer": TINY_TASK_TRAINER,
            }
        )
    )
    preset = work / "tiny.yaml"
    task = {
        "run": {"selection": "last"},
        "model": {
            "class_path": "cospeech.training.continual.ContinualRecipe",
            "init_args": {"shift_steps": 2},
        },
        "data": DATA,
        "trainer": TINY_TASK_TRAINER,
    }
    preset.write_text(
        yaml.safe_dump(
            {
                "speakers": ["ava", "ben"],
                "k_shot": 4,
                "seeds": [1],
                "config": "mix_stage",
                "first_task": {},
                "task": task,
            }
        )
    )
    return base, preset


@pytest.fixture(scope="module")
def personalised(synth_root, tmp_path_factory):
    from cospeech.training.engine import run_cli

    work = tmp_path_factory.mktemp("personalise")
    config, preset = _tiny_files(work)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_cli(
            ["fit", "--config", "mix_stage", "--config", str(config), "--data.speakers", '["ava", "ben"]',
             "--data.root", str(synth_root), "--data.cache_dir", str(work / "cache"),
             "--run.root", str(work / "runs"), "--run.name", "base"]
        )  # fmt: skip
        base = work / "runs" / "base" / "version_0"
        recording = export_recording(synth_root, "cleo", work / "recording", size=(160, 96))
        out = work / "maria"
        argv = ["personalise", "--recording", str(recording.folder), "--name", "maria", "--base", str(base)]
        argv += ["--out", str(out), "--preset", str(preset), "--data.cache_dir", str(work / "cache2")]
        argv += ["--mode", "adapt"]
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    return base, out, argv


def test_personalise_writes_a_model_that_knows_the_person(personalised, capsys):
    from cospeech.inference import GestureGenerator
    from cospeech.training.metadata import read_run

    _, out, _ = personalised
    model = out / "model"
    assert read_run(model).metadata.speakers == ("ava", "ben", "maria")
    summary = json.loads((out / "personalise.json").read_text())
    assert summary["data"]["train_seconds"] > 30 and summary["data"]["train_windows"] > 0
    assert summary["epochs"] == 3  # the budget rule: 3 × the tiny preset's 1 epoch at most
    assert set(summary["test"]) >= {"mix_stage", "mean_pose", "nearest_neighbour", "random_window"}
    assert all(np.isfinite(summary["test"][m]["L1"]) for m in summary["test"])
    assert set(summary["base_speakers_L1"]) == {"ava", "ben"}
    assert summary["seconds"]["total"] > 0
    speech = sorted((out / "corpus" / "raw" / "maria_cropped").glob("*.flac"))[-1]
    gestures = GestureGenerator.from_pretrained(model).generate(speech, speaker="maria")
    assert gestures.speaker == "maria" and len(gestures.poses) > 0 and np.isfinite(gestures.poses).all()


@pytest.fixture(scope="module")
def calibrated(personalised, tmp_path_factory):
    base, _, argv = personalised
    out = tmp_path_factory.mktemp("calibrated") / "maria"
    argv = [str(out) if a == str(argv_out(argv)) else a for a in argv]
    argv[argv.index("adapt")] = "calibrate"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    return base, out


def test_calibration_adds_the_person_without_training_and_leaves_the_base_speakers_alone(calibrated):
    from cospeech.inference import GestureGenerator
    from cospeech.training.metadata import read_run

    base, out = calibrated
    old, new = read_run(base), read_run(out / "model")
    assert new.metadata.speakers == ("ava", "ben", "maria")
    summary = json.loads((out / "personalise.json").read_text())
    assert (summary["mode"], summary["method"], summary["epochs"]) == ("calibrate", "calibrate", 0)
    assert summary["calibration"]["start_style"] in ("ava", "ben")
    assert all(v["before"] == v["after"] for v in summary["base_speakers_L1"].values())
    assert not (out / "adapt").exists()
    row = "generator.style_embedding.weight"
    assert {k for k in old.state_dict if not torch.equal(old.state_dict[k], new.state_dict[k])} == {row}
    changed = (old.state_dict[row] != new.state_dict[row]).any(dim=1)
    assert changed.nonzero().flatten().tolist() == [2]  # maria's row only
    for stats in ("mean", "std"):
        before, after = getattr(old.metadata.normalizer, stats), getattr(new.metadata.normalizer, stats)
        assert all(torch.equal(after[k][:2], before[k]) for k in before)  # the base speakers' rows
        assert not torch.allclose(after["pose"][2], before["pose"][0])  # maria's pose row was fitted
    speech = sorted((out / "corpus" / "raw" / "maria_cropped").glob("*.flac"))[-1]
    gestures = GestureGenerator.from_pretrained(out / "model").generate(speech, speaker="maria")
    assert gestures.speaker == "maria" and np.isfinite(gestures.poses).all()


def test_calibration_fits_statistics_that_map_a_known_style_onto_the_person(personalised):
    from cospeech.continual.calibration import fit_calibration
    from cospeech.inference.export import read_checkpoint

    base, *_ = personalised
    generator = read_checkpoint(base).build_generator().eval()
    audio = torch.randn(6, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ben = generator(audio, torch.ones(6, dtype=torch.long)).poses
    pose = 0.5 * ben + 3.0  # the person moves like ben at half the size, 3 σ off his mean
    mean, std = torch.linspace(-50, 50, ben.shape[-1]), torch.linspace(10, 20, ben.shape[-1])
    fitted = fit_calibration(generator, {"pose": pose, "audio": audio}, mean, std, 2, steps=5)
    assert fitted.start == 1  # ben's style fits, ava's does not
    assert (fitted.std > 0).all() and fitted.style.shape == (generator.config.style_dim,)
    table = generator.style_embedding.weight.detach().clone()
    table[2] = fitted.style
    with torch.no_grad():
        generator.style_embedding.weight.copy_(table)
        own = generator(audio, torch.full((6,), 2)).poses * fitted.std + fitted.mean
    assert torch.allclose(own, pose * std + mean, atol=0.1 * float(std.mean()))


def test_auto_mode_calibrates_under_a_minute_of_data_or_onto_a_base_of_many_speakers():
    from cospeech.continual.personalise import choose_mode

    modes = [choose_mode("auto", s, 4)[0] for s in (30.0, 59.9, 60.0, 600.0)]
    assert modes == ["calibrate"] * 2 + ["adapt"] * 2
    assert choose_mode("adapt", 30.0, 4)[0] == "adapt"
    assert choose_mode("calibrate", 600.0, 4)[0] == "calibrate"
    # onto a base of many speakers calibration at every budget (it beat the adaptation there with 2 min)
    assert [choose_mode("auto", 600.0, n)[0] for n in (24, 25, 48)] == ["adapt", "calibrate", "calibrate"]
    assert choose_mode("auto", 600.0, 48)[1] == "a base of 48 speakers"
    assert choose_mode("auto", 30.0, 48)[1] == "under 60 s of training data"
    assert choose_mode("adapt", 600.0, 48) == ("adapt", "--mode adapt")


def test_generate_command_takes_the_new_speaker(personalised, tmp_path):
    _, out, _ = personalised
    speech = sorted((out / "corpus" / "raw" / "maria_cropped").glob("*.flac"))[-1]
    argv = ["generate", str(speech), "--checkpoint", str(out / "model"), "--speaker", "maria"]
    assert main([*argv, "--out", str(tmp_path / "maria.npz")]) == 0


def test_a_taken_name_or_other_minutes_are_refused_and_a_rerun_trains_nothing(personalised, capsys):
    *_, argv = personalised
    assert main([a if a != "maria" else "ava" for a in argv]) == 1
    assert "--name ava: already a speaker of" in capsys.readouterr().err
    assert main([*argv, "--minutes", "0.5"]) == 1
    assert "the recording was imported with --minutes None, not 0.5" in capsys.readouterr().err
    checkpoints = {p: p.stat().st_mtime_ns for p in argv_out(argv).rglob("*.ckpt")}
    assert main(argv) == 0  # done markers: nothing retrained, the summary written again
    assert "using the imported recording" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in argv_out(argv).rglob("*.ckpt")} == checkpoints


def test_an_output_folder_of_something_else_or_another_recording_is_refused(personalised, tmp_path, capsys):
    *_, argv = personalised
    out = argv_out(argv)

    def with_out(new: Path) -> list[str]:
        return [str(new) if a == str(out) else a for a in argv]

    (tmp_path / "notes.txt").write_text("mine")
    assert main(with_out(tmp_path / "notes.txt")) == 1
    assert (
        capsys.readouterr()
        .err.splitlines()[0]
        .endswith("notes.txt: exists and is not a folder; choose another --out")
    )
    assert main(with_out(tmp_path)) == 1  # a folder of other things
    assert "holds notes.txt, not a personalise run's folders" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "corpus").exists()
    recording, other = argv[argv.index("--recording") + 1], tmp_path / "other"
    other.mkdir()
    for item in Path(recording).iterdir():  # the same files seen through another folder: another recording
        (other / item.name).symlink_to(item)
    assert main([str(other) if a == recording else a for a in argv]) == 1
    assert "use another --out" in capsys.readouterr().err.splitlines()[0]


def test_a_rerun_after_an_import_interrupted_before_its_report_imports_again(personalised, capsys):
    *_, argv = personalised
    report = argv_out(argv) / "corpus" / "import_maria.json"
    report.unlink()  # interrupted after the intervals table, before the report
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "importing" in printed and "this run only" not in printed and report.is_file()
    assert main(argv) == 0
    assert "(this run only: it carried on from an earlier run in this --out)" in capsys.readouterr().out


def argv_out(argv: list[str]) -> Path:
    return Path(argv[argv.index("--out") + 1])


def test_a_recording_folder_is_read_as_keypoints_and_one_speech_file(tmp_path):
    from cospeech.continual.personalise import find_recording
    from cospeech.errors import DataError

    (tmp_path / "talk.json").write_text("[]")  # one COCO-WholeBody prediction file
    with pytest.raises(DataError, match="no video .* or audio file with the speech"):
        find_recording(tmp_path)
    (tmp_path / "talk.wav").write_bytes(b"")
    found = find_recording(tmp_path)
    assert (found.keypoints, found.audio, found.video) == (
        tmp_path / "talk.json",
        tmp_path / "talk.wav",
        None,
    )
    (tmp_path / "keypoints").mkdir()
    (tmp_path / "talk.mp4").write_bytes(b"")
    found = find_recording(tmp_path)  # an OpenPose folder; the video's track is preferred to the audio file
    assert (found.keypoints, found.audio, found.video) == (
        tmp_path / "keypoints",
        None,
        tmp_path / "talk.mp4",
    )
    (tmp_path / "other.mov").write_bytes(b"")
    with pytest.raises(DataError, match="several speech files"):
        find_recording(tmp_path)


def test_the_summary_says_when_minutes_asked_exceed_the_recording():
    from cospeech.continual.personalise import summary_lines

    data = {"train_seconds": 90.0, "test_seconds": 20.0, "train_windows": 250, "minutes_asked": 10.0}
    summary = {"speaker": "maria", "model": "m", "test": {}, "base_speakers_L1": None, "resumed": False}
    summary["epochs"] = 4
    summary["seconds"] = {"import": 1.0, "train": 2.0, "evaluate": 3.0, "total": 6.0}
    first = summary_lines({**summary, "data": {**data, "all_train_used": True}})[0]
    assert first == (
        "data: 1.5 min of training (250 windows, 4 epochs), 20 s held out for test "
        "(--minutes 10 asked: the recording has no more)"
    )
    assert "asked" not in summary_lines({**summary, "data": {**data, "all_train_used": False}})[0]
    assert "asked" not in summary_lines({**summary, "data": {**data, "minutes_asked": None}})[0]
    # under 2 min the summary says what to expect of so little data, and how many speakers the base knows
    summary["base_speakers_L1"] = {s: {"before": 0.3, "after": 0.3} for s in ("ava", "ben", "cleo")}
    little = summary_lines({**summary, "data": {**data, "train_seconds": 30.0}})
    assert any("how many speakers the base learnt from (this one: 3)" in line for line in little)
    enough = summary_lines({**summary, "data": {**data, "train_seconds": 120.0}})
    assert not any("how many speakers" in line for line in enough)
    # a base of many speakers: their mean and the largest increase, not a line of 40 names
    many = {f"s{i}": {"before": 0.3, "after": 0.3 + (0.01 if i == 7 else 0.0)} for i in range(40)}
    lines = summary_lines({**summary, "data": data, "base_speakers_L1": many})
    (base_line,) = [line for line in lines if line.startswith("base speakers")]
    assert base_line == (
        "base speakers' test L1 before → after (40 speakers): mean 0.3 → 0.3003, "
        "largest increase s7 0.3 → 0.31 (all in personalise.json)"
    )


def test_the_adaptation_budget_grows_with_the_data_within_bounds():
    from cospeech.continual.personalise import adaptation_epochs
    from cospeech.continual.runner import load_preset
    from cospeech.errors import ConfigError

    preset = load_preset("synth_small")  # 4 epochs × 20 batches; the 5th speaker gets 6 rows of 32
    assert [adaptation_epochs(preset, w, 5) for w in (78, 348, 1788)] == [4, 8, 12]  # 30 s, 2 min, 10 min
    assert adaptation_epochs(preset, 348, 5, ["--data.train_batches=40"]) == 4  # twice the rows per epoch
    assert adaptation_epochs(preset, 1788, 5, ["--trainer.max_epochs", "6"]) == 6  # the user's word wins
    bare = type(preset)(**{**preset.__dict__, "task": {"data": {"batch_size": 32}}})
    with pytest.raises(ConfigError, match="the task sets no data.train_batches"):
        adaptation_epochs(bare, 78, 5)


def _calibrated_argv(personalised, calibrated) -> list[str]:
    *_, argv = personalised
    _, out = calibrated
    argv = [str(out) if a == str(argv_out(argv)) else a for a in argv]
    argv[argv.index("adapt")] = "calibrate"
    return argv


def test_a_calibrated_person_is_scored_in_the_space_of_their_data_as_an_adapted_one_is(
    personalised, calibrated, tmp_path
):
    from cospeech.evaluation import evaluate
    from cospeech.training.checkpoints import load_checkpoint
    from cospeech.training.metadata import METADATA_KEY, read_run

    (_, adapted_out, _), (_, out) = personalised, calibrated
    adapted, calibrated_run = read_run(adapted_out / "model"), read_run(out / "model")
    row = calibrated_run.metadata.calibrated["maria"]  # the row of maria's data, kept beside the fitted one
    assert torch.allclose(row["mean"], adapted.metadata.normalizer.mean["pose"][2])
    assert torch.allclose(row["std"], adapted.metadata.normalizer.std["pose"][2])
    tables = [json.loads((o / "personalise.json").read_text())["test"] for o in (adapted_out, out)]
    for baseline in ("mean_pose", "nearest_neighbour", "random_window"):  # the same windows, the same space
        assert tables[0][baseline] == pytest.approx(tables[1][baseline])
    # the model's output is mapped into that space, not changed: its PCK (pixels) is that of the fitted row
    checkpoint = load_checkpoint(out / "model" / "checkpoints" / "last.ckpt")
    checkpoint[METADATA_KEY]["calibrated"] = {}  # scored in the fitted row itself, as before
    torch.save(checkpoint, tmp_path / "own_row.ckpt")
    own = evaluate(tmp_path / "own_row.ckpt", speakers=["maria"], cache_dir=str(tmp_path / "cache"))
    assert own.scores["mix_stage"]["maria"]["PCK"] == pytest.approx(tables[1]["mix_stage"]["PCK"])
    assert own.scores["mix_stage"]["maria"]["L1"] != pytest.approx(tables[1]["mix_stage"]["L1"], rel=0.1)


def test_a_calibrated_run_cannot_start_training_but_takes_another_calibration(
    personalised, calibrated, synth_root, tmp_path, capsys
):
    from cospeech.training.metadata import read_run

    base, _, argv = personalised
    _, out = calibrated
    model = out / "model"
    again = [model if a == str(base) else a for a in argv]
    again = [str(a) for a in again]
    again[again.index("--name") + 1] = "joe"
    on_calibrated = [str(tmp_path / "joe") if a == str(argv_out(argv)) else a for a in again]
    assert main(on_calibrated) == 1  # --mode adapt: training would refit maria's statistics
    line = capsys.readouterr().err.splitlines()[0]
    assert f"--base {model}: maria calibrated, not trained" in line and "losing the calibration" in line
    assert not (tmp_path / "joe").exists()
    adapt = ["continual", "--base", str(model), "--speakers", "ava,ben,maria,cleo", "--method", "cdiffgan"]
    assert main([*adapt, "--out", str(tmp_path / "chain"), "--data.root", str(synth_root)]) == 1
    assert "maria calibrated, not trained" in capsys.readouterr().err
    work = base.parents[2]
    fit = ["fit", "--config", "mix_stage", "--config", str(work / "base.yaml"),
           "--data.root", str(synth_root), "--data.speakers", '["ava", "ben"]',
           "--data.cache_dir", str(work / "cache"), "--run.root", str(tmp_path / "runs")]  # fmt: skip
    assert main([*fit, "--model.init_args.init_from", str(model)]) == 1
    assert "init_from" in capsys.readouterr().err and not list((tmp_path / "runs").rglob("*.ckpt"))
    fit[fit.index("--data.root") + 1] = str(out / "corpus")  # the data the calibrated run knows
    fit[fit.index("--data.speakers") + 1] = '[["ava", "ben"], ["ava", "ben", "maria"]]'
    ckpt = ["--data.normalization", "source", "--ckpt_path", str(model / "checkpoints" / "last.ckpt")]
    assert main(["test", *fit[1:], *ckpt]) == 1  # Lightning's test would score maria in the wrong row
    assert "score it with cospeech evaluate" in capsys.readouterr().err
    calibrate = on_calibrated[:]
    calibrate[calibrate.index("adapt")] = "calibrate"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(calibrate) == 0  # a second calibration keeps the first one's rows
    finally:
        torch.set_num_threads(threads)
    old, new = read_run(model).metadata, read_run(tmp_path / "joe" / "model").metadata
    assert new.speakers == ("ava", "ben", "maria", "joe") and set(new.calibrated) == {"maria", "joe"}
    assert torch.equal(new.normalizer.mean["pose"][:3], old.normalizer.mean["pose"])
    assert torch.equal(new.normalizer.std["pose"][:3], old.normalizer.std["pose"])
    assert torch.equal(new.calibrated["maria"]["mean"], old.calibrated["maria"]["mean"])


def test_a_base_without_a_free_style_row_or_an_out_of_the_other_mode_is_refused(
    personalised, calibrated, tmp_path, capsys
):
    from cospeech.training.checkpoints import load_checkpoint
    from cospeech.training.metadata import METADATA_KEY

    base, *_ = personalised
    argv = _calibrated_argv(personalised, calibrated)
    checkpoint = load_checkpoint(base / "checkpoints" / "last.ckpt")
    checkpoint[METADATA_KEY]["model"]["config"]["max_num_speakers"] = 2  # the style table holds ava, ben
    full = tmp_path / "full.ckpt"
    torch.save(checkpoint, full)
    refused = [str(full) if a == str(base) else a for a in argv]
    refused[refused.index("--out") + 1] = str(tmp_path / "out")
    assert main(refused) == 1
    error = capsys.readouterr().err
    assert f"--base {full}: its style table has 2 rows, all taken by ['ava', 'ben']" in error
    argv[argv.index("calibrate")] = "adapt"  # the calibrated run's --out, now adapting
    assert main(argv) == 1
    line = capsys.readouterr().err.splitlines()[0]
    out = argv_out(argv)
    assert line.endswith(
        f"holds the calibrated model of maria ({out / 'calibrated'}), which adapting would replace behind "
        f"{out / 'model'}: use another --out"
    )
    assert not (argv_out(argv) / "adapt").exists()


def test_calibration_names_the_options_it_does_not_use():
    from cospeech.continual.personalise import unused_by_calibration

    overrides = ["--data.cache_dir", "c", "--trainer.max_epochs", "8", "--data.cache_dir=d", "--data.k=1"]
    assert unused_by_calibration(overrides, "cdiffgan", "synth_small") == [
        "--trainer.max_epochs",
        "8",
        "--data.k=1",
    ]
    assert unused_by_calibration(["--data.cache_dir", "c"], "finetune", "tiny.yaml") == [
        "--method",
        "finetune",
        "--preset",
        "tiny.yaml",
    ]
