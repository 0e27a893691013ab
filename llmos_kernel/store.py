"""The session store: stdlib sqlite3 (WAL) holding sessions, their cells, memory segments, swap and snapshots.

One file serves every kernel on the machine, so several kernels write it at once: WAL lets readers run beside
the one writer, every write is a short `BEGIN IMMEDIATE` transaction (it takes the write lock up front, so two
writers queue on busy_timeout instead of failing with a deadlock half-way), and FULL sync makes a committed cell
survive even a power cut, not only a killed process.

Schema changes are numbered migration functions applied in order, each in its own transaction and recorded in
`_llmos_migrations` (the simonw/llm pattern): a database from any earlier version upgrades on open.

Nothing that looks like a credential is ever written: every text passes `scrub` (redact.py, the one rule for
secrets everywhere).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .memory.segments import Segment
from .memory.swap import Swap, add_untrusted_column
from .memory.swap import concept_schema as swap_concept_schema
from .memory.swap import schema as swap_schema
from .memory.swap import vector_schema as swap_vector_schema
from .redact import MARK, redact, secret_values

STORE_ENV = "LLMOS_STORE"
BUSY_TIMEOUT_MS = 15_000
REDACTED = MARK


def default_store_path() -> Path:
    from jupyter_core.paths import jupyter_data_dir  # jupyter_core is already loaded by ipykernel

    return Path(jupyter_data_dir()) / "llmos" / "store.db"


def private_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) 0700: no other user may list or read what is in it.

    Only a folder created here, or the kernel's own default folder, is made 0700. A folder that already exists
    and was named by the user ($LLMOS_STORE=~/work/store.db, or /tmp/x.db) keeps its mode: it is theirs, and
    may be shared on purpose (issue 21). The store file itself is 0600 either way.
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
    except FileExistsError:
        if folder == default_store_path().parent:
            os.chmod(folder, 0o700)  # ours, perhaps made with the umask by an older version: tighten it
        return
    os.chmod(folder, 0o700)  # mkdir's mode passes through the umask; 0700 is meant exactly


def store_path(configured: str | None = None) -> Path:
    """Where the store lives: $LLMOS_STORE, else the configured path, else the Jupyter data directory."""
    chosen = os.environ.get(STORE_ENV) or configured
    return Path(chosen).expanduser() if chosen else default_store_path()


# -- secrets ---------------------------------------------------------------------------------------------------


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every secret value replaced, also in its JSON-escaped spelling (text may be a JSON document)."""
    return redact(text, secrets)


# -- migrations ------------------------------------------------------------------------------------------------


def m001_initial(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,           -- the notebook's path, or a generated id
            created REAL NOT NULL,
            updated REAL NOT NULL,
            state TEXT NOT NULL DEFAULT '{}'    -- JSON: model spec, system prompt, window settings
        )""")
    db.execute("""
        CREATE TABLE cells (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            cell_id TEXT,
            execution_count INTEGER,
            prompt TEXT NOT NULL,
            answer TEXT NOT NULL,
            model TEXT NOT NULL,
            parameters TEXT NOT NULL,           -- JSON: the cell's options
            tokens_in INTEGER NOT NULL,
            tokens_out INTEGER NOT NULL,
            exact INTEGER NOT NULL,
            latency REAL NOT NULL,
            cost REAL,
            status TEXT NOT NULL,               -- ok | interrupted | error
            started REAL NOT NULL,
            finished REAL NOT NULL
        )""")
    db.execute("CREATE INDEX cells_by_session ON cells(session_id, id)")
    db.execute("""
        CREATE TABLE segments (
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            place TEXT NOT NULL CHECK (place IN ('resident', 'swap')),
            id TEXT NOT NULL,
            position INTEGER NOT NULL,          -- order in the window's log, or in swap (oldest first)
            data TEXT NOT NULL,                 -- Segment.to_dict() as JSON
            PRIMARY KEY (session_id, place, id)
        )""")
    db.execute("""
        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            created REAL NOT NULL,
            state TEXT NOT NULL,                -- JSON: {"state", "resident", "swap"}
            UNIQUE (session_id, name)
        )""")


def m002_swap_on_disk(db: sqlite3.Connection) -> None:
    """Swap pages live here, in swap tables of their own (FTS5-indexed pages), instead of in the kernel's RAM
    with a copy in `segments`; the copies become the new tables' rows. The schema is the one of this version
    (memory/swap.py): a later change to it needs a migration of its own."""
    for statement in swap_schema("REFERENCES sessions(id) ON DELETE CASCADE"):
        db.execute(statement)
    add_untrusted_column(db)  # Swap below writes today's columns (m004 adds this one to older stores)
    rows = db.execute(
        "SELECT session_id, data FROM segments WHERE place = 'swap' ORDER BY session_id, position"
    ).fetchall()
    by_session: dict[int, list[Segment]] = {}
    for session_id, data in rows:
        by_session.setdefault(int(session_id), []).append(Segment.from_dict(json.loads(data)))
    for session_id, segments in by_session.items():
        swap = Swap(db=db, lock=threading.RLock(), scope=session_id)
        swap.embedding = False  # no vector table yet (m006): pages are embedded when their session next runs
        swap.put_many(segments)
    db.execute("DELETE FROM segments WHERE place = 'swap'")


def m003_recordings(db: sqlite3.Connection) -> None:
    """Recorded answers by the digest of exactly what was sent (replay.py): any kernel on this store can replay
    them, so they belong to no session."""
    db.execute("""
        CREATE TABLE recordings (
            digest TEXT PRIMARY KEY,            -- sending.request_digest: model, parameters, messages
            model TEXT NOT NULL,
            prompt TEXT NOT NULL,               -- the last user message, for people reading an export
            answer TEXT NOT NULL,
            tokens_in INTEGER NOT NULL,
            tokens_out INTEGER NOT NULL,
            exact INTEGER NOT NULL,
            finish_reason TEXT,
            created REAL NOT NULL
        )""")


def m004_untrusted_swap(db: sqlite3.Connection) -> None:
    """A swapped segment says whether it is untrusted content (memory/taint.py) in a column of its own, filled
    from each segment's JSON: paging it back in taints the session again, also after a restart."""
    add_untrusted_column(db)
    db.execute("UPDATE swap_segments SET untrusted = 1 WHERE json_extract(data, '$.untrusted') = 1")


