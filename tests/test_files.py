"""files.py: reading only capped regular files, writing never through a link or over a file without force."""

from __future__ import annotations

import os

import pytest

from llmos_kernel.files import ExistingFile, RefusedFile, read_regular, write_new


def test_read_regular_reads_files_and_links_to_them(tmp_path):
    (tmp_path / "real.toml").write_bytes(b"timeout = 5\n")
    (tmp_path / "link.toml").symlink_to(tmp_path / "real.toml")
    assert read_regular(tmp_path / "link.toml", 100) == b"timeout = 5\n"
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing.toml", 100)


@pytest.mark.parametrize("make, why", [
    (lambda p: p.symlink_to("/dev/zero"), "character device"),
    (lambda p: os.mkfifo(p), "named pipe"),  # no writer: reading would block for ever
    (lambda p: p.mkdir(), "folder"),
    (lambda p: p.write_bytes(b"x" * 101), "larger than 100 bytes"),
])
def test_read_regular_refuses_what_is_not_a_small_regular_file(tmp_path, make, why):
    path = tmp_path / "llmos.toml"
    make(path)
    with pytest.raises(RefusedFile, match=why):
        read_regular(path, 100)


def test_write_new_never_follows_a_link_nor_replaces_without_force(tmp_path):
    target = tmp_path / "target"
    (tmp_path / "dangling").symlink_to(target)
    for force in (False, True):
        with pytest.raises(RefusedFile, match="symbolic link"):
            write_new(tmp_path / "dangling", "text", force=force)
    assert not os.path.lexists(target)
    existing = tmp_path / "existing.md"
    existing.write_text("mine")
    with pytest.raises(ExistingFile):
        write_new(existing, "new")
    assert existing.read_text() == "mine"
    write_new(existing, "new", force=True)
    write_new(tmp_path / "fresh.md", "fresh")
    assert existing.read_text() == "new" and (tmp_path / "fresh.md").read_text() == "fresh"
