"""The README stays true: every command it shows exists and its options parse, and the cheap ones run.

Each command is also exercised for real by its own tests; here the README's exact lines are checked, so
a renamed flag or command breaks the build instead of the manual. ``fit``/``validate``/``test`` lines are
validated by LightningCLI itself (``--print_config`` resolves the whole config without running).

The README promises that its examples work as written after ``make quickstart``, run from the same
directory. `quickstart_dir` builds a directory laid out like the quickstart's (the session's small corpus
as ``quickstart_out/corpus``, a tiny trained run as ``quickstart_out/runs/quickstart/version_0``, and
``quickstart_out/speech.wav`` written by the quickstart's own `keep_speech_file`), and every command and
Python block that takes seconds runs there verbatim, in README order, with a quiet console.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import soundfile
from user_console import as_a_user_sees

from cospeech.cli.main import build_parser, main
from cospeech.cli.quickstart import DEFAULT_OUT, SPEAKER, SPEECH_FILE, keep_speech_file
from cospeech.training.engine import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_commands(program: str) -> list[str]:
    """Lines of ```bash blocks starting with ``program``, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(line.split("  #")[0].split())
            if line.startswith(program + " "):
                commands.append(line)
    return commands


COSPEECH = readme_commands("cospeech")
LIGHTNING = ("fit", "validate", "test")

NOT_RUN = {
    "fit": "trains for minutes; validated by --print_config below",
    "validate": "needs a run of configs/speech2gesture.yaml",
    "test": "needs a run of configs/speech2gesture.yaml",
    "render": "encodes many videos; render_clips has its own tests",
    "demo": "serves a page until stopped; tests/test_demo.py drives it in a real browser",
    "quickstart": "is what the fixture stands in for; tests/test_quickstart.py runs it",
    "runs/": "reads runs made by the Train section's fits",
    "continual": "trains task sequences for minutes; tests/continual runs a tiny one end to end",
    "continual-compare": "reads the chains `cospeech continual` makes",
    "adapt": "reads a first task `cospeech continual` makes; tests/continual runs one",
    "personalise": "trains for minutes; tests/personalise runs a tiny one end to end",
}
"""Why a README command is only parsed here: its command group, or a path only a long run creates."""

SMALLER = {"--speakers 5 --minutes 6": "--speakers 2 --minutes 0.3"}
"""``data synth`` runs with a smaller corpus (its size is the only difference) so `data info` has one."""


def not_run(command: str) -> str | None:
    """The reason ``command`` is not run, or None if it runs."""
    argv = shlex.split(command)
    if argv[1] in NOT_RUN:
        return NOT_RUN[argv[1]]
    return NOT_RUN["runs/"] if any(a.startswith("runs/") for a in argv) else None


def test_the_readme_shows_every_command_group():
    shown = {shlex.split(c)[1] for c in COSPEECH}
    assert {"data", "models", "fit", "evaluate", "generate", "render", "export", "test"} <= shown


def test_the_examples_use_what_the_quickstart_leaves():
    # README paths a new user cannot have: only paths the quickstart, an earlier example, or a fit creates
    for command in COSPEECH:
        for arg in shlex.split(command)[2:]:
            assert not arg.startswith("/path/"), command
            assert not re.fullmatch(r"talk\.\w+", arg), command
    assert f"{DEFAULT_OUT}/{SPEECH_FILE}" in README


@pytest.mark.parametrize("command", [c for c in COSPEECH if shlex.split(c)[1] not in LIGHTNING])
def test_command_parses(command):
    args, unknown = build_parser().parse_known_args(shlex.split(command)[1:])
    assert callable(args.run)
    assert not unknown or getattr(args, "passes_unknown_args", False)  # fit arguments of `continual`


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


# ---------------------------------------------------------------- the examples, run


@pytest.fixture(scope="module")
def quickstart_dir(synth_root: Path, tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory holding what ``make quickstart`` leaves, at the same paths (module docstring)."""
    work = tmp_path_factory.mktemp("readme")
    out = work / DEFAULT_OUT
    (out / "runs" / "quickstart").mkdir(parents=True)
    (out / "corpus").symlink_to(synth_root)  # read only: data info; the run reads its own recorded root
    shutil.copytree(tiny_run, out / "runs" / "quickstart" / "version_0")  # evaluate writes into the run
    keep_speech_file(synth_root, out / SPEECH_FILE)
    return work


def run_quietly(command: str) -> None:
    """Run a README line through the real entry point under a user's warning filters.

    Fails if the command exits non-zero or if anything at all is warned: the console must be quiet."""
    for long, short in SMALLER.items():
        command = command.replace(long, short)
    with as_a_user_sees() as caught:
        code = main(shlex.split(command)[1:])
    assert code == 0, command
    assert [str(w.message) for w in caught] == [], command


RUN = [c for c in COSPEECH if not_run(c) is None]


@pytest.mark.parametrize("command", RUN)
def test_command_runs_as_written_after_the_quickstart(command, quickstart_dir, monkeypatch, capsys):
    monkeypatch.chdir(quickstart_dir)
    run_quietly(command)
    out, err = capsys.readouterr()
    assert err == "", f"{command} printed to stderr:\n{err}"
    argv = shlex.split(command)
    if argv[1:3] == ["data", "info"]:
        assert "total" in out
    if argv[1] == "evaluate":
        assert "speech2gesture" in out and "wrote" in out
    if argv[1] == "export":
        assert (quickstart_dir / argv[argv.index("-o") + 1] / "model.safetensors").is_file()
    if argv[1] == "generate":
        written = [Path(line) for line in out.split()]
        assert written and all((quickstart_dir / path).exists() for path in written)


def test_the_cheap_commands_are_the_ones_run():
    groups = {shlex.split(c)[1] for c in RUN}
    assert {"data", "models", "evaluate", "generate", "export"} <= groups
    assert {shlex.split(c)[1] for c in COSPEECH if not_run(c)} <= {*NOT_RUN, "evaluate", "generate"}


PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_python_blocks_run_as_written_after_the_quickstart(quickstart_dir, monkeypatch):
    monkeypatch.chdir(quickstart_dir)
    assert len(PYTHON_BLOCKS) == 2
    generated: dict = {}
    exec(compile(PYTHON_BLOCKS[0], "README.md (generate)", "exec"), generated)
    info = soundfile.info(str(quickstart_dir / DEFAULT_OUT / SPEECH_FILE))
    T = round(15 * info.duration)
    assert generated["gestures"].poses.shape in ((T, 48, 2), (T - 1, 48, 2))
    assert generated["gestures"].sample_rate == info.samplerate  # the speech as given, for videos
    assert generated["gestures"].speaker == SPEAKER
    data: dict = {}
    exec(compile(PYTHON_BLOCKS[1], "README.md (data)", "exec"), data)
    batch = data["batch"]
    assert tuple(batch["audio"].shape) == (32, 64, 64) and tuple(batch["pose"].shape) == (32, 64, 96)
