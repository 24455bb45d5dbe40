"""TemplateRecipe (SDT-BP, SDT-VAE) on tiny runs of the built-in corpus in the SDT clip layout (hierarchical
poses, SDT's mel), and test-time templates: the learned bank, the VAE's μ bank and its record, SDT's
schedule, and one seeded template per utterance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import soundfile
import torch
import yaml

from cospeech.audio import SAMPLE_RATE
from cospeech.cli.main import main
from cospeech.data.datamodule import PatsDataModule
from cospeech.errors import CheckpointError, ConfigError
from cospeech.evaluation import evaluate
from cospeech.inference import GestureGenerator, export_model
from cospeech.inference.clips import render_clips
from cospeech.inference.templates import template_inputs
from cospeech.training.autoencoder import load_autoencoder
from cospeech.training.checkpoints import load_checkpoint
from cospeech.training.continual import weights_sha256
from cospeech.training.engine import CONFIG_DIR, run_cli
from cospeech.training.metadata import read_run
from cospeech.training.templates import TEMPLATE_VAE, template_kl

pytestmark = pytest.mark.usefixtures("one_thread")

NARROW = {"channels": 16}
"""A narrow SDT generator (on SDT's ``audio/mel_80``): the recipe's wiring is under test."""


def _fit(
    workdir: Path,
    synth_root: Path,
    name: str,
    model: dict[str, Any],
    seed: int = 0,
    representation: str = "hierarchical",
    **trainer: Any,
) -> Path:
    config = {
        "seed_everything": seed,
        "run": {"name": name, "root": str(workdir / "runs")},
        "model": model,
        "data": {
            "root": str(synth_root),
            "speakers": ["ava"],
            "batch_size": 4,
            "format": "sdt",
            "representation": representation,
            "normalization": "per_speaker",
            "audio_key": "audio/mel_80",
            "audio_level": "none",
            "cache_dir": str(workdir.parent / "cache"),
        },
        "trainer": {
            "max_epochs": 1,
            "limit_train_batches": 2,
            "limit_val_batches": 1,
            "num_sanity_val_steps": 0,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
            **trainer,
        },
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    run_cli(["fit", "--config", str(path)])
    return workdir / "runs" / name / "version_0"


def _recipe(**init_args: Any) -> dict[str, Any]:
    return {
        "class_path": "cospeech.training.templates.TemplateRecipe",
        "init_args": {"generator": "sdt", "generator_config": NARROW, **init_args},
    }


def _vae(workdir: Path, synth_root: Path, name: str, seed: int, representation: str = "hierarchical") -> Path:
    """A tiny variational pose auto-encoder run (one batch)."""
    model = {
        "class_path": "cospeech.training.autoencoder.PoseAutoencoderModule",
        "init_args": {"autoencoder_config": {"variational": True, "channels": 16}},
    }
    return _fit(
        workdir, synth_root, name, model, seed=seed, representation=representation, limit_train_batches=1
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("templates")
    (root / "runs").mkdir()
    return root / "runs"


@pytest.fixture(scope="module")
def bp_run(workdir: Path, sdt_synth_root: Path) -> Path:
    """SDT-BP, 3 epochs of 2 batches, templates at 10× the lr, SDT's multistep schedule."""
    return _fit(
        workdir, sdt_synth_root, "sdt_bp", _recipe(templates="learned", template_lr_scale=10.0), max_epochs=3
    )


@pytest.fixture(scope="module")
def pose_vae(workdir: Path, sdt_synth_root: Path) -> Path:
    return _vae(workdir, sdt_synth_root, "pose_vae", seed=0)


def test_template_kl_is_the_batch_statistics_kl_and_skipped_without_variance() -> None:
    templates = torch.tensor([[0.0, 1.0], [2.0, 1.5], [1.0, 4.0]])
    m, v = templates.mean(0), templates.var(0)  # unbiased, as the reference
    expected = (0.5 * (-torch.log(v) + m**2 + v - 1)).mean()
    torch.testing.assert_close(template_kl(templates), expected)
    assert template_kl(torch.zeros(4, 2)) is None  # the zero-initialised bank: skipped
    assert template_kl(torch.tensor([[1.0, 2.0], [1.0, 3.0]])) is None  # one dimension without variance
    # N(0, I) templates score ≈ 0
    assert abs(float(template_kl(torch.randn(20000, 8, generator=torch.Generator().manual_seed(0))))) < 1e-3


def test_sdt_bp_learns_the_rows_of_the_windows_it_trained_on(bp_run: Path) -> None:
    stored = read_run(bp_run)
    bank = stored.state_dict["generator.templates"]
    N = stored.metadata.data.train_windows
    assert bank.shape == (N, 32) and stored.metadata.model.config["train_windows"] == N
    touched = int((bank.abs().sum(1) > 0).sum())
    assert 4 <= touched <= 3 * 2 * 4 < N  # 3 epochs × 2 batches × 4 windows; the others stay zero
    checkpoint = load_checkpoint(bp_run / "checkpoints" / "last.ckpt")
    network, templates = checkpoint["optimizer_states"][0]["param_groups"]
    # max_epochs 3: milestones [E − 10, E − 2] = [1] (E − 10 never comes): ×0.1 after epoch 1
    assert network["lr"] == pytest.approx(1e-5) and templates["lr"] == pytest.approx(1e-4)
    assert len(templates["params"]) == 1


@pytest.mark.parametrize("reference", [False, True], ids=["shipped", "reference"])
def test_sdt_bp_config_learns_its_bank_at_lr_times_template_lr_scale(
    workdir: Path, sdt_synth_root: Path, reference: bool
) -> None:
    """``configs/sdt_bp.yaml`` as shipped, and with the reference's ``template_lr_scale: 1`` (compatibility):
    the saved run config keeps the values, and the bank's Adam group runs at ``lr · template_lr_scale``."""
    config = CONFIG_DIR / "sdt_bp.yaml"
    shipped = yaml.safe_load(config.read_text())["model"]["init_args"]
    compatible = ["--model.init_args.template_lr_scale", "1.0"] if reference else []
    root = workdir / f"shipped_{reference}"
    run_cli([
        "fit", "--config", str(config), *compatible,
        "--data.root", str(sdt_synth_root), "--data.batch_size", "4",
        "--data.cache_dir", str(workdir.parent / "cache"), "--run.root", str(root),
        "--model.init_args.generator_config", json.dumps({"template_dim": 32, **NARROW}),
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
    ])  # fmt: skip
    run = root / "sdt_bp" / "version_0"
    scale = 1.0 if reference else shipped["template_lr_scale"]
    saved = yaml.safe_load((run / "config.yaml").read_text())["model"]["init_args"]
    assert saved["template_lr_scale"] == scale
    assert saved["template_kl_weight"] == shipped["template_kl_weight"]
    checkpoint = load_checkpoint(run / "checkpoints" / "last.ckpt")
    network, templates = checkpoint["optimizer_states"][0]["param_groups"]
    # max_epochs 1: SDT's milestones [E − 10, E − 2] never come, the lr is the configured one
    assert network["lr"] == pytest.approx(shipped["lr"])
    assert templates["lr"] == pytest.approx(shipped["lr"] * scale)


def test_sdt_vae_bank_is_the_vae_mu_of_each_window_and_stays_fixed(
    workdir: Path, sdt_synth_root: Path, pose_vae: Path
) -> None:
    run = _fit(workdir, sdt_synth_root, "sdt_vae", _recipe(templates="vae", pose_vae=str(pose_vae)))
    bank = read_run(run).state_dict["generator.templates"]
    vae, _ = load_autoencoder(str(pose_vae))
    cache = str(workdir.parent / "cache")
    dm = PatsDataModule(
        str(sdt_synth_root), ["ava"], format="sdt", representation="hierarchical",
        normalization="per_speaker", batch_size=4, audio_key="audio/mel_80", audio_level="none",
        cache_dir=cache,
    )  # fmt: skip
    dm.setup("fit")
    batch = dm.datasets["train"].__getitems__([0, 5, len(bank) - 1])
    with torch.no_grad():
        expected = vae.encode(batch["pose"])
    torch.testing.assert_close(bank[batch["index"]], expected)  # after training: unchanged
    record = read_run(run).metadata.provenance[TEMPLATE_VAE]
    assert record == {"path": str(read_run(pose_vae).path), "sha256": weights_sha256(vae)}
    exported = export_model(run, workdir / "sdt_vae_export")  # the export names its templates' VAE too
    assert json.loads((exported / "config.json").read_text())["metadata"]["provenance"] == {
        TEMPLATE_VAE: record
    }


def test_a_resume_after_the_pose_vae_changed_is_refused(
    workdir: Path, sdt_synth_root: Path, pose_vae: Path
) -> None:
    vae = workdir / "vae_copy"
    shutil.copytree(pose_vae, vae)
    run = _fit(workdir, sdt_synth_root, "sdt_vae_resume", _recipe(templates="vae", pose_vae=str(vae)))
    other = _vae(workdir, sdt_synth_root, "other_vae", seed=1)
    for name in ("best.ckpt", "last.ckpt"):  # the VAE run retrained in place
        shutil.copy(other / "checkpoints" / name, vae / "checkpoints" / name)
    config = workdir / "sdt_vae_resume.yaml"
    resume = ["--trainer.max_epochs", "2", "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]
    with pytest.raises(CheckpointError, match=r"its templates come from pose VAE .* but this run's pose_vae"):
        run_cli(["fit", "--config", str(config), *resume])


def test_vae_templates_need_a_pose_vae_of_this_runs_model_space(
    workdir: Path, sdt_synth_root: Path, pose_vae: Path
) -> None:
    with pytest.raises(ConfigError, match=r"templates=vae takes its templates from a pose VAE"):
        _fit(workdir, sdt_synth_root, "no_vae", _recipe(templates="vae"))
    flat = _vae(workdir, sdt_synth_root, "flat_vae", seed=0, representation="z_flat")
    with pytest.raises(ConfigError, match=r"representation: auto-encoder z_flat, this run hierarchical"):
        _fit(workdir, sdt_synth_root, "mixed", _recipe(templates="vae", pose_vae=str(flat)))
    with pytest.raises(ConfigError, match=r"code size: VAE 32, this run 8"):
        narrow = _recipe(templates="vae", pose_vae=str(pose_vae))
        narrow["init_args"]["generator_config"] = {**NARROW, "template_dim": 8}
        _fit(workdir, sdt_synth_root, "narrow", narrow)


def test_ftd_needs_a_pose_vae_of_the_scored_runs_model_space(
    workdir: Path, sdt_synth_root: Path, bp_run: Path
) -> None:
    """FGD on a VAE of global poses for a hierarchical run would encode poses of another representation."""
    flat = _vae(workdir, sdt_synth_root, "flat_vae_ftd", seed=0, representation="z_flat")
    refused = r"flat_vae_ftd/.*: the pose auto-encoder .* \(representation: auto-encoder z_flat"
    with pytest.raises(ConfigError, match=refused):
        evaluate(bp_run, fgd_extractor=flat, cache_dir=str(workdir.parent / "cache"))


def test_one_template_per_utterance_seeded_and_diverse(bp_run: Path) -> None:
    pipe = GestureGenerator.from_pretrained(bp_run)
    seen: list[torch.Tensor] = []
    pipe.generator.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["template"].clone()), with_kwargs=True
    )
    audio = np.random.default_rng(0).standard_normal((135, pipe.metadata.data.audio_dim)).astype(np.float32)

    def poses(**kwargs: Any) -> np.ndarray:
        return pipe.generate_features(audio, speaker="ava", **kwargs)

    bank = pipe.generator.templates
    first = poses(inputs=template_inputs(pipe.generator, seed=3))
    # 135 frames → 3 windows in one batch, one template for all of them: a random training window's row
    assert seen[-1].shape == (3, 32) and torch.equal(seen[-1], seen[-1][:1].expand(3, 32))
    drawn = int(torch.randint(len(bank), (1,), generator=torch.Generator().manual_seed(3)))
    assert torch.equal(seen[-1][0], bank[drawn])
    np.testing.assert_array_equal(poses(inputs=template_inputs(pipe.generator, seed=3)), first)
    prior = poses(inputs=template_inputs(pipe.generator, seed=3, source="prior"))  # N(0, I)
    others = [poses(inputs=template_inputs(pipe.generator, seed=s, source="prior")) for s in (4, 5)]
    assert all(np.abs(o - prior).mean() > 1e-3 for o in others)  # other templates, other gestures
    poses(seed=7)  # no template given: drawn once from the pipeline's seed, a row of the bank
    assert torch.equal(seen[-1], seen[-1][:1].expand(3, 32)) and bool((bank == seen[-1][0]).all(1).any())
    row = int(torch.nonzero(bank.abs().sum(1))[0, 0])
    poses(inputs=template_inputs(pipe.generator, window=row))
    assert torch.equal(seen[-1][0], bank[row])
    with pytest.raises(ConfigError, match="not both"):
        template_inputs(pipe.generator, seed=1, window=row)
    with pytest.raises(ConfigError, match="goes with a seed, not with a training window"):
        template_inputs(pipe.generator, window=row, source="prior")
    with pytest.raises(ConfigError, match=r"has no per-utterance input \['style'\]"):
        poses(inputs={"style": torch.zeros(1)})


