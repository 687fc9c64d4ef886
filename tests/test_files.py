"""attnsight.files.write_atomic: a file is replaced whole or not at all, and a full disk is one line."""

from __future__ import annotations

import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from attnsight.errors import AttnsightError
from attnsight.files import write_atomic

Usage = namedtuple("Usage", "total used free")


def test_the_file_is_written_with_the_umasks_permissions_and_no_temporary_file_stays(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.json", lambda tmp: tmp.write_text("new"))
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").read_text() == "new"
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644  # another account can read a bundle
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def half_then(exc: BaseException):
    def write(tmp: Path) -> None:
        tmp.write_text("half")
        raise exc
    return write


def test_a_full_disk_leaves_the_old_file_and_ends_in_one_line(tmp_path, monkeypatch):
    target = tmp_path / "model.safetensors"
    target.write_text("old")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: Usage(100, 100, 0))
    # torch names no cause: "unexpected pos 220288 vs 220176"
    with pytest.raises(AttnsightError, match=f"^{target}: not written, no space left on its disk$"):
        write_atomic(target, half_then(RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos")))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("exc", [TypeError("not serialisable"), KeyboardInterrupt()])
def test_other_failures_are_raised_as_they_are_and_leave_no_temporary_file(tmp_path, exc):
    target = tmp_path / "config.json"
    target.write_text("old")
    with pytest.raises(type(exc)):
        write_atomic(target, half_then(exc))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
