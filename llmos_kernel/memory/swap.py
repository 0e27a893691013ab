"""Swap: where segments paged out of the context window go, on disk, searchable page by page.

Stdlib sqlite3 with an FTS5 index (porter stemming). Each segment is stored whole as JSON, so nothing evicted
is ever lost (its token-count cache included), and is cut into pages (pages.py) that the index holds one row
each, so a recall can find and bring back the relevant paragraph of a long turn.

Swap lives in a database file, never in RAM: the session store's own file when the kernel has one (one
`scope` per session, so the store's foreign keys delete a session's swap with it), else a private temporary
file that SQLite deletes on close. SQLite keeps a bounded page cache of it in memory, so paging out does free
memory, however long the session.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import embed, thesaurus
from .pages import PAGE_CHARS, Page, page_text, split_pages
from .segments import Segment

# Weights for bm25 over (scope, label, text): a match in a file name or a label says more.
_BM25 = "bm25(swap_fts, 0.0, 4.0, 1.0)"
_MAX_QUERY_TERMS = 32
_TERM = re.compile(r"\w+")
_CONCEPT_WORD = re.compile(r"[a-z]{3,}")  # words of letters: "great-aunt" is indexed as an aunt
# Dropped from a query when it has other words: a prompt-driven recall should not match on "the".
_STOPWORD_TEXT = (
    "a an and are as at be but by do does for from how i in is it me my"
    " of on or so that the this to was we what when where which who why will with you your"
    # Function words that questions are full of and facts rarely hinge on (auto-recall weighs every word).
    " about after all also am any been before being can could did doing had has have he her him his into"
    " its just more most no not now only our out over please she should some such tell than their them then"
    " there these they those too us very were would"
    # Words a question is worded with, not about (measured: they let a page that shares only them outweigh
    # the one rare word a question and its fact share, and made questions with no answer recall pages).
    " am anything anyone called currently did does ever first get got give go going know last latest let"
    " like make many may mention mentioned much name named need recall recently remember said say"
    " something still take tell thing things think told want way well whom whose yet coming upcoming up lately"
    " list every each one ones total"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Whether a new Swap embeds its pages for semantic recall (embed.py); LLMOS_EMBED=0 turns it off, which the unit
# tests of the lexical path do (tests/memory/conftest.py), so the model runs only where a test asks for it.
EMBEDDING = os.environ.get("LLMOS_EMBED", "1") != "0"


def schema(scope_reference: str = "") -> list[str]:
    """The swap tables, one statement each (a migration runs them inside its own transaction, which
    executescript would commit). The session store passes `REFERENCES sessions(id) ON DELETE CASCADE`."""
    return [
        f"""CREATE TABLE IF NOT EXISTS swap_segments (
            rowid INTEGER PRIMARY KEY,
            scope INTEGER NOT NULL {scope_reference},
            id TEXT NOT NULL,
            kind TEXT NOT NULL,
            cell_id TEXT,
            execution_count INTEGER,
            label TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            pages INTEGER NOT NULL,
            data TEXT NOT NULL,                 -- Segment.to_dict() as JSON: the whole segment, never lost
            UNIQUE (scope, id)
        )""",
        "CREATE INDEX IF NOT EXISTS swap_segments_cell ON swap_segments(scope, cell_id)",
        """CREATE TABLE IF NOT EXISTS swap_pages (
            rowid INTEGER PRIMARY KEY,
            segment INTEGER NOT NULL REFERENCES swap_segments(rowid) ON DELETE CASCADE,
            page INTEGER NOT NULL,
            start INTEGER NOT NULL,             -- a span of pages.page_text(segment)
            stop INTEGER NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS swap_pages_segment ON swap_pages(segment)",
        """CREATE VIRTUAL TABLE IF NOT EXISTS swap_fts USING fts5(
            scope UNINDEXED, label, text, tokenize = 'porter unicode61 remove_diacritics 2'
        )""",
        # A page's index row goes with it, also when a deleted session's rows cascade.
        """CREATE TRIGGER IF NOT EXISTS swap_pages_deleted AFTER DELETE ON swap_pages BEGIN
            DELETE FROM swap_fts WHERE rowid = old.rowid;
        END""",
    ]