def test_generate_cli_takes_a_template_seed_prior_or_window_and_the_export_keeps_the_bank(
    bp_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    speech = tmp_path / "talk.wav"
    soundfile.write(speech, (0.1 * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32), SAMPLE_RATE)
    exported = export_model(bp_run, tmp_path / "export")
    config = json.loads((exported / "config.json").read_text())
    assert config["metadata"]["model"]["config"]["template_dim"] == 32

    def generate(model: Path, out: str, *options: str) -> np.ndarray:
        argv = ["generate", str(speech), "--checkpoint", str(model), "--speaker", "ava"]
        assert main([*argv, "-o", str(tmp_path / out), *options]) == 0
        with np.load(tmp_path / f"{out}.npz") as npz:
            return npz["poses"]

    # --template-seed N: the template of the training window drawn with seed N (the reference's default)
    a = generate(bp_run, "a", "--template-seed", "3")
    np.testing.assert_array_equal(generate(exported, "b", "--template-seed", "3"), a)
    drawn = int(torch.randint(read_run(bp_run).metadata.data.train_windows, (1,),
                              generator=torch.Generator().manual_seed(3)))  # fmt: skip
    np.testing.assert_array_equal(generate(exported, "d", "--template-from", str(drawn)), a)
    # --template-prior N: N(0, I) with seed N
    p = generate(bp_run, "p", "--template-prior", "3")
    np.testing.assert_array_equal(generate(exported, "q", "--template-prior", "3"), p)
    assert np.abs(generate(bp_run, "c", "--template-prior", "4") - p).mean() > 1e-3
    assert main(["generate", str(speech), "--checkpoint", str(bp_run), "--speaker", "ava", "-o", "x",
                 "--template-from", "99999"]) == 1  # fmt: skip
    assert "outside the bank" in capsys.readouterr().err


def test_render_on_an_sdt_root_uses_the_speech_inside_the_clips(bp_run: Path, tmp_path: Path) -> None:
    """SDT clips have no speech files (``raw_audio`` is None): rendering takes each clip's waveform."""
    rendered = render_clips([bp_run], count=1, out_dir=tmp_path, size=(320, 180))
    (video,) = rendered.videos
    with av.open(str(video)) as container:
        assert {stream.type for stream in container.streams} == {"video", "audio"}
        assert container.streams.audio[0].sample_rate == SAMPLE_RATE
