"""``PCK_ref`` (the reference's PCK box) in training logs: the data module hands the stored nose and eyes
to the metric suites, and the logged value is the reference definition on the same arrays."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from reference_pck import reference_pck, stored_windows

from cospeech.data.datamodule import BOX_JOINTS, PatsDataModule
from cospeech.data.poses import flat_to_joints
from cospeech.inference import GestureGenerator
from cospeech.models import run_generator
from cospeech.training.adversarial import AdversarialRecipe
from cospeech.training.metadata import read_run


def test_fit_logs_dev_pck_ref_equal_to_the_reference_definition(tiny_run, tmp_path):
    logged = json.loads((tiny_run / "final_metrics.json").read_text())["last"]
    assert logged["dev/PCK_ref"] >= logged["dev/PCK"]  # the reference's box spans the face too: never smaller
    pipe = GestureGenerator.from_pretrained(tiny_run)  # one epoch: the weights the dev pass scored
    hparams = read_run(tiny_run).datamodule_hparams
    hparams = {k: v for k, v in hparams.items() if not k.startswith("_")}  # Lightning's own entries
    dm = PatsDataModule(**{**hparams, "cache_dir": str(tmp_path)})
    dm.setup()
    dm.use_normalizer(pipe.metadata.normalizer)
    batch = next(iter(dm.val_dataloader()))  # the run scored one dev batch (limit_val_batches: 1)
    assert tuple(batch[BOX_JOINTS].shape) == (len(batch["pose"]), 64, 3, 2)
    with torch.no_grad():
        pred = run_generator(pipe.generator, batch, training=False).poses.double().numpy()  # (B, T, 96) z
    stats = pipe.metadata.normalizer
    expected = {}
    for style in np.unique(batch["style"].numpy()):
        rows = (batch["style"] == int(style)).numpy()
        mean, std = (getattr(stats, k)["pose"][style].double().numpy() for k in ("mean", "std"))
        pixels = flat_to_joints(pred[rows] * std + mean)  # (N, T, 48, 2)
        stored = stored_windows(dm.corpus, dm.datasets["dev"], dm.speakers, batch["index"][rows].numpy(),
                                dm.pose_key)  # fmt: skip
        speaker = dm.speakers[style]
        expected[speaker] = reference_pck(pixels, stored)
        for key, value in expected[speaker].items():
            assert logged[f"dev/{speaker}/{key}"] == pytest.approx(value, abs=1e-6), key
    assert logged["dev/PCK_ref"] == pytest.approx(
        np.mean([e["PCK_ref"] for e in expected.values()]), abs=1e-6
    )


def test_pck_ref_is_left_out_where_the_data_has_no_box_joints(synth_root, tmp_path):
    dm = PatsDataModule(str(synth_root), ["ava"], cache_dir=str(tmp_path))
    dm.setup()
    assert dm.spec.box_joints == ("Nose", "REye", "LEye")
    assert BOX_JOINTS not in dm.datasets["train"].keys  # only dev/test batches carry them
    for spec, present in ((dm.spec, True), (dataclasses.replace(dm.spec, box_joints=()), False)):
        module = AdversarialRecipe(discriminator=None)
        module.build(spec, dm.normalizer)
        assert ("PCK_ref" in module.suites["dev"][0].keys) is present
        assert "PCK" in module.suites["dev"][0].keys
