"""Output files that appear complete or not at all.

Every writer in cospeech (videos, checkpoints, exports, caches, galleries) goes through ``atomic_write``:
it writes to a temporary path in the destination's directory and renames it onto the destination only when
the writing block succeeds, so an interrupted run never leaves a truncated file that looks finished.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cospeech.errors import OutputError


@contextmanager
def atomic_write(path: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; move it onto ``path`` if the block succeeds.

    The temporary path has the same file name as ``path`` (so writers that pick a format from the suffix,
    like PyAV for ``.mp4``, behave the same) and sits in a private hidden folder next to ``path``, on the
    same file system, so the final rename is atomic for files. The block may create a file or a directory
    there. An existing destination of the same kind is replaced (an old directory is moved aside first and
    deleted once the new one is in place). Everything written gets the user's default permissions, whatever
    the writer chose. If the block raises, everything it wrote is removed and the destination is left
    untouched. With ``replace=False`` an existing destination (a file, or a non-empty directory) is never
    replaced: the move fails instead, so a reader of it is never pulled from under.

    Raises
    ------
    OutputError : the destination's directory does not exist or is not writable, the block created nothing,
        the destination is a directory and the result a file (or the reverse), or the result cannot be
        moved into place.
    """
    path = Path(path)
    parent = path.parent
    if not path.name or path.name in (".", ".."):
        raise OutputError(f"{path}: not a file name to write to")
    if not parent.is_dir():
        raise OutputError(f"{path}: output directory {parent} does not exist")
    try:
        workdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    except OSError as err:
        raise OutputError(f"{path}: cannot write in {parent}: {err.strerror}") from None
    try:
        temporary = workdir / path.name
        yield temporary
        if not temporary.exists():
            raise OutputError(f"{path}: nothing was written")
        _default_modes(temporary)
        try:
            if replace:
                _replace(temporary, path, workdir / ".previous")
            elif temporary.is_dir():
                os.rename(temporary, path)  # fails on a non-empty directory
            else:
                os.link(temporary, path)  # fails on an existing file
        except OSError as err:
            raise OutputError(f"{path}: cannot move the finished output into place: {err.strerror}") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def default_modes() -> tuple[int, int]:
    """The permission bits a new file and a new directory get by default (``0o666``/``0o777`` less the
    umask). The umask can only be read by setting it, so it is set back at once."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask, 0o777 & ~umask


def _default_modes(written: Path) -> None:
    """Give everything under ``written`` the user's default permissions.

    Some writers create private files: ``safetensors`` writes ``0600`` (through its own temporary file),
    so an exported ``model.safetensors`` was unreadable to others while ``config.json`` next to it was
    ``0644``. An output should not depend on which library wrote it."""
    file_mode, dir_mode = default_modes()
    paths = [written, *written.rglob("*")] if written.is_dir() else [written]
    for item in paths:
        if item.is_symlink():
            continue
        wanted = dir_mode if item.is_dir() else file_mode
        if item.stat().st_mode & 0o777 != wanted:
            item.chmod(wanted)


def _replace(new: Path, path: Path, aside: Path) -> None:
    """Move ``new`` onto ``path``. ``os.replace`` is atomic but cannot swap directories, so an existing
    directory first moves to ``aside`` (restored if the final rename fails)."""
    if os.path.lexists(path) and path.is_dir() != new.is_dir():
        kinds = ("file", "directory")
        raise OutputError(
            f"{path}: exists as a {kinds[path.is_dir()]}; not replacing it with a {kinds[new.is_dir()]}"
        )
    if not path.is_dir():
        os.replace(new, path)
        return
    os.replace(path, aside)
    try:
        os.replace(new, path)
    except OSError:
        os.replace(aside, path)
        raise
