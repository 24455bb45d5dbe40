"""A model family is one model file plus one recipe plus one YAML: proved by a toy family defined only here.

The toy generator takes a new input, a per-utterance **template vector** (as SDT's templates), which the
data does not have: in training the toy recipe supplies it from a learned per-window table (a second
parameter set, as SDT-BP's clip codes), at inference the generator samples it once per utterance. Nothing in
``src/`` knows about either; the run trains with the real engine, is evaluated, exported and generates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from cospeech.audio import SAMPLE_RATE
from cospeech.data.synth.speech import random_voice, render_speech, syllable_timeline
from cospeech.errors import ConfigError
from cospeech.evaluation import evaluate
from cospeech.inference import GestureGenerator, export_model
from cospeech.models import STANDARD_INPUTS, Generator, GeneratorOutput, InputSpec, registry
from cospeech.models.registry import from_data, register_model
from cospeech.training.base import GestureModule
from cospeech.training.engine import run_cli
from cospeech.training.metadata import read_run


@dataclass(frozen=True)
class ToyTemplateConfig:
    """Toy template generator."""

    pose_dim: int = from_data(96)
    """2J, from the data."""
    audio_dim: int = from_data(64)
    """F, from the data."""
    template_dim: int = 3
    """Size of the template vector."""


class ToyTemplateGenerator(Generator):
    """Audio and a template vector → poses; reports the template's L2 norm as an auxiliary loss."""

    inputs: ClassVar = {
        "audio": STANDARD_INPUTS["audio"],
        "template": InputSpec("(B, D) float32", "per-utterance template vector", sampled=True),
    }

    def __init__(self, config: ToyTemplateConfig) -> None:
        super().__init__()
        self.config = config
        self.audio = nn.Linear(config.audio_dim, config.pose_dim)
        self.template = nn.Linear(config.template_dim, config.pose_dim)
        self.seen_templates: list[torch.Tensor] = []

    def forward(self, audio: torch.Tensor, template: torch.Tensor) -> GeneratorOutput:
        self.seen_templates.append(template.detach().clone())
        poses = self.audio(audio) + self.template(template)[:, None]  # (B, T, 2J)
        return GeneratorOutput(poses, losses={"template_l2": 1e-3 * template.pow(2).mean()})

    def sample_inputs(self, names, batch_size, *, generator=None):
        return {"template": torch.randn(batch_size, self.config.template_dim, generator=generator)}


class ToyTemplateRecipe(GestureModule):
    """L1 + the generator's auxiliary losses; templates come from a learned per-window table.

    Args:
        lr: Adam learning rate of the generator and the template table.
    """

    def __init__(
        self,
        generator: str = "toy_template",
        generator_config: dict[str, Any] | None = None,
        lr: float = 1e-2,
        init_from: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(generator, generator_config, init_from, seed)

    def build_components(self, spec):
        dim = self.generator.config.template_dim
        self.templates = nn.Embedding(spec.train_windows, dim)  # index in the (full) training set
        return {}

    def configure_optimizers(self):
        return torch.optim.Adam(
            [*self.generator.parameters(), *self.templates.parameters()], lr=self.hparams.lr
        )

    def training_step(self, batch, batch_idx):
        output = self({**batch, "template": self.templates(batch["index"])})
        loss = (output.poses - batch["pose"]).abs().mean() + self.log_auxiliary_losses(
            output, len(output.poses)
        )
        self.log("train/l1", loss, batch_size=len(output.poses))
        return loss


@pytest.fixture
def toy_family(monkeypatch):
    """Register the toy generator for this test only."""
    monkeypatch.setattr(registry, "_REGISTRY", registry._REGISTRY.copy())
    register_model("toy_template", config=ToyTemplateConfig)(ToyTemplateGenerator)


def _config(tmp_path, synth_root, **generator_config) -> list[str]:
    config = {
        "seed_everything": 0,
        "run": {"name": "toy", "root": str(tmp_path / "runs")},
        "model": {
            "class_path": f"{__name__}.ToyTemplateRecipe",
            "init_args": {"generator": "toy_template", "generator_config": generator_config},
        },
        "data": {
            "root": str(synth_root),
            "speakers": ["ava", "ben"],
            "batch_size": 8,
            "window_hop": 16,
            "cache_dir": str(tmp_path / "cache"),
        },
        "trainer": {
            "max_epochs": 2,
            "limit_train_batches": 4,
            "limit_val_batches": 2,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
        },
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["--config", str(path)]


def test_a_new_family_trains_evaluates_exports_and_generates(toy_family, synth_root, tmp_path):
    run_cli(["fit", *_config(tmp_path, synth_root, template_dim=5)])
    run = tmp_path / "runs" / "toy" / "version_0"
    stored = read_run(run)
    meta = stored.metadata
    assert meta.model.name == "toy_template" and meta.recipe.endswith("ToyTemplateRecipe")
    assert meta.model.config == {"pose_dim": 96, "audio_dim": 64, "template_dim": 5}  # filled from the data
    assert stored.state_dict["templates.weight"].shape == (meta.data.train_windows, 5)
    final = (run / "final_metrics.json").read_text()
    assert '"train/template_l2"' in final and '"dev/L1"' in final  # the auxiliary loss was logged

    result = evaluate(run, split="dev", baselines=True)
    assert set(result.scores) >= {"toy_template", "mean_pose", "nearest_neighbour", "random_window"}
    assert np.isfinite(result.scores["toy_template"]["mean"]["L1"])

    exported = export_model(run, tmp_path / "export")
    pipe = GestureGenerator.from_pretrained(exported)
    rng = np.random.default_rng(2)
    voice = random_voice(rng)
    speech = render_speech(syllable_timeline(voice, 9.0, rng), voice, 9.0, SAMPLE_RATE, rng)
    first = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben", seed=1)
    # 135 frames → 3 windows of 64 in one batch (split into parts, one per torch thread, on a multi-threaded
    # CPU); the sampled template is shared by all of them
    seen = torch.cat(pipe.generator.seen_templates)
    assert seen.shape == (3, 5) and torch.equal(seen, seen[:1].expand(3, 5))
    again = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben", seed=1)
    other = pipe.generate(speech, sample_rate=SAMPLE_RATE, speaker="ben", seed=2)
    assert first.poses.shape == (135, 48, 2)
    np.testing.assert_array_equal(first.poses, again.poses)
    assert not np.allclose(first.poses, other.poses)  # a different template: a different style


def test_a_config_value_that_disagrees_with_the_data_is_an_error(toy_family, synth_root, tmp_path):
    with pytest.raises(
        ConfigError, match=r"pose_dim=90 in the config disagrees with the data \(pose_dim=96\)"
    ):
        run_cli(["fit", *_config(tmp_path, synth_root, pose_dim=90)])
