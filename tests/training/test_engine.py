"""The run engine end to end: real Lightning runs on the built-in corpus, on the CPU."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from engine_runs import engine_args
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader

from cospeech.data.datamodule import PatsDataModule
from cospeech.errors import CheckpointError, ConfigError
from cospeech.training.adversarial import AdversarialRecipe
from cospeech.training.callbacks import DEV_VIDEO_SIZE
from cospeech.training.checkpoints import load_checkpoint, resolve_checkpoint
from cospeech.training.engine import run_cli
from cospeech.training.metadata import read_run


def generator_state(source) -> dict[str, torch.Tensor]:
    state = load_checkpoint(source)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("generator.")}


def test_a_few_steps_change_weights_and_lower_the_loss_on_a_fixed_batch(synth_root, tmp_path):
    dm = PatsDataModule(str(synth_root), ["ava"], batch_size=8, cache_dir=str(tmp_path))
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    module = AdversarialRecipe(discriminator=None, lr=1e-3)
    module.build(dm.spec, dm.normalizer)
    before = {k: v.clone() for k, v in module.generator.state_dict().items()}

    def l1() -> float:  # batch statistics: running BN statistics lag behind after a dozen steps
        module.generator.train()
        with torch.no_grad():
            return (module(batch).poses - batch["pose"]).abs().mean().item()

    start = l1()
    trainer = L.Trainer(max_epochs=8, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)  # fmt: skip
    trainer.fit(module, train_dataloaders=DataLoader([batch], batch_size=None))
    assert l1() < 0.8 * start
    changed = [k for k, v in module.generator.state_dict().items() if not torch.equal(v, before[k])]
    assert any("audio_encoder" in k for k in changed) and any("decoder" in k for k in changed)


def test_run_directory_holds_config_checkpoints_and_metrics(tiny_config, tmp_path):
    run_cli(["fit", *tiny_config, "--run.dev_video_frames", "6"])
    run = tmp_path / "runs" / "tiny" / "version_0"
    assert (run / "config.yaml").is_file()
    assert resolve_checkpoint(run).name == "best.ckpt"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    history = json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    final = json.loads((run / "final_metrics.json").read_text())
    assert final["last"] == history[-1]
    best_epoch = load_checkpoint(run / "checkpoints" / "best.ckpt")["epoch"]
    assert final["selected"] == {**history[best_epoch], "checkpoint": "best.ckpt"}
    for key in ("dev/L1", "dev/PCK", "dev/ava/L1", "dev/ben/FID", "train/l1"):
        assert key in final["last"] and key in final["selected"]
    events = EventAccumulator(str(next(run.glob("events.out.tfevents.*"))))
    events.Reload()
    assert "dev/real_top_generated_bottom" in events.Tags()["images"]
    videos = events.Images("dev/video_real_left_generated_right")
    assert sorted({v.step for v in videos}) == [0, 1]  # after each dev evaluation (and the sanity check)
    with Image.open(io.BytesIO(videos[-1].encoded_image_string)) as gif:
        assert (gif.format, gif.n_frames, gif.size) == ("GIF", 6, DEV_VIDEO_SIZE)
    assert "train/l1" in events.Tags()["scalars"] and "dev/PCK" in events.Tags()["scalars"]
    meta = read_run(run).metadata
    assert meta.model.name == "speech2gesture" and meta.speakers == ("ava", "ben")
    assert meta.model.config["pose_dim"] == 96  # from the data: pats48
    assert meta.components["discriminator"].prefix == "discriminator."
    assert meta.recipe == "cospeech.training.adversarial.AdversarialRecipe"
    assert meta.normalizer.mean["pose"].shape == (2, 96)


@pytest.fixture(scope="module")
def straight_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``last.ckpt`` of the uninterrupted two-epoch tiny run (CPU) that the resume tests compare against."""
    workdir = tmp_path_factory.mktemp("straight")
    run_cli(["fit", *engine_args(workdir, synth_root), "--run.name", "straight"])
    return workdir / "runs" / "straight" / "version_0" / "checkpoints" / "last.ckpt"