def m005_recording_tools(db: sqlite3.Connection) -> None:
    """A recorded cell's tool calls and results, as JSON (replay.py): its playback restores the same tool
    segments in memory as the live run, so the next cell's request (and digest) is the same too."""
    db.execute("ALTER TABLE recordings ADD COLUMN tools TEXT NOT NULL DEFAULT '[]'")


def m006_page_vectors(db: sqlite3.Connection) -> None:
    """Page embeddings for semantic recall (memory/embed.py, issue 22), beside the FTS5 index. Pages already
    in swap get theirs in the background the next time their session pages something out or recalls."""
    for statement in swap_vector_schema():
        db.execute(statement)


def m007_page_concepts(db: sqlite3.Connection) -> None:
    """What kinds of thing each swapped page names (memory/thesaurus.py, issue 22). Pages already in swap are
    indexed in the background the next time their session pages something out."""
    for statement in swap_concept_schema():
        db.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_initial, m002_swap_on_disk, m003_recordings,
                                                          m004_untrusted_swap, m005_recording_tools,
                                                          m006_page_vectors, m007_page_concepts]


# -- records ---------------------------------------------------------------------------------------------------


@dataclass
class CellRecord:
    """One finished cell: a row of the process table with its prompt and answer."""

    prompt: str
    answer: str
    model: str
    status: str
    parameters: dict[str, Any] = field(default_factory=dict)
    cell_id: str | None = None
    execution_count: int | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    exact: bool = True
    latency: float = 0.0
    cost: float | None = None
    started: float = 0.0
    finished: float = 0.0


_CELL_COLUMNS = tuple(CellRecord.__dataclass_fields__)


@dataclass
class SessionInfo:
    id: int
    key: str
    created: float
    updated: float
    cells: int
    snapshots: int


