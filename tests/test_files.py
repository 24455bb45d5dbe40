"""``atomic_write``: outputs appear complete or not at all, for files and directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cospeech.errors import CospeechError
from cospeech.files import OutputError, atomic_write


def test_file_appears_only_after_the_block(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    with atomic_write(target) as tmp:
        assert tmp.parent.parent == tmp_path
        assert tmp.name == "clip.mp4"  # same suffix, so format sniffing by name still works
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert list(tmp_path.iterdir()) == [target]  # no temporary left behind


def test_failure_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with atomic_write(str(target)) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_directory_output_replaces_an_existing_directory(tmp_path: Path) -> None:
    target = tmp_path / "export"
    target.mkdir()
    (target / "stale.bin").write_text("x")
    with atomic_write(target) as tmp:
        tmp.mkdir()
        (tmp / "weights.safetensors").write_text("w")
    assert sorted(p.name for p in target.iterdir()) == ["weights.safetensors"]
    assert list(tmp_path.iterdir()) == [target]


def test_failed_directory_output_is_removed(tmp_path: Path) -> None:
    target = tmp_path / "export"
    with pytest.raises(ValueError), atomic_write(target) as tmp:
        tmp.mkdir()
        (tmp / "part").write_text("x")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "clip.mp4"
    with pytest.raises(OutputError, match="output directory .* does not exist"), atomic_write(target):
        pass
    assert issubclass(OutputError, CospeechError)


def test_writing_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="nothing was written"), atomic_write(tmp_path / "x"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_file_does_not_replace_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.mkdir()
    message = "exists as a directory; not replacing it with a file"
    with pytest.raises(OutputError, match=message), atomic_write(target) as tmp:
        tmp.write_text("x")
    assert target.is_dir()
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_get_the_default_permissions_whatever_the_writer_chose(tmp_path: Path, umask: int) -> None:
    # safetensors writes its files 0600; an export's weights must be as readable as its config.json
    previous = os.umask(umask)
    try:
        with atomic_write(tmp_path / "export") as tmp:
            tmp.mkdir()
            os.close(os.open(tmp / "model.safetensors", os.O_CREAT | os.O_WRONLY, 0o600))
            (tmp / "config.json").write_text("{}")
        with atomic_write(tmp_path / "weights.bin") as tmp:
            os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600))
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in [*tmp_path.rglob("*")]}
    assert modes == {
        "export": 0o777 & ~umask,
        "model.safetensors": 0o666 & ~umask,
        "config.json": 0o666 & ~umask,
        "weights.bin": 0o666 & ~umask,
    }


def test_without_replace_an_existing_output_is_kept(tmp_path):
    existing = tmp_path / "out.txt"
    existing.write_text("first")
    moved = pytest.raises(OutputError, match="cannot move the finished output into place")
    with moved, atomic_write(existing, replace=False) as tmp:
        tmp.write_text("second")
    assert existing.read_text() == "first"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "kept").write_text("first")
    with pytest.raises(OutputError), atomic_write(folder, replace=False) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("second")
    assert sorted(p.name for p in folder.iterdir()) == ["kept"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "out.txt"]  # no temporaries left