def assert_same_run(resumed_last: Path, straight_last: Path) -> None:
    """Same epoch, step and bit-identical generator weights."""
    resumed, straight = load_checkpoint(resumed_last), load_checkpoint(straight_last)
    assert (resumed["epoch"], resumed["global_step"]) == (straight["epoch"], straight["global_step"])
    resumed_g, straight_g = generator_state(resumed_last), generator_state(straight_last)
    assert resumed_g.keys() == straight_g.keys()
    for key, value in straight_g.items():
        torch.testing.assert_close(resumed_g[key], value, rtol=0, atol=0, msg=key)


def test_resume_reproduces_the_uninterrupted_run_exactly(straight_run, tiny_config, tmp_path):
    """Mode checked: CPU (exact without ``--trainer.deterministic``; the GPU variant below sets it)."""
    run_cli(["fit", *tiny_config, "--run.name", "split", "--trainer.max_epochs", "1"])
    split_last = tmp_path / "runs" / "split" / "version_0" / "checkpoints" / "last.ckpt"
    run_cli(["fit", *tiny_config, "--run.name", "elsewhere", "--ckpt_path", str(split_last)])
    assert not (tmp_path / "runs" / "split" / "version_1").exists()  # resumed in place, whatever run.name is
    assert not (tmp_path / "runs" / "elsewhere").exists()
    assert_same_run(split_last, straight_run)


