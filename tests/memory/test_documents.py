"""Issue 22: a pinned document larger than the window is paged (a stub stays pinned) instead of blocking.

The window of make_window is 1000 tokens: usable 800 (WordTokenizer: one token a word).
"""

from __future__ import annotations

import pytest

from llmos_kernel.memory import ContextWindow, Kind, MemoryFull, Swap
from llmos_kernel.memory.documents import describe
from llmos_kernel.memory.render import render_map

from .fakes import words

PARAGRAPH = "The harbour office keeps ledgers of every ship, crate and pallet that passes the north quay. "
FACT = "The vault code of the customs archive is 4417 kestrel."


def document(paragraphs: int, fact_at: int | None = None) -> str:
    parts = [f"Section {n}. " + PARAGRAPH * 3 for n in range(paragraphs)]
    if fact_at is not None:
        parts.insert(fact_at, FACT)
    return "\n\n".join(parts)


def test_a_document_larger_than_the_window_is_paged_and_its_pages_come_back_on_demand(make_window, swap: Swap):
    window = make_window(auto_recall=True)
    text = document(60, fact_at=58)  # about 2,900 words: over three times the window
    stub = window.load_document("handbook.md", text)
    assert stub.kind is Kind.PINNED and stub.pinned and stub.paged in swap and stub.label == "handbook.md"
    assert window.tokens_of(stub) < 60 and stub.text.startswith("Loaded and paged: handbook.md, ")
    paged = swap.get(stub.paged)
    assert paged.text == text and paged.label == "handbook.md" and not paged.pinned
    assert "handbook.md" in describe(window, stub) and "pages" in describe(window, stub)
    plan = window.plan("What is the vault code of the customs archive?")  # no MemoryFull
    assert plan.used <= plan.usable
    assert any(FACT in m["content"] for m in plan.messages)
    (item,) = plan.paging["recalled"]
    assert item["source"] == stub.paged and item["origin"] == "pinned"
    assert any(m["content"].startswith("[Pinned document: handbook.md]\nLoaded and paged") for m in plan.messages)
    snap = window.snapshot()
    row = next(r for r in snap["segments"] if r["id"] == stub.id)
    assert row["pinned"] and row["state"] == "resident" and "Loaded and paged" in row["preview"]
    assert "Loaded and paged" in render_map(snap)


def test_a_document_that_fits_is_pinned_whole_as_before(make_window):
    window = make_window()
    segment = window.load_document("small.md", document(4))
    assert not segment.paged and segment.text == document(4) and len(window.swap) == 0


def test_a_document_leaving_no_room_for_the_newest_turn_is_paged(make_window):
    window = make_window()
    window.commit_turn("c1", words(300), "a", execution_count=1)
    assert window.load_document("doc.md", words(500)).paged  # 506 + the 304-token turn + room: over 800
    window.forget("c1")
    assert not window.load_document("doc.md", words(500)).paged  # replaces it: now it fits whole


def test_with_auto_recall_off_a_paged_document_is_still_recalled(make_window):
    window = make_window(auto_recall=False)
    window.commit_turn("c1", f"Remember: {FACT}", "ok", execution_count=1)
    window.evict(1)
    stub = window.load_document("handbook.md", document(60, fact_at=30))
    plan = window.plan("What is the vault code of the customs archive?")
    sources = {item["source"] for item in plan.paging["recalled"]}
    assert sources == {stub.paged}  # the document only: the turn waits for %recall


def test_a_pinned_document_is_paged_when_the_window_shrinks(make_window):
    window = make_window(auto_recall=True)
    text = document(10, fact_at=9)
    doc = window.load_document("handbook.md", text)
    window.commit_turn("c1", "hello", "hi", execution_count=1)
    assert not doc.paged
    report = window.set_window(600)  # usable 400: the document (about 500 tokens) no longer fits
    assert any("paged handbook.md" in action for action in report.actions)
    stub = window.segments[0]  # in the document's place
    assert stub.paged == doc.id and stub.pinned and doc.id in window.swap
    plan = window.plan("What is the vault code of the customs archive?")
    assert plan.used <= plan.usable and any(FACT in m["content"] for m in plan.messages)


def test_a_prompt_too_large_to_sit_beside_a_pinned_document_pages_it(make_window):
    window = make_window()
    window.load_document("notes.md", words(600))
    plan = window.plan(words(300))
    assert plan.used <= plan.usable and any("paged notes.md" in action for action in plan.actions)


def test_the_strict_policy_never_pages_a_pinned_document_by_itself(make_window):
    window = make_window(policy="strict")
    window.load_document("notes.md", words(600))
    with pytest.raises(MemoryFull):
        window.plan(words(300))
    assert not window.segments[0].paged and len(window.swap) == 0


def test_forgetting_the_stub_forgets_the_document_and_loading_again_replaces_both(make_window, swap: Swap):
    window = make_window(auto_recall=True)
    stub = window.load_document("handbook.md", document(60, fact_at=58))
    window.plan("What is the vault code of the customs archive?")
    again = window.load_document("handbook.md", document(60))
    assert stub.paged not in swap and again.paged in swap and len(swap) == 1
    assert [s.kind for s in window.segments] == [Kind.PINNED]  # the old stub and its recalled pages are gone
    window.forget(again.id)
    assert len(swap) == 0 and window.segments == []


def test_a_path_names_the_stub_and_forgetting_a_recalled_excerpt_takes_the_stub_too(make_window, swap: Swap):
    window = make_window(auto_recall=True)
    stub = window.load_document("handbook.md", document(60, fact_at=58))
    window.plan("What is the vault code of the customs archive?")
    (excerpt,) = [s for s in window.segments if s.kind is Kind.RECALLED]
    assert excerpt.label == "handbook.md" and window.find("handbook.md") is stub
    window.forget(excerpt.id)  # for good: the document, its excerpt, and the stub that stood for it
    assert window.segments == [] and len(swap) == 0


def test_a_stub_survives_a_save_and_restore(make_window, tok, swap: Swap):
    window = make_window(auto_recall=True)
    stub = window.load_document("handbook.md", document(60, fact_at=58))
    restored = ContextWindow.from_dict(window.to_dict(), tok, swap)
    assert restored.segments[0].paged == stub.paged
    restored.auto_recall = True
    assert any(FACT in m["content"] for m in restored.plan("What is the vault code of the customs archive?").messages)


def test_pinned_turns_that_cannot_fit_still_raise(make_window):
    window = make_window()
    turn = window.commit_turn("c1", words(780), "a", execution_count=1)
    window.pin(turn.id)
    with pytest.raises(MemoryFull):
        window.plan(words(100))


def test_the_map_names_a_recalled_documents_pages_by_their_source_and_keeps_the_row_width(make_window):
    window = make_window(auto_recall=True)
    stub = window.load_document("handbook.md", document(60, fact_at=58))
    window.plan("What is the vault code of the customs archive?")
    (copy,) = [s for s in window.segments if s.kind is Kind.RECALLED]
    shown = render_map(window.snapshot())
    (last,) = [line for line in shown.splitlines() if "last recall:" in line]
    # A document's pages were said by no cell: the line names the document's swapped segment, not "cell -".
    assert f"{copy.id} ← [{stub.paged}] page" in last and "cell -" not in last, last
    rows = {line.split()[0]: line for line in shown.splitlines() if line.startswith("  s") and "resident" in line}
    # The copy's row says which pages of what it holds, and is no wider than a row with a full preview.
    assert f"of {stub.paged})" in rows[copy.id]
    assert len(rows[copy.id]) <= len(rows[stub.id]), (rows[copy.id], rows[stub.id])
