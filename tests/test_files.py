"""Files written whole: :func:`gentransfer.files.atomic_write_bytes` and what it leaves on disk."""

from __future__ import annotations

import os
import stat

import pytest

from gentransfer.files import atomic_write_bytes, write_json


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_take_the_umask_mode_not_mkstemps_0600(tmp_path, umask, mask, mode):
    umask(mask)
    atomic_write_bytes(tmp_path / "a.bin", b"data")
    write_json(tmp_path / "b.json", {"k": 1})
    for name in ("a.bin", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert (tmp_path / "a.bin").read_bytes() == b"data"


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "a.bin", b"data")
    assert list(tmp_path.iterdir()) == []
