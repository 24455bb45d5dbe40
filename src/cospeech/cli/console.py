"""Everything the ``cospeech`` command does to the console besides printing its own results, in one place.

A user should see only messages that are ours, in the ``cospeech: …`` style, and that say what to do:

* our own warnings (``warnings.warn`` in a cospeech module) print as one ``cospeech: warning: …`` line, not
  as Python's ``file:line: UserWarning: …`` with a source line;
* library noise that means nothing to a user of this command and that they cannot act on is dropped:
  each entry of `IGNORED_WARNINGS` and `IGNORED_LOG_LINES` says why;
* Lightning's model summary loses its FLOPs column when every count is 0 (Lightning only counts FLOPs for
  models with an ``example_input_array``; a column of zeros reads as "this model does nothing");
* a Lightning ``MisconfigurationException`` (a setting this machine or run cannot honour, e.g.
  ``--trainer.accelerator cuda`` without a GPU) becomes one ``cospeech: error: …`` line like our own errors.

`quiet_console` applies all of it for the duration of one command and restores the previous state, so
importing ``cospeech`` as a library, or calling ``main`` from tests, never changes the caller's warning
filters or logging for good. Other libraries' warnings are left alone: an unknown warning may matter.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import cospeech

PACKAGE_DIR = Path(cospeech.__file__).resolve().parent
"""Warnings whose reported file lies here are ours (``stacklevel`` may point at any cospeech caller)."""

IGNORED_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # Lightning 2.6's pytree helper builds torch's deprecated LeafSpec; only a Lightning release can fix it.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, r"lightning\..*"),
    # A GAN epoch may hold only discriminator steps (a one-batch epoch): the generator's scheduler then
    # steps an optimiser that has not stepped yet, which is what the recipe means.
    (r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`", UserWarning, r"torch\..*"),
)
"""``(message regex, category, module regex)`` of library warnings dropped by the CLI."""

IGNORED_LOG_LINES: tuple[tuple[str, str], ...] = (
    # An advertisement for a cloud logging service, printed at every `fit`; runs log to TensorBoard.
    ("lightning.pytorch.utilities.rank_zero", r"💡 Tip:"),
    ("lightning.fabric.utilities.rank_zero", r"💡 Tip:"),
    # The engine names the plain model summary itself (rich would replace it); Lightning says it noticed.
    ("lightning.pytorch.utilities.rank_zero", r"Trainer already configured with model summary callbacks"),
)
"""``(logger name, message regex)`` of library log lines dropped by the CLI."""

MODEL_SUMMARY_LOGGER = "lightning.pytorch.callbacks.model_summary"


def format_warning(message: Warning | str) -> str:
    """The one line a user sees for one of our warnings (messages written as ``cospeech: …`` for library
    users keep a single prefix)."""
    return f"cospeech: warning: {str(message).removeprefix('cospeech: ')}"


def is_ours(filename: str) -> bool:
    """Whether a warning reported at ``filename`` was raised by cospeech code."""
    try:
        return Path(filename).resolve().is_relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return False


class _DropLines(logging.Filter):
    """Drops records of one logger whose message matches ``pattern``."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


class _NoZeroFlops(logging.Filter):
    """Removes the FLOPs column and the "Total Flops" line from Lightning's model summary when it counted
    none (every row 0), and leaves the table untouched otherwise."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = without_zero_flops(record.getMessage()), ()
        return True


def without_zero_flops(summary: str) -> str:
    """Lightning's model summary table without its FLOPs column and "Total Flops" line if the total is 0."""
    lines = summary.split("\n")
    header = next((i for i, line in enumerate(lines) if " | FLOPs" in line), None)
    total = next((i for i, line in enumerate(lines) if re.fullmatch(r"0\s+Total Flops\s*", line)), None)
    if header is None or total is None:
        return summary
    start = lines[header].index(" | FLOPs")
    end = lines[header].find(" |", start + 3)
    end = len(lines[header]) if end == -1 else end
    table = []
    for i, line in enumerate(lines):
        if i == total:
            continue
        if line and set(line) == {"-"}:
            line = line[: len(line) - (end - start)]
        elif header <= i < total and " | " in line:
            line = (line[:start] + line[end:]).rstrip()
        table.append(line)
    return "\n".join(table)


ShowWarning = Callable[[Warning | str, type[Warning], str, int, "TextIO | None", "str | None"], None]


def _show_warning(original: ShowWarning) -> ShowWarning:
    """A ``warnings.showwarning`` that prints our warnings as one line and others as ``original`` does."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if is_ours(filename):
            print(format_warning(message), file=file or sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    return show


@contextmanager
def quiet_console() -> Iterator[None]:
    """Apply the CLI's console rules (module docstring) inside the block; restore everything after."""
    filters: list[tuple[logging.Logger, logging.Filter]] = [
        (logging.getLogger(name), _DropLines(pattern)) for name, pattern in IGNORED_LOG_LINES
    ]
    filters.append((logging.getLogger(MODEL_SUMMARY_LOGGER), _NoZeroFlops()))
    with warnings.catch_warnings():
        for message, category, module in IGNORED_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        warnings.showwarning = _show_warning(warnings.showwarning)
        for logger, log_filter in filters:
            logger.addFilter(log_filter)
        try:
            yield
        finally:
            for logger, log_filter in filters:
                logger.removeFilter(log_filter)


def configuration_error(exc: BaseException) -> str | None:
    """The one-line message for a library exception that is really a setting the user chose and this
    machine or run cannot honour; None for anything else (which keeps its traceback: it is a bug)."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"  # the file system refused a path the user gave (--out …)
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
    if "lightning.fabric.utilities.exceptions.MisconfigurationException" in names:
        text = " ".join(str(exc).split())
        if "accelerator is not available" in text:
            return (
                f"trainer.accelerator: {text} Set --trainer.accelerator cpu, or auto (which uses a GPU only "
                "where there is one)."
            )
        return f"Lightning refused the run's settings: {text}"
    return None
