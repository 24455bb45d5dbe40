"""What a user's console shows of warnings, for tests that promise a quiet CLI.

pytest's own filters (``pyproject.toml``: ours are errors, known noise ignored) are not what a user runs
under; `as_a_user_sees` puts back Python's default filters for the block and records what they let
through."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def as_a_user_sees() -> Iterator[list[warnings.WarningMessage]]:
    """Record, under Python's default warning filters, every warning a user would see in the block."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")
        # Python's defaults (see `python -W help`): deprecations are shown only for code run as __main__
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        for category in (PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.filterwarnings("ignore", category=category)
        yield caught
