"""Swap: where segments paged out of the context window go, searchable by full text.

Stdlib sqlite3 with an FTS5 index. Each segment is stored whole as JSON (so nothing evicted is ever lost,
including its token-count cache) next to an FTS row holding its searchable text.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator

from .segments import Segment

_SCHEMA = """
CREATE TABLE IF NOT EXISTS swap_segments (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    cell_id TEXT,
    execution_count INTEGER,
    label TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS swap_segments_cell ON swap_segments(cell_id);
CREATE VIRTUAL TABLE IF NOT EXISTS swap_fts USING fts5(
    label, text, answer, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
# Weights for bm25 over (label, text, answer): a match in a file name or model label says more.
_BM25 = "bm25(swap_fts, 4.0, 1.0, 1.0)"
_MAX_QUERY_TERMS = 32
_TERM = re.compile(r"\w+")
# Dropped from a query when it has other words: a prompt-driven recall should not match on "the".
_STOPWORD_TEXT = (
    "a an and are as at be but by do does for from how i in is it me my"
    " of on or so that the this to was we what when where which who why will with you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def fts_query(text: str) -> str:
    """Turn arbitrary user text into a safe FTS5 query: each word quoted, all ORed; '' when no words.

    Only \\w runs survive, so quotes, operators, NUL and lone surrogates can never reach the FTS parser.
    Stopwords are dropped unless the query has nothing else.
    """
    seen = list(dict.fromkeys(match.group(0).lower() for match in _TERM.finditer(text)))
    content = [term for term in seen if term not in _STOPWORDS] or seen
    return " OR ".join(f'"{term}"' for term in content[:_MAX_QUERY_TERMS])


def _searchable(text: str) -> str:
    # SQLite wants valid UTF-8: lone surrogates are replaced in the index only (the JSON copy keeps them,
    # escaped), and NUL becomes a space so the tokenizer sees a word boundary.
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")


class Swap:
    """A store of paged-out segments. Thread-safe; WAL when on a file."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        # check_same_thread=False: the kernel calls from its shell thread and from comm/widget handlers.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:" and not path.startswith("file::memory:"):
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        # id -> ("put" | "update" | "delete", JSON or None) since the last take_changes(); None: not tracking.
        self._changes: dict[str, tuple[str, str | None]] | None = None
        self._changes_lost = False

    # -- change tracking: lets a persister (the session store) copy only what changed since its last write --

    def track_changes(self) -> None:
        """Start recording writes; take_changes() returns them."""
        with self._lock:
            self._changes, self._changes_lost = {}, False

    def take_changes(self) -> dict[str, tuple[str, str | None]] | None:
        """Writes since the last call, in order: id -> ("put", JSON) (stored anew, so it is now the newest),
        ("update", JSON) (same place in the order) or ("delete", None).

        None when not tracking or when a failed transaction made the record unreliable: copy the whole swap.
        """
        with self._lock:
            if self._changes is None or self._changes_lost:
                return None
            changes, self._changes = self._changes, {}
            return changes

    def _note(self, segment_id: str, op: str, data: str | None) -> None:
        if self._changes is None:
            return
        previous = self._changes.pop(segment_id, None)
        if op == "update" and previous is not None and previous[0] == "put":
            op = "put"  # still new since the last take: it needs its position, not only its data
        self._changes[segment_id] = (op, data)

    # -- writing ---------------------------------------------------------------------------------------

    def put(self, segment: Segment) -> None:
        """Store (or replace) a segment."""
        self.put_many([segment])

    def put_many(self, segments: list[Segment]) -> None:
        """Store (or replace) segments in one transaction: all of them or, on an error, none."""
        with self._lock, self._transaction():
            for segment in segments:
                self._put(segment)

    def load(self, segments: list[Segment]) -> None:
        """Fill a swap from saved segments (in their order) without recording the writes as changes."""
        with self._lock:
            tracking, self._changes = self._changes, None
            try:
                self.put_many(segments)
            finally:
                self._changes = tracking

    def _put(self, segment: Segment) -> None:
        data = json.dumps(segment.to_dict())  # ensure_ascii: lone surrogates survive as \\udxxx escapes
        self._delete(segment.id)
        cursor = self._db.execute(
            "INSERT INTO swap_segments (id, kind, cell_id, execution_count, label, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                _searchable(segment.id),
                segment.kind.value,
                None if segment.cell_id is None else _searchable(segment.cell_id),
                segment.execution_count,
                _searchable(segment.label),
                data,
            ),
        )
        self._db.execute(
            "INSERT INTO swap_fts (rowid, label, text, answer) VALUES (?, ?, ?, ?)",
            (
                cursor.lastrowid,
                _searchable(segment.label),
                _searchable(segment.text),
                _searchable(segment.answer),
            ),
        )
        self._note(segment.id, "put", data)

    def remove(self, segment_id: str) -> bool:
        """Delete a segment; True when it was there."""
        with self._lock, self._transaction():
            return self._delete(segment_id)

    def take(self, segment_id: str) -> Segment | None:
        """Remove and return a segment (None when absent)."""
        with self._lock, self._transaction():
            segment = self.get(segment_id)
            if segment is not None:
                self._delete(segment_id)
            return segment

    def update_tokens(self, segment: Segment) -> None:
        """Persist a segment's token-count cache (counted lazily for a new tokenizer)."""
        data = json.dumps(segment.to_dict())
        with self._lock:
            cursor = self._db.execute("UPDATE swap_segments SET data = ? WHERE id = ?", (data, segment.id))
            if cursor.rowcount:
                self._note(segment.id, "update", data)

    # -- reading ---------------------------------------------------------------------------------------

    def get(self, segment_id: str) -> Segment | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM swap_segments WHERE id = ?", (_searchable(segment_id),)
            ).fetchone()
        return None if row is None else Segment.from_dict(json.loads(row[0]))

    def search(self, query: str, limit: int = 5) -> list[Segment]:
        """Best matches for free text, ranked by bm25; never raises on odd input, [] when nothing matches."""
        match = fts_query(query)
        if not match or limit <= 0:
            return []
        with self._lock:
            rows = self._db.execute(
                f"SELECT s.data FROM swap_fts JOIN swap_segments s ON s.rowid = swap_fts.rowid"
                f" WHERE swap_fts MATCH ? ORDER BY {_BM25}, s.rowid DESC LIMIT ?",
                (match, limit),
            ).fetchall()
        return [Segment.from_dict(json.loads(row[0])) for row in rows]

    def by_cell(self, cell_id: str) -> list[Segment]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM swap_segments WHERE cell_id = ? ORDER BY rowid", (_searchable(cell_id),)
            ).fetchall()
        return [Segment.from_dict(json.loads(row[0])) for row in rows]

    def by_label(self, label: str) -> list[Segment]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM swap_segments WHERE label = ? ORDER BY rowid", (_searchable(label),)
            ).fetchall()
        return [Segment.from_dict(json.loads(row[0])) for row in rows]

    def by_execution_count(self, execution_count: int) -> list[Segment]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM swap_segments WHERE execution_count = ? ORDER BY rowid", (execution_count,)
            ).fetchall()
        return [Segment.from_dict(json.loads(row[0])) for row in rows]

    def all(self) -> list[Segment]:
        """Every swapped segment, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM swap_segments ORDER BY rowid").fetchall()
        return [Segment.from_dict(json.loads(row[0])) for row in rows]

    def __contains__(self, segment_id: object) -> bool:
        if not isinstance(segment_id, str):
            return False
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM swap_segments WHERE id = ?", (_searchable(segment_id),)
            ).fetchone()
        return row is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM swap_segments").fetchone()[0])

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.all())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals -------------------------------------------------------------------------------------

    def _delete(self, segment_id: str) -> bool:
        row = self._db.execute(
            "SELECT rowid FROM swap_segments WHERE id = ?", (_searchable(segment_id),)
        ).fetchone()
        if row is None:
            return False
        self._db.execute("DELETE FROM swap_fts WHERE rowid = ?", (row[0],))
        self._db.execute("DELETE FROM swap_segments WHERE rowid = ?", (row[0],))
        self._note(segment_id, "delete", None)
        return True

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._rolled_back)

    def _rolled_back(self) -> None:
        # The change record may now name writes that never happened: the next persist copies everything.
        self._changes_lost = True


class _Transaction:
    """BEGIN/COMMIT around a block (the connection is in autocommit mode), re-entrant by depth."""

    def __init__(self, db: sqlite3.Connection, on_rollback: Callable[[], None] | None = None) -> None:
        self._db = db
        self._on_rollback = on_rollback
        self._began = False

    def __enter__(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._began = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._began:
            return
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
            if self._on_rollback is not None:
                self._on_rollback()