def vector_schema() -> list[str]:
    """Page embeddings (embed.py), one row per page, written after the page by a background thread. A page's
    vector goes with it (the cascade from swap_pages); `model` names the embedder, so vectors of another
    model are never compared with this one's."""
    return [
        """CREATE TABLE IF NOT EXISTS swap_vectors (
            page INTEGER PRIMARY KEY REFERENCES swap_pages(rowid) ON DELETE CASCADE,
            model TEXT NOT NULL,
            vector BLOB NOT NULL                -- float32, L2-normalized
        )""",
    ]


def concept_schema() -> list[str]:
    """What kinds of thing each page names (thesaurus.py): one row per page, WordNet concept and the word that
    is one ("daughter" under relative, offspring, family...), so a question about relatives finds the page.
    Written by the background thread after the page's vector; a row with concept 0 marks a page as done (a page
    may name no thing at all), its word the filing rules it was done by (thesaurus.FILED). A page's rows go with
    it (the cascade from swap_pages)."""
    return [
        """CREATE TABLE IF NOT EXISTS swap_concepts (
            page INTEGER NOT NULL REFERENCES swap_pages(rowid) ON DELETE CASCADE,
            concept INTEGER NOT NULL,
            word TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS swap_concepts_concept ON swap_concepts(concept)",
        "CREATE INDEX IF NOT EXISTS swap_concepts_page ON swap_concepts(page)",
    ]


def add_untrusted_column(db: sqlite3.Connection) -> None:
    """Whether a swapped segment is untrusted content (memory/taint.py), as a column: readable and countable
    without parsing each segment's JSON. The session store adds it in a migration (m004); a swap file of its
    own gets it here when it lacks it (ALTER TABLE has no IF NOT EXISTS)."""
    if "untrusted" not in {row[1] for row in db.execute("PRAGMA table_info(swap_segments)")}:
        db.execute("ALTER TABLE swap_segments ADD COLUMN untrusted INTEGER NOT NULL DEFAULT 0")


def query_terms(text: str) -> list[str]:
    """The distinct words of `text`, lower-cased, in order; stopwords dropped unless nothing else is left.

    Only \\w runs survive, so quotes, operators, NUL and lone surrogates can never reach the FTS parser.
    """
    seen = list(dict.fromkeys(match.group(0).lower() for match in _TERM.finditer(_searchable(text))))
    # A lone letter is a possessive's "s" or an initial: it matches everything and means nothing.
    content = [term for term in seen if term not in STOPWORDS and (len(term) > 1 or term.isdigit())]
    return (content or seen)[:_MAX_QUERY_TERMS]


def fts_query(text: str) -> str:
    """Turn arbitrary user text into a safe FTS5 query: each word quoted, all ORed; '' when no words."""
    return " OR ".join(f'"{term}"' for term in query_terms(text))


def _searchable(text: str) -> str:
    # SQLite wants valid UTF-8: lone surrogates are replaced in the index only (the JSON copy keeps them,
    # escaped), and NUL becomes a space so the tokenizer sees a word boundary.
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")


@dataclass(frozen=True)
class PageRow:
    """One indexed page, as search hands it out."""

    rowid: int
    segment_id: str
    index: int
    page_count: int
    text: str
    created: float
    execution_count: int | None
    cell_id: str | None


class Swap:
    """A store of paged-out segments. Thread-safe.

    `Swap()` is a private temporary file; `Swap(path)` a database file of its own (WAL); `Swap(db=..., lock=...,
    scope=N)` a view of the swap tables in someone else's connection (the session store's), sharing its lock.
    """

    def __init__(
        self,
        path: str = "",
        *,
        db: sqlite3.Connection | None = None,
        lock: Any = None,
        scope: int = 0,
        page_chars: int = PAGE_CHARS,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self.path = path
        self.scope = scope
        # Applied to what is written (the session store passes its secret scrubber: nothing key-like on disk).
        self.scrub = scrub
        self.page_chars = page_chars
        self._lock = lock if lock is not None else threading.RLock()
        self._owned = db is None
        if db is None:
            # check_same_thread=False: the kernel calls from its shell thread and from comm/widget handlers.
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            if path not in ("", ":memory:") and not path.startswith("file::memory:"):
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            for statement in schema() + vector_schema() + concept_schema():
                db.execute(statement)
            add_untrusted_column(db)
        self._db = db
        # Page embeddings: written by a background thread after a page-out (never on the typing path), and
        # read back as one matrix, cached until a page is added or removed (`_version`).
        self.embedding = EMBEDDING  # False: lexical recall only (tests of the lexical path, an ablation)
        self._version = 0
        self._vectors: tuple[int, list[int], Any] | None = None
        self._embedder_thread: threading.Thread | None = None

    # -- writing ---------------------------------------------------------------------------------------

    def put(self, segment: Segment) -> None:
        """Store (or replace) a segment."""
        self.put_many([segment])

    def put_many(self, segments: list[Segment]) -> None:
        """Store (or replace) segments in one transaction: all of them or, on an error, none."""
        with self._lock, self._transaction():
            for segment in segments:
                self._put(segment)
        self._embed_later()

    def replace_all(self, segments: list[Segment]) -> None:
        """Make this scope hold exactly `segments`, in their order (a restored snapshot, an adopted swap)."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM swap_segments WHERE scope = ?", (self.scope,))
            for segment in segments:
                self._put(segment)
        self._embed_later()

    def _put(self, segment: Segment) -> None:
        data = json.dumps(segment.to_dict())  # ensure_ascii: lone surrogates survive as \\udxxx escapes
        if self.scrub is not None:
            scrubbed = self.scrub(data)
            if scrubbed != data:  # pages are cut from what is stored, so they quote it exactly
                data, segment = scrubbed, Segment.from_dict(json.loads(scrubbed))
        self._delete(segment.id)
        text = page_text(segment)
        pages = split_pages(text, self.page_chars) or [Page(0, 0, 0)]
        cursor = self._db.execute(
            "INSERT INTO swap_segments (scope, id, kind, cell_id, execution_count, label, created, pages, data,"
            " untrusted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.scope,
                _searchable(segment.id),
                segment.kind.value,
                None if segment.cell_id is None else _searchable(segment.cell_id),
                segment.execution_count,
                _searchable(segment.label),
                segment.created,
                len(pages),
                data,
                int(segment.untrusted),
            ),
        )
        owner = cursor.lastrowid
        label = _searchable(segment.label)
        for page in pages:
            row = self._db.execute(
                "INSERT INTO swap_pages (segment, page, start, stop) VALUES (?, ?, ?, ?)",
                (owner, page.index, page.start, page.end),
            ).lastrowid
            self._db.execute(
                "INSERT INTO swap_fts (rowid, scope, label, text) VALUES (?, ?, ?, ?)",
                (row, self.scope, label, _searchable(text[page.start : page.end])),
            )

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
        data = self.scrub(data) if self.scrub is not None else data
        with self._lock:
            self._db.execute(
                "UPDATE swap_segments SET data = ? WHERE scope = ? AND id = ?", (data, self.scope, segment.id)
            )

    # -- reading ---------------------------------------------------------------------------------------

    def get(self, segment_id: str) -> Segment | None:
        rows = self._segments("id = ?", (_searchable(segment_id),))
        return rows[0] if rows else None

    def search(self, query: str, limit: int = 5) -> list[Segment]:
        """Best-matching segments for free text (by their best page's bm25); [] when nothing matches.

        Never raises on odd input.
        """
        match = fts_query(query)
        if not match or limit <= 0:
            return []
        with self._lock:
            rows = self._db.execute(
                # bm25() works only on the FTS cursor itself: rank the pages first, then group them by segment.
                f"WITH m AS MATERIALIZED (SELECT rowid, {_BM25} AS score FROM swap_fts"
                " WHERE swap_fts MATCH ? AND scope = ?)"
                " SELECT s.data, min(m.score) AS best FROM m"
                " JOIN swap_pages p ON p.rowid = m.rowid JOIN swap_segments s ON s.rowid = p.segment"
                " GROUP BY s.rowid ORDER BY best, s.rowid DESC LIMIT ?",
                (match, self.scope, limit),
            ).fetchall()
        return [Segment.from_dict(json.loads(row[0])) for row in rows]

    def postings(self, term: str) -> dict[int, float]:
        """Page rowid -> bm25 relevance (higher is better) of every page of this scope containing `term`."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT rowid, -{_BM25} FROM swap_fts WHERE swap_fts MATCH ? AND scope = ?",
                (f'"{term}"', self.scope),
            ).fetchall()
        return {int(rowid): float(score) for rowid, score in rows}

    def frequency(self, term: str) -> int:
        """How many pages of this scope contain `term` (cheap: no ranking)."""
        with self._lock:
            return int(self._db.execute(
                "SELECT count(*) FROM swap_fts WHERE swap_fts MATCH ? AND scope = ?", (f'"{term}"', self.scope)
            ).fetchone()[0])

    def page_total(self) -> int:
        with self._lock:
            return int(self._db.execute(
                "SELECT count(*) FROM swap_pages p JOIN swap_segments s ON s.rowid = p.segment WHERE s.scope = ?",
                (self.scope,),
            ).fetchone()[0])

    def pages(self, rowids: list[int]) -> list[PageRow]:
        """The pages with these rowids (those still in swap), with what recall needs to know about each."""
        if not rowids:
            return []
        marks = ", ".join("?" for _ in rowids)
        with self._lock:
            rows = self._db.execute(
                "SELECT p.rowid, s.id, p.page, s.pages, f.text, s.created, s.execution_count, s.cell_id"
                " FROM swap_pages p JOIN swap_segments s ON s.rowid = p.segment"
                f" JOIN swap_fts f ON f.rowid = p.rowid WHERE p.rowid IN ({marks}) AND s.scope = ?",
                (*rowids, self.scope),
            ).fetchall()
        return [PageRow(*row) for row in rows]

    def page_spans(self, segment_id: str) -> list[Page]:
        """A swapped segment's pages as spans of its page text, in order; [] when it is not in swap."""
        with self._lock:
            rows = self._db.execute(
                "SELECT p.page, p.start, p.stop FROM swap_pages p JOIN swap_segments s ON s.rowid = p.segment"
                " WHERE s.scope = ? AND s.id = ? ORDER BY p.page",
                (self.scope, _searchable(segment_id)),
            ).fetchall()
        return [Page(*row) for row in rows]

    def by_cell(self, cell_id: str) -> list[Segment]:
        return self._segments("cell_id = ?", (_searchable(cell_id),))

    def by_label(self, label: str) -> list[Segment]:
        return self._segments("label = ?", (_searchable(label),))

    def by_execution_count(self, execution_count: int) -> list[Segment]:
        return self._segments("execution_count = ?", (execution_count,))

    def all(self) -> list[Segment]:
        """Every swapped segment, oldest first."""
        return self._segments("1", ())

    def untrusted_count(self) -> int:
        """How many swapped segments are untrusted content: paging one in taints the session again."""
        with self._lock:
            return int(self._db.execute(
                "SELECT count(*) FROM swap_segments WHERE scope = ? AND untrusted", (self.scope,)
            ).fetchone()[0])

    def __contains__(self, segment_id: object) -> bool:
        if not isinstance(segment_id, str):
            return False
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM swap_segments WHERE scope = ? AND id = ?", (self.scope, _searchable(segment_id))
            ).fetchone()
        return row is not None

    def __len__(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT count(*) FROM swap_segments WHERE scope = ?", (self.scope,)).fetchone()[0]
            )

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.all())

    def stored_in(self, db: sqlite3.Connection, scope: int) -> bool:
        """Whether this swap is the rows of `scope` in the database behind connection `db`."""
        return self._db is db and self.scope == scope

    def close(self) -> None:
        if self._owned:
            with self._lock:
                self._db.close()

    # -- internals -------------------------------------------------------------------------------------

    def _segments(self, where: str, args: tuple[Any, ...]) -> list[Segment]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT data FROM swap_segments WHERE scope = ? AND {where} ORDER BY rowid", (self.scope, *args)
            ).fetchall()
        return [Segment.from_dict(json.loads(row[0])) for row in rows]

    # -- page embeddings (semantic recall) ------------------------------------------------------------------

    def _embed_later(self) -> None:
        """Embed the new pages in a background thread (one at a time; it stops when nothing is left)."""
        self._version += 1
        if not self.embedding or not embed.available():
            return
        with self._lock:
            if self._embedder_thread is not None and self._embedder_thread.is_alive():
                return
            self._embedder_thread = threading.Thread(target=self._embed_all, name="llmos-embed", daemon=True)
            self._embedder_thread.start()

    def _embed_all(self) -> None:
        # Inside the session store's transaction the thread waits on the store's lock (which the transaction
        # holds) and reads the pages once they are committed.
        try:
            while self.embed_pending(64):
                pass
            while self.index_concepts(64):
                pass
        except sqlite3.Error:
            pass  # closed under us (kernel shut down): the pages are embedded next time they are needed

    def embed_pending(self, limit: int = 64) -> int:
        """Embed up to `limit` pages of this scope that have no vector yet; returns how many were embedded.
        The model runs outside the lock, so a recall or a page-out never waits for it."""
        model = embed.embedder() if self.embedding else None
        if model is None:
            return 0
        with self._lock:
            rows = self._db.execute(
                "SELECT p.rowid, f.text FROM swap_pages p JOIN swap_segments s ON s.rowid = p.segment"
                " JOIN swap_fts f ON f.rowid = p.rowid LEFT JOIN swap_vectors v ON v.page = p.rowid AND v.model = ?"
                " WHERE s.scope = ? AND v.page IS NULL ORDER BY p.rowid DESC LIMIT ?",
                (embed.VECTORS_NAME, self.scope, limit),
            ).fetchall()
        if not rows:
            return 0
        vectors = embed.embed_units(model, [text for _, text in rows])
        with self._lock, self._transaction():
            for (rowid, _), matrix in zip(rows, vectors, strict=True):
                # A page removed meanwhile has no row to point at: INSERT ... SELECT writes nothing for it.
                self._db.execute(
                    "INSERT OR REPLACE INTO swap_vectors (page, model, vector)"
                    " SELECT rowid, ?, ? FROM swap_pages WHERE rowid = ?",
                    (embed.VECTORS_NAME, matrix.tobytes(), rowid),
                )
        self._version += 1
        return len(rows)

    def index_concepts(self, limit: int = 64, export: bool = True) -> int:
        """Index up to `limit` pages of this scope under the concepts their words are kinds of (thesaurus.py);
        returns how many. The first call loads WordNet, and exports it once per machine unless `export` is False
        (the typing path: a recall indexes the few pages paged out a moment ago, never waits for an export)."""
        if not self.embedding or thesaurus.load(export) is None:
            return 0
        with self._lock:
            rows = self._db.execute(
                "SELECT p.rowid, f.text FROM swap_pages p JOIN swap_segments s ON s.rowid = p.segment"
                " JOIN swap_fts f ON f.rowid = p.rowid WHERE s.scope = ?"
                " AND NOT EXISTS (SELECT 1 FROM swap_concepts c WHERE c.page = p.rowid AND c.concept = 0"
                " AND c.word = ?) ORDER BY p.rowid DESC LIMIT ?",
                (self.scope, thesaurus.FILED, limit),
            ).fetchall()
        if not rows:
            return 0
        # The "done" row names the filing rules it was indexed by: a page filed by older rules (another
        # thesaurus.FILED) is filed again, its old rows replaced.
        found = [(rowid, 0, thesaurus.FILED) for rowid, _ in rows]
        for rowid, text in rows:
            words = {word for word in _CONCEPT_WORD.findall(text.lower()) if word not in STOPWORDS}
            found += [(rowid, concept, word) for word in sorted(words) for concept in thesaurus.broader(word)]
        with self._lock, self._transaction():
            self._db.executemany("DELETE FROM swap_concepts WHERE page = ?", [(rowid,) for rowid, _ in rows])
            # A page removed meanwhile has no row to point at: INSERT ... SELECT writes nothing for it.
            self._db.executemany(
                "INSERT INTO swap_concepts (page, concept, word) SELECT rowid, ?, ? FROM swap_pages WHERE rowid = ?",
                [(concept, word, rowid) for rowid, concept, word in found],
            )
        return len(rows)

    def conceptual(self, concepts: Sequence[int]) -> dict[int, list[str]]:
        """Page rowid -> the words by which each page of this scope is a kind of one of `concepts`."""
        if not concepts:
            return {}
        marks = ", ".join("?" for _ in concepts)
        with self._lock:
            rows = self._db.execute(
                "SELECT c.page, c.word FROM swap_concepts c JOIN swap_pages p ON p.rowid = c.page"
                f" JOIN swap_segments s ON s.rowid = p.segment WHERE s.scope = ? AND c.concept IN ({marks})",
                (self.scope, *concepts),
            ).fetchall()
        pages: dict[int, list[str]] = {}
        for rowid, word in rows:
            if word not in pages.setdefault(int(rowid), []):
                pages[int(rowid)].append(word)
        return pages

    def vectors(self) -> tuple[list[int], Any]:
        """(page rowid of each row, float32 matrix of unit vectors), for this scope's embedded pages: a page has
        one row per unit it was embedded as (embed.units: the page and its sentences), so a rowid repeats. A NumPy
        matrix from BLOBs: for the few thousand pages of a session one matrix product is ~1 ms (measured;
        sqlite-vec would add a native extension for no gain at this size)."""
        cached = self._vectors
        if cached is not None and cached[0] == self._version:
            return cached[1], cached[2]
        import numpy as np

        version = self._version
        model = embed.VECTORS_NAME
        with self._lock:
            rows = self._db.execute(
                "SELECT v.page, v.vector FROM swap_vectors v JOIN swap_pages p ON p.rowid = v.page"
                " JOIN swap_segments s ON s.rowid = p.segment WHERE s.scope = ? AND v.model = ? ORDER BY v.page",
                (self.scope, model),
            ).fetchall()
        width = 4 * embed.DIMENSIONS  # bytes of one float32 vector
        ids = [int(row[0]) for row in rows for _ in range(len(row[1]) // width)]
        matrix = (np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(ids), -1)
                  if rows else np.zeros((0, embed.DIMENSIONS), dtype=np.float32))
        self._vectors = (version, ids, matrix)
        return ids, matrix

    def wait_embedded(self, timeout: float | None = None) -> None:
        """Until the background embedding is done (tests and benchmarks; a recall never waits)."""
        thread = self._embedder_thread
        if thread is not None:
            thread.join(timeout)

    def _delete(self, segment_id: str) -> bool:
        self._version += 1
        # Its pages go by the foreign key's cascade, and their index rows by the swap_pages_deleted trigger.
        cursor = self._db.execute(
            "DELETE FROM swap_segments WHERE scope = ? AND id = ?", (self.scope, _searchable(segment_id))
        )
        return cursor.rowcount > 0

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN/COMMIT around a block (the connection is in autocommit mode); inside an open transaction (the
    session store's) it joins it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
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

