from __future__ import annotations

import sqlite3

import pytest

from llmos_kernel.memory import Kind, Segment, Swap
from llmos_kernel.memory.swap import fts_query

HOSTILE = [
    "",
    "   ",
    '"',
    '""""',
    "'",
    "a\"b'c",
    "\x00",
    "nul\x00inside",
    "lone \ud800 surrogate \udfff",
    "AND OR NOT",
    "NEAR(a b, 3)",
    "col:term",
    "label:secret",
    "prefix*",
    "-minus +plus ^caret",
    "(((",
    ")))",
    "{a b}",
    "[bracket]",
    "a OR OR b",
    "*",
    ";DROP TABLE swap_segments;--",
    "x" * 100_000,
    " ".join(f"w{i}" for i in range(5000)),
    "emoji 🧠 and 東京",
]


def turn(text: str, answer: str = "", **kwargs) -> Segment:
    return Segment(Kind.HISTORY, text, answer, **kwargs)


def test_put_get_take_remove_len(swap: Swap):
    first, second = turn("alpha", "one", cell_id="c1"), turn("beta", "two", cell_id="c2")
    swap.put(first)
    swap.put(second)
    assert len(swap) == 2 and first.id in swap and "nope" not in swap
    assert swap.get(first.id) == first
    assert swap.get("missing") is None
    taken = swap.take(second.id)
    assert taken == second and len(swap) == 1 and swap.get(second.id) is None
    assert swap.take(second.id) is None
    assert swap.remove(first.id) is True and swap.remove(first.id) is False
    assert len(swap) == 0 and swap.all() == []


def test_put_again_replaces_without_duplicates(swap: Swap):
    segment = turn("version one")
    swap.put(segment)
    segment.text = "version two"
    swap.put(segment)
    assert len(swap) == 1 and swap.get(segment.id).text == "version two"
    assert swap.search("one", 5) == [] and [s.id for s in swap.search("two", 5)] == [segment.id]


def test_all_is_oldest_first_and_keeps_everything(swap: Swap):
    segments = [turn(f"text {i}", f"answer {i}", execution_count=i, tokens={"t": i}) for i in range(10)]
    for segment in segments:
        swap.put(segment)
    assert swap.all() == segments


def test_search_ranks_by_bm25(swap: Swap):
    relevant = turn("How do I configure the sqlite WAL journal?", "Use PRAGMA journal_mode=WAL with sqlite.")
    partial = turn("What is a journal?", "A diary.")
    other = turn("Tell me about cats", "They purr.")
    for segment in (other, partial, relevant):
        swap.put(segment)
    results = swap.search("sqlite journal WAL", limit=5)
    assert [s.id for s in results] == [relevant.id, partial.id]
    assert swap.search("sqlite journal WAL", limit=1)[0].id == relevant.id
    assert swap.search("dogs", limit=5) == []


def test_search_matches_labels_and_stems(swap: Swap):
    doc = Segment(Kind.PINNED, "contents", label="docs/install_guide.md", pinned=True)
    swap.put(doc)
    swap.put(turn("running the tests", "ok"))
    assert swap.search("install", 3)[0].id == doc.id
    assert swap.search("test", 3)[0].text == "running the tests"  # porter stemming: test ~ tests


def test_stopwords_alone_do_not_match(swap: Swap):
    target = turn("kubernetes deployment")
    filler = turn("the the and of to")
    swap.put(target)
    swap.put(filler)
    assert [s.id for s in swap.search("what is the kubernetes", 5)] == [target.id]
    assert [s.id for s in swap.search("the and", 5)] == [filler.id]  # nothing else to go on: keep them


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(swap: Swap, query: str):
    swap.put(turn("nul\x00inside and col term with label secret", "prefix minus plus caret bracket"))
    swap.put(turn("lone \ud800 surrogate", "emoji 🧠 and 東京"))
    results = swap.search(query, limit=3)
    assert isinstance(results, list) and len(results) <= 3


def test_hostile_queries_still_find_their_words(swap: Swap):
    target = turn("the bracket secret")
    swap.put(target)
    assert [s.id for s in swap.search('"bracket" AND (secret', 3)] == [target.id]
    assert [s.id for s in swap.search("[bracket]\x00", 3)] == [target.id]


def test_fts_query_quotes_and_ors_words():
    assert fts_query('yell "hi" OR bye') == '"yell" OR "hi" OR "bye"'  # "say" is a stop-word (issue 22)
    assert fts_query(" ".join(f"w{i}" for i in range(100))).count(" OR ") == 31
    assert fts_query("!!! ** ((") == ""
    assert fts_query("x x X y") == '"x" OR "y"'


def test_text_with_surrogates_and_nul_round_trips_exactly(swap: Swap):
    segment = turn("bad \ud83d half and \x00 nul", "fine")
    swap.put(segment)
    assert swap.get(segment.id).text == "bad \ud83d half and \x00 nul"
    assert swap.search("half", 1)[0].id == segment.id


def test_lookups_by_cell_execution_count_and_label(swap: Swap):
    a = turn("a", cell_id="cell-1", execution_count=1)
    b = turn("b", cell_id="cell-2", execution_count=2)
    doc = Segment(Kind.PINNED, "d", label="x.md")
    for segment in (a, b, doc):
        swap.put(segment)
    assert swap.by_cell("cell-2") == [b] and swap.by_cell("nope") == []
    assert swap.by_execution_count(1) == [a]
    assert swap.by_label("x.md") == [doc]


def test_file_swap_uses_wal_and_persists(tmp_path):
    path = str(tmp_path / "swap.db")
    swap = Swap(path)
    segment = turn("persist me", "please", execution_count=4)
    swap.put(segment)
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    swap.close()
    reopened = Swap(path)
    assert reopened.get(segment.id) == segment
    assert reopened.search("persist", 1)[0].id == segment.id


def test_a_failed_write_leaves_nothing_half_done(swap: Swap, monkeypatch: pytest.MonkeyPatch):
    from llmos_kernel.memory import swap as swap_module

    kept = turn("kept")
    swap.put(kept)
    real = swap_module._searchable

    def fail_on_boom(text: str) -> str:
        if "boom" in text:  # the page holding the answer: indexed after the segment row was inserted
            raise RuntimeError("disk full")
        return real(text)

    monkeypatch.setattr(swap_module, "_searchable", fail_on_boom)
    with pytest.raises(RuntimeError):
        swap.put(turn("broken", "boom"))
    monkeypatch.undo()
    assert swap.all() == [kept]
    swap.put(turn("after", "works"))  # and the connection is still usable, not stuck in a transaction
    assert len(swap) == 2


def test_put_many_is_all_or_nothing(swap: Swap, monkeypatch: pytest.MonkeyPatch):
    from llmos_kernel.memory import swap as swap_module

    real = swap_module._searchable
    monkeypatch.setattr(swap_module, "_searchable", lambda text: real(text) if "boom" not in text else 1 / 0)
    with pytest.raises(ZeroDivisionError):
        swap.put_many([turn("first"), turn("second", "boom"), turn("third")])
    assert len(swap) == 0
    monkeypatch.undo()
    swap.put_many([turn("first"), turn("second")])
    assert [s.text for s in swap.all()] == ["first", "second"]