def _patiently(step: Callable[[], object]) -> None:
    """Run a set-up step, waiting out "database is locked".

    Switching a new file to WAL (and the first migration) can fail at once with SQLITE_BUSY while another
    kernel is doing the same: SQLite does not call the busy handler there. Seen in CI with 3 writers.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.01
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


class Store:
    """A connection to the store file; thread-safe (the kernel writes from its shell thread and comm handlers)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Variables that hold a key but are not named like one (a model's --api-key-env): scrubbed as well.
        self.secret_names: set[str] = set()
        if str(path) != ":memory:":
            private_folder(self.path.parent)
            # The store holds prompts and answers: readable by its owner only, WAL and journal files included
            # (SQLite creates those with the main file's permissions).
            self.path.touch(mode=0o600, exist_ok=True)
            os.chmod(self.path, 0o600)
        self._lock = threading.RLock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly what we wrote.
        self._db = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _patiently(lambda: self._db.execute("PRAGMA journal_mode = WAL"))
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute("PRAGMA foreign_keys = ON")
        _patiently(self.migrate)

    # -- plumbing ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (re-entrant: an inner block joins the outer one); rolled back on any error."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def migrate(self) -> list[str]:
        """Apply the migrations this file lacks, each in its own transaction; returns the names applied."""
        applied: list[str] = []
        self._db.execute("CREATE TABLE IF NOT EXISTS _llmos_migrations (name TEXT PRIMARY KEY, applied REAL)")
        for migration in MIGRATIONS:
            with self.transaction() as db:
                # Checked inside the write lock: two kernels opening a new file at once apply each step once.
                if db.execute("SELECT 1 FROM _llmos_migrations WHERE name = ?", (migration.__name__,)).fetchone():
                    continue
                migration(db)
                db.execute("INSERT INTO _llmos_migrations VALUES (?, ?)", (migration.__name__, time.time()))
                applied.append(migration.__name__)
        return applied

    def migrations(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT name FROM _llmos_migrations ORDER BY rowid")]

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def swap(self, session_id: int) -> Swap:
        """A session's swap: its pages live in this file, written through this connection (and scrubbed)."""
        return Swap(db=self._db, lock=self._lock, scope=session_id, scrub=self._scrub)

    def _secrets(self) -> list[str]:
        return secret_values(tuple(self.secret_names))

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets())

    # -- sessions ----------------------------------------------------------------------------------------------

    def find_session(self, key: str) -> tuple[int, dict[str, Any]] | None:
        """(id, state) of the session with this key, or None."""
        with self._lock:
            row = self._db.execute("SELECT id, state FROM sessions WHERE key = ?", (key,)).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    def create_session(self, key: str, state: dict[str, Any] | None = None) -> int:
        """The id of the session with this key, created (with `state`) when there is none."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sessions (key, created, updated, state) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                (key, now, now, self._scrub(json.dumps(state or {}))),
            )
            return int(db.execute("SELECT id FROM sessions WHERE key = ?", (key,)).fetchone()[0])

    def rename_session(self, session_id: int, key: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE sessions SET key = ? WHERE id = ?", (key, session_id))

    def save_state(self, session_id: int, state: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE sessions SET state = ?, updated = ? WHERE id = ?",
                (self._scrub(json.dumps(state)), time.time(), session_id),
            )

    def sessions(self) -> list[SessionInfo]:
        """Every session, most recently used first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.key, s.created, s.updated,"
                " (SELECT count(*) FROM cells c WHERE c.session_id = s.id),"
                " (SELECT count(*) FROM snapshots p WHERE p.session_id = s.id)"
                " FROM sessions s ORDER BY s.updated DESC, s.id DESC"
            ).fetchall()
        return [SessionInfo(*row) for row in rows]

    def prune(self, *, older_than: float | None = None, keep: int | None = None, prefix: str = "",
              protect: set[int] | None = None) -> list[str]:
        """Delete sessions (their cells, segments and snapshots go with them): those last used more than
        ``older_than`` seconds ago, and all but the ``keep`` most recent; only keys starting with ``prefix``, never
        the ``protect``ed ids. Returns the keys deleted."""
        protect = protect or set()
        with self.transaction() as db:
            rows = db.execute("SELECT id, key, updated FROM sessions WHERE substr(key, 1, ?) = ?"
                              " ORDER BY updated DESC, id DESC", (len(prefix), prefix)).fetchall()
            now = time.time()
            doomed = [(sid, key) for rank, (sid, key, updated) in enumerate(rows)
                      if sid not in protect and ((older_than is not None and now - updated > older_than)
                                                 or (keep is not None and rank >= keep))]
            db.executemany("DELETE FROM sessions WHERE id = ?", [(sid,) for sid, _ in doomed])
        if doomed:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return [key for _, key in doomed]

    def size(self) -> int:
        """Bytes on disk: the database and its WAL."""
        wal = Path(f"{self.path}-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def counts(self, session_id: int | None) -> dict[str, int]:
        """Cells, resident and swapped segments, snapshots of a session (zeros for one not written yet)."""
        counts = {"cells": 0, "resident": 0, "swap": 0, "snapshots": 0}
        if session_id is None:
            return counts
        with self._lock:
            db = self._db
            counts["cells"] = db.execute("SELECT count(*) FROM cells WHERE session_id = ?", (session_id,)).fetchone()[0]
            counts["resident"] = db.execute(
                "SELECT count(*) FROM segments WHERE session_id = ? AND place = 'resident'", (session_id,)
            ).fetchone()[0]
            counts["swap"] = db.execute(
                "SELECT count(*) FROM swap_segments WHERE scope = ?", (session_id,)
            ).fetchone()[0]
            counts["snapshots"] = db.execute(
                "SELECT count(*) FROM snapshots WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
        return counts

    # -- cells -------------------------------------------------------------------------------------------------

    def add_cell(self, session_id: int, cell: CellRecord) -> int:
        values = asdict(cell)
        values["parameters"] = json.dumps(cell.parameters)
        values["exact"] = int(cell.exact)
        secrets = self._secrets()
        for name in ("prompt", "answer", "parameters", "model"):
            values[name] = scrub(values[name], secrets)
        columns = ", ".join(_CELL_COLUMNS)
        marks = ", ".join("?" for _ in _CELL_COLUMNS)
        with self.transaction() as db:
            cursor = db.execute(
                f"INSERT INTO cells (session_id, {columns}) VALUES (?, {marks})",
                (session_id, *(values[name] for name in _CELL_COLUMNS)),
            )
            db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (time.time(), session_id))
            return int(cursor.lastrowid or 0)

    def cells(self, session_id: int) -> list[CellRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_CELL_COLUMNS)} FROM cells WHERE session_id = ? ORDER BY id", (session_id,)
            ).fetchall()
        records = []
        for row in rows:
            values = dict(zip(_CELL_COLUMNS, row, strict=True))
            values["parameters"] = json.loads(values["parameters"])
            values["exact"] = bool(values["exact"])
            records.append(CellRecord(**values))
        return records

    # -- segments ----------------------------------------------------------------------------------------------

    def segments(self, session_id: int) -> dict[str, list[dict[str, Any]]]:
        """{"resident": [...], "swap": [...]}: the window's log and the swap, Segment dicts in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM segments WHERE session_id = ? AND place = 'resident' ORDER BY position",
                (session_id,),
            ).fetchall()
            swapped = [segment.to_dict() for segment in self.swap(session_id).all()]
        return {"resident": [json.loads(data) for (data,) in rows], "swap": swapped}

    def put_segments(self, session_id: int, place: str, rows: list[tuple[str, int, str]]) -> None:
        """Insert or replace (id, position, JSON data) rows of one place."""
        secrets = self._secrets()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO segments (session_id, place, id, position, data) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (session_id, place, id) DO UPDATE SET position = excluded.position, data = excluded.data",
                [(session_id, place, sid, position, scrub(data, secrets)) for sid, position, data in rows],
            )

    def update_segment_data(self, session_id: int, place: str, rows: list[tuple[str, str]]) -> None:
        """Replace the data of (id, JSON data) rows, keeping their positions."""
        secrets = self._secrets()
        with self.transaction() as db:
            db.executemany(
                "UPDATE segments SET data = ? WHERE session_id = ? AND place = ? AND id = ?",
                [(scrub(data, secrets), session_id, place, sid) for sid, data in rows],
            )

    def delete_segments(self, session_id: int, place: str, ids: list[str] | None = None) -> None:
        """Delete the given segments of one place, or all of them when `ids` is None."""
        with self.transaction() as db:
            if ids is None:
                db.execute("DELETE FROM segments WHERE session_id = ? AND place = ?", (session_id, place))
            else:
                db.executemany(
                    "DELETE FROM segments WHERE session_id = ? AND place = ? AND id = ?",
                    [(session_id, place, sid) for sid in ids],
                )

    def max_position(self, session_id: int, place: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT max(position) FROM segments WHERE session_id = ? AND place = ?", (session_id, place)
            ).fetchone()
        return -1 if row[0] is None else int(row[0])

    # -- snapshots ---------------------------------------------------------------------------------------------

    def save_snapshot(self, session_id: int, name: str) -> bool:
        """Copy the session's current state and segments under `name`; True when it replaced an older one."""
        with self.transaction() as db:
            state = db.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
            found = self.segments(session_id)
            document = json.dumps({"state": json.loads(state), **found})
            replaced = db.execute(
                "DELETE FROM snapshots WHERE session_id = ? AND name = ?", (session_id, name)
            ).rowcount
            db.execute(
                "INSERT INTO snapshots (session_id, name, created, state) VALUES (?, ?, ?, ?)",
                (session_id, name, time.time(), self._scrub(document)),
            )
        return bool(replaced)

    def snapshots(self, session_id: int) -> list[tuple[str, float]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, created FROM snapshots WHERE session_id = ? ORDER BY created", (session_id,)
            ).fetchall()
        return [(str(name), float(created)) for name, created in rows]

    def restore_snapshot(self, session_id: int, name: str) -> bool:
        """Make a snapshot the session's current state and segments, in one transaction; False when absent."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT state FROM snapshots WHERE session_id = ? AND name = ?", (session_id, name)
            ).fetchone()
            if row is None:
                return False
            document = json.loads(row[0])
            self.save_state(session_id, document["state"])
            self.delete_segments(session_id, "resident")
            rows = [(data["id"], i, json.dumps(data)) for i, data in enumerate(document.get("resident", []))]
            self.put_segments(session_id, "resident", rows)
            self.swap(session_id).replace_all([Segment.from_dict(data) for data in document.get("swap", [])])
        return True
