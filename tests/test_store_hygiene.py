"""The store stays private and bounded: 0700/0600, pruning, headless runs that do not pile up, one owner per
notebook session (a second kernel keeps its own), and exports that never overwrite silently."""

from __future__ import annotations

import os
import stat
import time

from llmos_kernel.lease import SessionLease
from llmos_kernel.store import Store
from tests.test_session_kernel import ask, kernel_env, kernel_with, ok, server, use_server  # noqa: F401


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_store_folder_and_files_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "data" / "llmos" / "store.db")
        store.create_session("nb.ipynb")
    finally:
        os.umask(old)
    assert mode(tmp_path / "data" / "llmos") == 0o700
    for name in ("store.db", "store.db-wal"):
        assert mode(tmp_path / "data" / "llmos" / name) == 0o600, name
    store.close()


def test_prune_by_age_and_count_keeps_protected(tmp_path):
    store = Store(tmp_path / "store.db")
    ids = [store.create_session(f"kernel-{i}") for i in range(5)]
    keep_me = store.create_session("notebook.ipynb")
    with store.transaction() as db:
        db.execute("UPDATE sessions SET updated = ? WHERE id IN (?, ?)", (time.time() - 40 * 86400, ids[0], ids[1]))
    assert sorted(store.prune(older_than=30 * 86400)) == ["kernel-0", "kernel-1"]
    assert store.prune(keep=1, prefix="kernel-", protect={ids[2]}) == ["kernel-3"]
    remaining = {info.key for info in store.sessions()}
    assert {"notebook.ipynb", "kernel-2", "kernel-4"} <= remaining and keep_me
    assert len([k for k in remaining if k.startswith("kernel-")]) == 2  # the newest and the protected one


def test_a_lease_is_exclusive_across_processes_and_dies_with_its_holder(tmp_path):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from llmos_kernel.lease import SessionLease; "
         f"lease = SessionLease(__import__('pathlib').Path({str(tmp_path)!r})); assert lease.take('nb.ipynb'); "
         "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = SessionLease(tmp_path)
        assert not mine.take("nb.ipynb")
        assert mine.take("other.ipynb")
    finally:
        holder.kill()
        holder.wait()
    assert mine.take("nb.ipynb") and mine.key == "nb.ipynb"  # the lock died with its process


def test_the_same_process_takes_its_own_lease_over(tmp_path):
    first, second = SessionLease(tmp_path), SessionLease(tmp_path)
    assert first.take("nb.ipynb") and second.take("nb.ipynb")
    assert first.key is None and second.key == "nb.ipynb"


def test_a_second_kernel_on_the_same_notebook_keeps_its_own_session(tmp_path, server):  # noqa: F811
    env = kernel_env(tmp_path)
    with kernel_with(env) as a, kernel_with(env) as b:
        use_server(a, server)
        use_server(b, server)
        ask(a, "first kernel's question", "a1")
        run = ask(b, "second kernel's question", "b1")
        assert "open in another kernel" in run.stdout
        ask(a, "first kernel again", "a2")
        ask(b, "second kernel again", "b2")
        sessions = ok(a.run("%sessions")).stdout
        assert "second kernel" in sessions
    # Both kernels' turns survived: neither deleted the other's rows.
    store = Store(tmp_path / "store.db")
    cells = {info.key: info.cells for info in store.sessions()}
    assert cells[env["JPY_SESSION_NAME"]] == 2
    assert [n for key, n in cells.items() if "second kernel" in key] == [2]


def test_headless_runs_do_not_pile_up(tmp_path, server):  # noqa: F811
    env = kernel_env(tmp_path)
    del env["JPY_SESSION_NAME"]  # nbclient, papermill: no notebook path, a generated key each start
    store = Store(tmp_path / "store.db")
    for i in range(23):
        store.create_session(f"kernel-old{i:02d}")
    with kernel_with(env) as k:
        use_server(k, server)
        ask(k, "hello", "c1")
    keys = [info.key for info in store.sessions()]
    assert len([key for key in keys if key.startswith("kernel-")]) <= 21


def test_export_never_overwrites_silently(tmp_path, server):  # noqa: F811
    with kernel_with(kernel_env(tmp_path)) as k:
        use_server(k, server)
        ask(k, "hello", "c1")
        target = tmp_path / "notes.md"
        target.write_text("my own notes")
        run = k.run(f"%export {target}")
        assert run.status == "error" and "exists" in run.error_text and "--force" in run.error_text
        assert target.read_text() == "my own notes"
        ok(k.run(f"%export {target} --force"))
        assert "hello" in target.read_text()
