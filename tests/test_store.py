"""The session store on its own (migrations, transactions, concurrency, secrets) and the incremental persister
(session.py) against a real runtime whose memory is saved and rebuilt, in-process."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import threading
from pathlib import Path

import pytest

from llmos_kernel import store as store_module
from llmos_kernel.backends.registry import ModelSpec
from llmos_kernel.memory import Kind, MemoryFull, NothingToUndo, Segment
from llmos_kernel.runtime import Runtime
from llmos_kernel.session import Session
from llmos_kernel.store import MIGRATIONS, CellRecord, Store, scrub, secret_values, store_path


def tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def cell(n: int, **kw) -> CellRecord:
    return CellRecord(prompt=f"prompt {n}", answer=f"answer {n}", model="m", status="ok", execution_count=n, **kw)


# -- migrations ------------------------------------------------------------------------------------------------


def test_migrations_build_an_empty_file_and_are_not_reapplied(tmp_path):
    path = tmp_path / "sub" / "store.db"  # the folder does not exist yet
    store = Store(path)
    assert store.migrations() == [m.__name__ for m in MIGRATIONS]
    assert {"sessions", "cells", "segments", "snapshots", "_llmos_migrations"} <= tables(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    sid = store.create_session("nb.ipynb", {"a": 1})
    store.add_cell(sid, cell(1))
    store.close()

    again = Store(path)
    assert again.migrate() == []  # nothing left to apply
    assert again.migrations() == [m.__name__ for m in MIGRATIONS]
    assert again.find_session("nb.ipynb") == (sid, {"a": 1})
    assert [c.prompt for c in again.cells(sid)] == ["prompt 1"]


def test_a_new_migration_upgrades_an_old_file(tmp_path, monkeypatch):
    path = tmp_path / "store.db"
    Store(path).close()

    def m002_add_notes(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE sessions ADD COLUMN notes TEXT")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, m002_add_notes])
    upgraded = Store(path)
    assert upgraded.migrations()[-1] == "m002_add_notes"
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert "notes" in [row[1] for row in db.execute("PRAGMA table_info(sessions)")]


def test_a_failing_migration_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "store.db"
    Store(path).close()

    def m002_broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, m002_broken])
    with pytest.raises(RuntimeError):
        Store(path)
    assert "half_done" not in tables(path)
    monkeypatch.setattr(store_module, "MIGRATIONS", list(MIGRATIONS))
    assert "m002_broken" not in Store(path).migrations()


# -- transactions and concurrency ------------------------------------------------------------------------------


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "store.db")
    sid = store.create_session("k")
    with pytest.raises(ZeroDivisionError), store.transaction():
        store.add_cell(sid, cell(1))
        store.put_segments(sid, "resident", [("s1", 0, "{}")])
        store.save_state(sid, {"changed": True})
        1 / 0  # noqa: B018
    assert store.cells(sid) == []
    assert store.counts(sid) == {"cells": 0, "resident": 0, "swap": 0, "snapshots": 0}
    assert store.find_session("k") == (sid, {})
    with store.transaction():  # inner blocks join the outer transaction and commit with it
        store.add_cell(sid, cell(2))
        with store.transaction():
            store.add_cell(sid, cell(3))
    assert [c.execution_count for c in store.cells(sid)] == [2, 3]


def test_writers_on_two_connections_at_once(tmp_path):
    path = tmp_path / "store.db"
    errors: list[BaseException] = []

    def writer(key: str) -> None:
        try:
            store = Store(path)  # each opens (and migrates) the new file concurrently
            sid = store.create_session(key)
            for n in range(150):
                with store.transaction():
                    store.add_cell(sid, cell(n))
                    store.put_segments(sid, "resident", [(f"s{n}", n, json.dumps({"n": n}))])
            store.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"nb{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = Store(path)
    assert store.integrity_check() == "ok"
    assert sorted(info.cells for info in store.sessions()) == [150, 150, 150]
    assert store.migrations() == [m.__name__ for m in MIGRATIONS]  # applied once, not once per writer


def test_snapshots_copy_and_restore_state_and_segments(tmp_path):
    store = Store(tmp_path / "store.db")
    sid = store.create_session("k", {"v": 1})
    store.put_segments(sid, "resident", [("a", 0, '{"id": "a"}'), ("b", 1, '{"id": "b"}')])
    swapped = Segment(Kind.HISTORY, "the swapped turn about zebras", "ok", id="c")
    store.swap(sid).put(swapped)
    assert store.save_snapshot(sid, "one") is False
    store.save_state(sid, {"v": 2})
    store.delete_segments(sid, "resident", ["a"])
    store.swap(sid).remove("c")
    assert store.save_snapshot(sid, "two") is False
    assert store.save_snapshot(sid, "two") is True  # same name again: replaced
    assert store.restore_snapshot(sid, "one") is True
    assert store.find_session("k") == (sid, {"v": 1})
    assert store.segments(sid) == {"resident": [{"id": "a"}, {"id": "b"}], "swap": [swapped.to_dict()]}
    assert [s.id for s in store.swap(sid).search("zebras")] == ["c"]  # restored pages are indexed again
    assert store.restore_snapshot(sid, "missing") is False
    assert [name for name, _ in store.snapshots(sid)] == ["one", "two"]


def test_swap_lives_in_the_store_file_and_goes_with_its_session(tmp_path):
    path = tmp_path / "store.db"
    store = Store(path)
    sid, other = store.create_session("k", {}), store.create_session("other", {})
    store.swap(sid).put_many([Segment(Kind.HISTORY, f"turn {i} about zebras", "ok") for i in range(3)])
    store.swap(other).put(Segment(Kind.HISTORY, "another session's zebras", "ok"))
    with contextlib.closing(sqlite3.connect(path)) as db:  # on disk, for any reader of the file
        assert db.execute("SELECT count(*) FROM swap_segments WHERE scope = ?", (sid,)).fetchone()[0] == 3
    assert len(store.swap(sid).search("zebras", 10)) == 3 and len(store.swap(other)) == 1
    assert store.counts(sid)["swap"] == 3
    with store.transaction() as db:
        db.execute("DELETE FROM sessions WHERE id = ?", (sid,))
    with contextlib.closing(sqlite3.connect(path)) as db:  # its pages and their index rows went with it
        assert db.execute("SELECT count(*) FROM swap_segments").fetchone()[0] == 1
        pages = db.execute("SELECT count(*) FROM swap_pages").fetchone()[0]
        assert pages == 2 == db.execute("SELECT count(*) FROM swap_fts").fetchone()[0]  # "User: …", "Assistant: …"
    assert [s.text for s in store.swap(other).search("zebras")] == ["another session's zebras"]


def test_secrets_never_reach_the_swap_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIT_API_KEY", "sk-unit-very-secret-1234")
    store = Store(tmp_path / "store.db")
    sid = store.create_session("k", {})
    store.swap(sid).put(Segment(Kind.HISTORY, "my key is sk-unit-very-secret-1234", "noted"))
    raw = (tmp_path / "store.db").read_bytes() + (tmp_path / "store.db-wal").read_bytes()
    assert b"sk-unit-very-secret-1234" not in raw and store.swap(sid).search("redacted")


def test_migration_moves_an_old_files_swap_rows_into_the_page_index(tmp_path, monkeypatch):
    path = tmp_path / "store.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    old = Store(path)
    sid = old.create_session("k", {})
    turn = Segment(Kind.HISTORY, "an old swapped turn about zebras", "ok")
    old.put_segments(sid, "swap", [(turn.id, 0, json.dumps(turn.to_dict()))])
    old.close()
    monkeypatch.undo()
    store = Store(path)
    assert "m002_swap_on_disk" in store.migrations()
    assert store.segments(sid)["swap"] == [turn.to_dict()]
    assert [s.id for s in store.swap(sid).search("zebras")] == [turn.id]
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM segments WHERE place = 'swap'").fetchone()[0] == 0


# -- secrets and location --------------------------------------------------------------------------------------


def test_scrub_removes_credential_values_in_plain_and_json_spelling(monkeypatch):
    key = 'sk-unit-"quoted"\\-0123456789abcdef'
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", key)
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to be a credential: ordinary words survive
    text = f"plain {key} and json {json.dumps(key)} abc"
    cleaned = scrub(text)
    assert key not in cleaned and json.dumps(key)[1:-1] not in cleaned
    assert cleaned.count(store_module.REDACTED) == 2 and cleaned.endswith(" abc")
    assert key in secret_values() and "abc" not in secret_values()


def test_store_path_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LLMOS_STORE", raising=False)
    assert store_path(str(tmp_path / "configured.db")) == tmp_path / "configured.db"
    assert store_path().parts[-2:] == ("llmos", "store.db")
    monkeypatch.setenv("LLMOS_STORE", str(tmp_path / "env.db"))
    assert store_path(str(tmp_path / "configured.db")) == tmp_path / "env.db"


# -- the persister: random memory operations, then a fresh runtime rebuilds exactly the same memory ---------


def new_runtime() -> Runtime:
    runtime = Runtime()
    # A custom server's model: an estimating tokenizer and a given window, so nothing is loaded or contacted.
    runtime.spec = ModelSpec("openai/unit", api_base="http://127.0.0.1:9/v1", window=3000)
    return runtime


def reopened(path: Path, key: str) -> Runtime:
    runtime = new_runtime()
    Session(runtime, path, key=key).open()
    return runtime


def same_memory(live: Runtime, restored: Runtime) -> None:
    assert restored.loaded_memory is None  # nothing is built until it is used
    assert restored.memory.to_dict() == live.memory.to_dict()
    assert [s.to_dict() for s in restored.memory.swap.all()] == [s.to_dict() for s in live.memory.swap.all()]
    assert restored.memory.plan("next").messages == live.memory.plan("next").messages


def test_incremental_saves_rebuild_the_same_memory(tmp_path):
    path, key = tmp_path / "store.db", "notebooks/random.ipynb"
    rng = random.Random(7)
    runtime = new_runtime()
    session = Session(runtime, path, key=key)
    session.open()
    runtime.set_system("You are terse.")
    memory = runtime.memory
    words = ["kernel", "window", "token", "swap", "page", "model", "alpha", "beta", "gamma", "delta"]
    saw = {"swap": 0, "reopen": 0}
    for step in range(120):
        op = rng.random()
        with contextlib.suppress(LookupError, ValueError, MemoryFull, NothingToUndo):
            if op < 0.45:
                text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 120)))
                memory.commit_turn(f"cell{rng.randint(0, 25)}", text, text[::-1], execution_count=step)
                memory.plan("next")  # the LRU policy pages out under pressure
            elif op < 0.55 and memory.segments:
                memory.evict(rng.choice(memory.segments).id)
            elif op < 0.62:
                memory.recall(rng.choice(words), limit=2)
            elif op < 0.67 and memory.segments:
                memory.forget(rng.choice(memory.segments).id)
            elif op < 0.72 and memory.segments:
                memory.pin(rng.choice(memory.segments).id)
            elif op < 0.76:
                memory.load_document(f"doc{rng.randint(0, 2)}.md", " ".join(rng.choices(words, k=40)))
            elif op < 0.80:
                memory.undo()
            elif op < 0.84:
                memory.compact(lambda segments, focus=None: "a summary", keep_last=1)
            elif op < 0.87:
                memory.set_window(rng.choice([2000, 3000]))
        session.save(cell(step) if op < 0.45 else None)
        saw["swap"] = max(saw["swap"], len(memory.swap))
        if step % 30 == 29:
            same_memory(runtime, reopened(path, key))
            saw["reopen"] += 1
    assert saw["swap"] > 3 and saw["reopen"] == 4  # the run exercised paging and checked itself
    session.save()  # the last check planned a request: its page-fault counters are memory state too
    restored = reopened(path, key)
    same_memory(runtime, restored)
    assert restored.system_prompt == "You are terse." and restored.spec == runtime.spec


def test_saves_write_only_what_changed(tmp_path):
    path = tmp_path / "store.db"
    runtime = new_runtime()
    session = Session(runtime, path, key="k")
    session.open()
    memory = runtime.memory
    for n in range(20):
        memory.commit_turn(f"c{n}", f"question {n}", f"answer {n}")
    session.save()
    memory.evict("c3")
    seen: list[str] = []
    assert session.store is not None
    session.store._db.set_trace_callback(seen.append)
    session.save()  # one segment left the window (for swap, written as it left): one row, not twenty,
    writes = [s for s in seen if s.startswith(("INSERT", "UPDATE", "DELETE"))]  # and the eviction counters
    assert len(writes) == 2 and writes[0].startswith("UPDATE sessions"), writes
    assert writes[1].startswith("DELETE FROM segments"), writes
    seen.clear()
    session.save()  # nothing changed: nothing written, not even a transaction
    assert seen == []


def test_restore_survives_a_changed_model_before_first_use(tmp_path):
    path = tmp_path / "store.db"
    runtime = new_runtime()
    session = Session(runtime, path, key="k")
    session.open()
    for n in range(30):
        runtime.memory.commit_turn(f"c{n}", "words " * 60, "more " * 20)
    session.save()
    restored = new_runtime()
    Session(restored, path, key="k").open()
    restored.spec = ModelSpec("openai/unit", api_base="http://127.0.0.1:9/v1", window=1500)  # a smaller window
    assert restored.memory.window == 1500 and restored.memory.used <= restored.memory.usable
    assert len(restored.memory.swap) > 0  # what no longer fits was paged out, not lost
    kinds = {s.kind for s in restored.memory.segments} | {s.kind for s in restored.memory.swap.all()}
    assert kinds == {Kind.HISTORY}


def test_a_broken_store_turns_persistence_off_without_breaking_the_runtime(tmp_path):
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not a database, just bytes " * 100)
    runtime = new_runtime()
    session = Session(runtime, path, key="k")
    session.open()
    assert session.store is None and "could not be opened" in (session.error or "")
    assert any("could not be opened" in notice for notice in runtime.notices)  # shown with the next cell
    runtime.memory.commit_turn("c", "still", "works")
    session.save()  # a no-op, not an error
    assert path.read_bytes().startswith(b"this is not a database")


def test_m004_marks_an_old_files_untrusted_swap_rows(tmp_path, monkeypatch):
    """A store whose swap tables predate the untrusted column (memory/taint.py) gets it, filled from the JSON."""
    path = tmp_path / "store.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    old = Store(path)
    sid = old.create_session("k", {})
    old.close()
    monkeypatch.undo()
    with contextlib.closing(sqlite3.connect(path)) as db:  # the swap tables as m002 left them
        for statement in store_module.swap_schema("REFERENCES sessions(id) ON DELETE CASCADE"):
            db.execute(statement)
        for flag, name in ((True, "tainted"), (False, "clean")):
            data = json.dumps(Segment(Kind.TOOL, f"{name} text", id=name, untrusted=flag).to_dict())
            db.execute("INSERT INTO swap_segments (scope, id, kind, label, created, pages, data)"
                       " VALUES (?, ?, 'tool', '', 0, 1, ?)", (sid, name, data))
        db.execute("INSERT INTO _llmos_migrations VALUES ('m002_swap_on_disk', 0)")
        db.commit()
    store = Store(path)
    assert "m004_untrusted_swap" in store.migrations()
    swap = store.swap(sid)
    assert swap.untrusted_count() == 1 and swap.get("tainted").untrusted and not swap.get("clean").untrusted
