"""The CLI's console (``cospeech.cli.console``): our warnings as one ``cospeech: …`` line, library noise
gone, settings a machine cannot honour as one error line; and nothing of it outside a command."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from tiny_runs import tiny_config
from user_console import as_a_user_sees

from cospeech.cli import console
from cospeech.cli.main import main
from cospeech.cli.quickstart import keep_speech_file

SUMMARY = """
  | Name      | Type                    | Params | Mode  | FLOPs
-------------------------------------------------------------------
0 | generator | Speech2GestureGenerator | 7.4 M  | train | {flops}
-------------------------------------------------------------------
7.4 M     Trainable params
{total}         Total Flops"""


def test_a_summary_without_flops_loses_the_column_and_keeps_the_rest():
    quiet = console.without_zero_flops(SUMMARY.format(flops="0    ", total="0"))
    assert "FLOPs" not in quiet and "Flops" not in quiet
    assert "| Mode" in quiet and "0 | generator | Speech2GestureGenerator | 7.4 M  | train" in quiet
    assert "7.4 M     Trainable params" in quiet
    counted = SUMMARY.format(flops="1.2 G", total="1.2 G")
    assert console.without_zero_flops(counted) == counted  # real counts are information


def test_our_warnings_are_one_line_and_others_keep_their_format(capsys):
    with warnings.catch_warnings(record=True) as passed_on:
        warnings.simplefilter("always")
        with console.quiet_console():
            warnings.warn_explicit("ours", UserWarning, str(console.PACKAGE_DIR / "evaluation.py"), 1)
            warnings.warn_explicit(
                "cospeech: prefixed", UserWarning, str(console.PACKAGE_DIR / "audio.py"), 1
            )
            warnings.warn_explicit("theirs", UserWarning, "/elsewhere/lib.py", 7)
            warnings.warn_explicit(
                "`isinstance(treespec, LeafSpec)` is deprecated, use …", FutureWarning, "_pytree.py", 21,
                module="lightning.pytorch.utilities._pytree",
            )  # fmt: skip
    assert capsys.readouterr().err == "cospeech: warning: ours\ncospeech: warning: prefixed\n"
    # an unknown library warning may matter: it goes on to the usual display (here: the recorder)
    assert [(str(w.message), w.filename) for w in passed_on] == [("theirs", "/elsewhere/lib.py")]


def test_the_console_rules_end_with_the_command():
    before = (warnings.showwarning, list(warnings.filters))
    tip = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    with console.quiet_console():
        assert not tip.filter(logging.makeLogRecord({"msg": "💡 Tip: try installing [litlogger] …"}))
        assert tip.filter(logging.makeLogRecord({"msg": "Seed set to 0"}))
    assert (warnings.showwarning, list(warnings.filters)) == before
    assert tip.filter(logging.makeLogRecord({"msg": "💡 Tip: try installing [litlogger] …"}))


@pytest.mark.parametrize("flag", [["--trainer.accelerator", "cuda"], ["--trainer.accelerator=gpu"]])
def test_a_gpu_accelerator_without_cuda_is_one_error_line(flag, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["fit", "--config", "speech2gesture", *flag]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("cospeech: error: --trainer.accelerator ")
    assert "no CUDA device is available" in err[0] and "--trainer.accelerator cpu" in err[0]
    assert err[1:] == ["cospeech: run with --debug for the full traceback"]


def test_lightning_configuration_errors_are_one_line_others_keep_their_traceback():
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    exc = MisconfigurationException(
        "`CUDAAccelerator` can not run on your system since the accelerator is not available."
    )
    message = console.configuration_error(exc)
    assert message is not None and message.startswith("trainer.accelerator: `CUDAAccelerator` can not run")
    assert "--trainer.accelerator cpu" in message
    assert console.configuration_error(MisconfigurationException("bad\n  value")) == (
        "Lightning refused the run's settings: bad value"
    )
    assert console.configuration_error(RuntimeError("a bug")) is None


def test_generate_on_cuda_without_a_gpu_warns_in_one_line(
    synth_root, tiny_run, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    speech = keep_speech_file(synth_root, tmp_path / "speech.wav")
    argv = [
        "generate",
        str(speech),
        "--checkpoint",
        str(tiny_run),
        "--speaker",
        "ava",
        "-o",
        str(tmp_path / "g"),
    ]
    with as_a_user_sees():  # our warning is shown, not raised as pytest's filters would
        assert main([*argv, "--device", "cuda"]) == 0
    out, err = capsys.readouterr()
    assert err == (
        "cospeech: warning: --device cuda: no CUDA device is available on this machine; running on the CPU "
        "instead (leave out --device to pick the GPU only where there is one)\n"
    )
    assert Path(out.strip()).is_file()


def test_fit_prints_no_library_noise(synth_root, tmp_path, caplog):
    config = tiny_config()
    config["trainer"]["enable_model_summary"] = True  # the summary with Lightning's FLOPs column
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    argv = ["fit", "--config", str(tmp_path / "tiny.yaml"), "--data.root", str(synth_root)]
    argv += ["--data.cache_dir", str(tmp_path / "cache"), "--run.root", str(tmp_path / "runs")]
    caplog.set_level(logging.INFO)
    with as_a_user_sees() as caught:
        assert main(argv) == 0
    assert [str(w.message) for w in caught] == []  # LeafSpec, log_every_n_steps … are not a user's concern
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Trainable params" in logged  # the summary is still there …
    assert "FLOPs" not in logged and "Total Flops" not in logged  # … without a column of zeros
    assert "litlogger" not in logged and "Tip" not in logged


def test_the_test_suite_turns_our_warnings_into_errors():
    # pyproject's filterwarnings: a warning raised in a cospeech module fails the test, a test module's not
    with pytest.raises(UserWarning, match="stray"):
        warnings.warn_explicit("stray", UserWarning, "x.py", 1, module="cospeech.metrics.functional")
    with pytest.warns(UserWarning, match="expected"):
        warnings.warn_explicit("expected", UserWarning, "x.py", 1, module="tests.test_console")
