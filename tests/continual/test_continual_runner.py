"""The continual runner: presets, chain folders and their settings, and a 3-task sequence (ava → ben →
cleo of the session's small corpus) with a tiny Mix-StAGE that runs end to end and resumes."""

from __future__ import annotations

import json

import pytest
import yaml

from cospeech.continual.methods import get_method
from cospeech.continual.runner import claim, load_preset, plan_chains
from cospeech.errors import ConfigError


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
    with pytest.raises(ConfigError, match="k_shot: 28 there, 7 now"):
        claim(tmp_path, {"method": "cdiffgan", "k_shot": 7})