def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(straight_run, tiny_config, tmp_path):
    """``kill -9`` of a real ``cospeech fit`` process as soon as its first ``last.ckpt`` appears, then a
    resume from that file. Mode checked: CPU. The killed process was asked for more epochs than the
    comparison so it cannot finish first; the resume stops at the same epoch as the uninterrupted run."""
    run = tmp_path / "runs" / "killed" / "version_0"
    last = run / "checkpoints" / "last.ckpt"
    log = tmp_path / "killed.log"
    command = [sys.executable, "-m", "cospeech.cli.main", "fit", *tiny_config, "--run.name", "killed",
               "--trainer.max_epochs", "6"]  # fmt: skip
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 240
        while not last.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    assert load_checkpoint(last)["epoch"] < 5  # a complete file, written before the kill
    run_cli(["fit", *tiny_config, "--run.name", "killed", "--ckpt_path", str(last)])
    assert sorted(p.name for p in last.parent.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert_same_run(last, straight_run)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_a_gpu_is_exact_with_deterministic_kernels(tiny_config, tmp_path):
    """Mode checked: one CUDA device with ``--trainer.deterministic true``, the documented option for
    exact resume on a GPU (without it cuDNN/cuBLAS pick non-deterministic kernels and the weights differ
    from the first step)."""
    gpu = ["--trainer.accelerator", "gpu", "--trainer.devices", "1", "--trainer.deterministic", "true"]
    run_cli(["fit", *tiny_config, *gpu, "--run.name", "straight"])
    run_cli(["fit", *tiny_config, *gpu, "--run.name", "split", "--trainer.max_epochs", "1"])
    split_last = tmp_path / "runs" / "split" / "version_0" / "checkpoints" / "last.ckpt"
    run_cli(["fit", *tiny_config, *gpu, "--ckpt_path", str(split_last)])
    assert_same_run(split_last, tmp_path / "runs" / "straight" / "version_0" / "checkpoints" / "last.ckpt")


def test_pretrain_from_loads_weights_only(tiny_config, tmp_path):
    run_cli(["fit", *tiny_config, "--run.name", "source", "--trainer.max_epochs", "1"])
    source = tmp_path / "runs" / "source" / "version_0"
    cli = run_cli(
        ["fit", *tiny_config, "--run.name", "target", "--trainer.max_epochs", "0",
         "--model.init_args.init_from", str(source)]
    )  # fmt: skip
    assert cli.trainer.current_epoch == 0 and cli.trainer.global_step == 0
    weights = generator_state(source)
    for key, value in cli.model.state_dict().items():
        if key in weights:
            torch.testing.assert_close(value, weights[key], rtol=0, atol=0)


def test_pretrain_from_another_recipe_loads_the_generator_and_starts_the_rest_fresh(tiny_config, tmp_path):
    run_cli(["fit", *tiny_config, "--run.name", "l1", "--trainer.max_epochs", "1",
             "--model.init_args.discriminator", "null"])  # fmt: skip
    source = tmp_path / "runs" / "l1" / "version_0"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        cli = run_cli(["fit", *tiny_config, "--run.name", "gan", "--trainer.max_epochs", "0",
                       "--model.init_args.init_from", str(source)])  # fmt: skip
    assert [w for w in caught if "discriminator start(s) fresh" in str(w.message)]
    for key, value in generator_state(source).items():
        torch.testing.assert_close(cli.model.state_dict()[key], value, rtol=0, atol=0)


def test_pretrain_from_a_mismatched_model_is_a_clear_error(tiny_config, tmp_path):
    run_cli(["fit", *tiny_config, "--run.name", "source", "--trainer.max_epochs", "1"])
    source = tmp_path / "runs" / "source" / "version_0"
    with pytest.raises(CheckpointError, match="weights do not fit init_from generator speech2gesture"):
        run_cli(["fit", *tiny_config, "--run.name", "bad", "--model.init_args.generator_config",
                 "{channels: 128}", "--model.init_args.init_from", str(source)])  # fmt: skip
    with pytest.raises(CheckpointError, match="the data does not match the model \\(speakers: trained"):
        run_cli(["test", "--config", str(source / "config.yaml"), "--data.speakers", "[ava]",
                 "--ckpt_path", str(source / "checkpoints" / "last.ckpt")])  # fmt: skip
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.ckpt")


def test_bad_configs_are_rejected_with_the_key_named(tiny_config, capsys):
    with pytest.raises(SystemExit):
        run_cli(["fit", *tiny_config, "--model.init_args.learning_rate", "0.1"])
    assert "learning_rate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(["fit", *tiny_config, "--trainer.max_epochs", "many"])
    assert "max_epochs" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown model 'speech3gesture'"):
        run_cli(["fit", *tiny_config, "--model.init_args.generator", "speech3gesture"])
    with pytest.raises(ConfigError, match="no config key 'width'"):
        run_cli(["fit", *tiny_config, "--model.init_args.generator_config", "{width: 3}"])
    with pytest.raises(ConfigError, match="is a discriminator, not a generator"):
        run_cli(["fit", *tiny_config, "--model.init_args.generator", "motion_discriminator"])


@pytest.mark.parametrize(
    ("config", "key", "value", "message"),
    [
        ("speech2gesture", "generator", "speech3gesture", "unknown model 'speech3gesture'"),
        ("speech2gesture", "generator_config", "{bogus: 1}", "no config key 'bogus'"),
        ("speech2gesture", "discriminator_config", "{width: 3}", "no config key 'width'"),
        ("speech2gesture", "discriminator", "speech2gesture", "is a generator, not a discriminator"),
        ("pose_autoencoder", "autoencoder_config", "{latent: 8}", "no config key 'latent'"),
    ],
)
@pytest.mark.parametrize("flag", ["--print_config", "--print_config=skip_default"])
def test_print_config_rejects_unknown_models_and_keys_before_printing(
    config, key, value, message, flag, capsys
):
    with pytest.raises(ConfigError, match=message):
        run_cli(["fit", "--config", config, f"--model.init_args.{key}", value, flag])
    assert capsys.readouterr().out == ""


def test_print_config_still_prints_valid_configs_and_a_template_without_a_model(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", "speech2gesture", "--model.init_args.generator_config", "{channels: 64}",
                 "--print_config"])  # fmt: skip
    assert exit_info.value.code in (0, None)
    assert "generator_config:\n      channels: 64\n" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--print_config"])
    assert exit_info.value.code in (0, None)
    assert "\nmodel: null\n" in capsys.readouterr().out


def test_coin_flips_depend_only_on_seed_and_step():
    a, b = AdversarialRecipe(seed=3), AdversarialRecipe(seed=3)
    flips = [a.discriminator_turn(s) for s in range(200)]
    assert flips == [b.discriminator_turn(s) for s in range(200)]
    assert 0.35 < sum(flips) / len(flips) < 0.65
    alternate = AdversarialRecipe(adversarial_schedule="alternate", dg_iter_ratio=2)
    assert [alternate.discriminator_turn(s) for s in range(6)] == [True, True, False, True, True, False]
    assert not AdversarialRecipe(discriminator=None).discriminator_turn(0)
