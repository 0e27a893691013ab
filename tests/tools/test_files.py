"""read_file and list_files stay inside the notebook's folder."""

import os

import pytest

from llmos_kernel.tools.files import Sandbox
from llmos_kernel.tools.registry import ToolError


@pytest.fixture()
def box(tmp_path):
    root = tmp_path / "nb"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("hello")
    (root / "sub" / "b.md").write_text("# b")
    (root / "bin.dat").write_bytes(b"\x00\x00")
    (root / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", root / "out")
    os.symlink(root / "a.txt", root / "in")
    return Sandbox(root)


@pytest.mark.parametrize("path, words", [("../secret", "'..'"), ("sub/../../secret", "'..'"),
                                         ("/etc/passwd", "absolute"), ("~/x", "absolute"),
                                         ("out", "outside"), ("bin.dat", "binary"), ("latin.txt", "UTF-8"),
                                         ("missing.txt", "no such file"), ("", "relative")])
def test_refusals(box, path, words):
    with pytest.raises(ToolError, match=words):
        box.read(path, 1000)


def test_reads_lists_and_caps(box):
    assert box.read("a.txt", 1000) == "hello" and box.read("in", 1000) == "hello"  # a link that stays inside
    assert "truncated" in box.read("a.txt", 2)
    listing = box.list(".")
    assert "a.txt (5 bytes)" in listing and "sub/" in listing and "out" not in listing
    assert box.list("sub") == "b.md (3 bytes)"
