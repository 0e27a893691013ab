"""The trust record (llmos_kernel/trust.py): exact content by sha256, private files, never believed when others
could have written it. Real files in a temporary folder."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from llmos_kernel.trust import TrustStore, default_trust_path, digest


@pytest.fixture
def store(tmp_path: Path) -> TrustStore:
    return TrustStore(tmp_path / "data" / "llmos" / "trusted.json")


def test_trust_is_for_that_content_of_that_file(tmp_path, store):
    project = tmp_path / "repo" / "llmos.toml"
    project.parent.mkdir()
    content = digest(b'default_model = "x"\n')
    assert not store.is_trusted(project, content)
    store.trust(project, content)
    assert store.is_trusted(project, content) and store.trusted_digest(project) == content
    assert not store.is_trusted(project, digest(b'default_model = "y"\n'))  # changed content
    assert not store.is_trusted(tmp_path / "other" / "llmos.toml", content)  # same content elsewhere
    assert store.untrust(project) and not store.is_trusted(project, content) and not store.untrust(project)


def test_the_record_is_private_and_written_whole(tmp_path, store):
    store.trust(tmp_path / "a.toml", digest(b"a"))
    store.trust(tmp_path / "b.toml", digest(b"b"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    data = json.loads(store.path.read_text())
    assert data["version"] == 1 and len(data["files"]) == 2
    assert [p.name for p in store.path.parent.iterdir()] == ["trusted.json"]  # no temporary file left


def test_a_symlink_is_trusted_as_the_file_it_points_to(tmp_path, store):
    real = tmp_path / "real.toml"
    real.write_text("x = 1\n")
    link = tmp_path / "llmos.toml"
    link.symlink_to(real)
    store.trust(link, digest(real.read_bytes()))
    assert store.is_trusted(real, digest(b"x = 1\n"))


def test_a_corrupt_record_trusts_nothing_and_says_why(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{ not json")
    os.chmod(store.path, 0o600)
    assert not store.is_trusted(Path("/x/llmos.toml"), digest(b""))
    assert store.problem is not None and "not readable JSON" in store.problem
    store.trust(Path("/x/llmos.toml"), digest(b""))  # trusting again rewrites it
    assert store.is_trusted(Path("/x/llmos.toml"), digest(b"")) and store.problem is None


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX file modes")
def test_a_record_others_could_write_is_not_believed(tmp_path, store):
    project = tmp_path / "llmos.toml"
    store.trust(project, digest(b"a"))
    os.chmod(store.path, 0o666)
    assert not store.is_trusted(project, digest(b"a")) and "writable by others" in (store.problem or "")


def test_the_default_record_is_in_the_jupyter_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jd"))
    assert default_trust_path() == tmp_path / "jd" / "llmos" / "trusted.json"
