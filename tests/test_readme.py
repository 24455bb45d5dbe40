"""The README stays true: every command it shows exists and its options parse.

Each command is also exercised for real by its own tests; here the README's exact lines are checked, so
a renamed flag or command breaks the build instead of the manual. ``fit``/``validate``/``test`` lines are
validated by LightningCLI itself (``--print_config`` resolves the whole config without running).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cospeech.cli.main import build_parser
from cospeech.training.engine import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_commands(program: str) -> list[str]:
    """Lines of ```bash blocks starting with ``program``, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(program + " "):
                commands.append(line)
    return commands


COSPEECH = readme_commands("cospeech")
LIGHTNING = ("fit", "validate", "test")


def test_the_readme_shows_every_command_group():
    shown = {shlex.split(c)[1] for c in COSPEECH}
    assert {"data", "models", "fit", "evaluate", "generate", "render", "export", "test"} <= shown


@pytest.mark.parametrize("command", [c for c in COSPEECH if shlex.split(c)[1] not in LIGHTNING])
def test_command_parses(command):
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert callable(args.run)


@pytest.mark.parametrize("command", [c for c in COSPEECH if shlex.split(c)[1] in LIGHTNING])
def test_lightning_command_resolves(command, capsys, tmp_path, monkeypatch):
    argv = shlex.split(command)[1:]
    for flag in ("--ckpt_path",):  # paths of runs that only exist after training
        if flag in argv:
            del argv[argv.index(flag) : argv.index(flag) + 2]
    if "--config" in argv and argv[argv.index("--config") + 1].startswith("runs/"):
        argv[argv.index("--config") + 1] = "speech2gesture"  # a run's saved config has the same schema
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exit_info:
        run_cli([*argv, "--print_config"])
    assert exit_info.value.code in (0, None)
    assert "model:" in capsys.readouterr().out


def test_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", README, flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
