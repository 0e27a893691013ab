"""The loaded-document kind of benchmarks/bench_paging.py's development session (pure logic: no kernel).

A hit means the fact sentence is in the request, so each fact must sit whole in one page of the document as
swap cuts it (a fact split across two pages could never be quoted whole); the document must be larger than
every window the benchmark runs (5%, 10%, 25% of the cells' tokens), so it is paged at each of them rather
than pinned whole at 25%; and half the questions are paraphrases sharing no word stem with their fact.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import bench_paging  # noqa: E402

from llmos_kernel.memory.pages import PAGE_CHARS, split_pages  # noqa: E402


def test_the_development_session_loads_a_manual_with_twelve_questions_half_paraphrased():
    session = bench_paging.build_session()
    asked = [question for question in session.questions if question.kind == "document"]
    assert len(asked) == 12
    assert sorted(question.wording for question in asked) == ["direct"] * 6 + ["paraphrase"] * 6
    for question in asked:
        shared = bench_paging.stems(question.text) & bench_paging.stems(question.needed[0])
        assert bool(shared) == (question.wording == "direct"), (question.text, shared)
    assert "document" in bench_paging.KINDS


def test_each_fact_of_the_manual_is_whole_in_one_page_and_told_once():
    session = bench_paging.build_session()
    pages = [session.document[page.start : page.end] for page in split_pages(session.document, PAGE_CHARS)]
    for question in session.questions:
        if question.kind == "document":
            (fact,) = question.needed
            assert session.document.count(fact) == 1
            assert sum(fact in page for page in pages) == 1, fact
            assert fact in session.facts  # the findable check covers it


def test_the_manual_is_larger_than_every_window_and_leaves_the_windows_as_they_were():
    session = bench_paging.build_session()
    assert 1.5 <= session.document_tokens / (0.10 * session.tokens) <= 3
    assert session.document_tokens > max(bench_paging.WINDOWS) * session.tokens  # paged at 25% too
    # The windows are shares of the cells alone: the document adds no cell.
    assert not any(session.document_name in cell for cell in session.cells)


def test_the_manual_is_the_same_each_build():
    first, second = bench_paging.build_session(), bench_paging.build_session()
    assert first.document == second.document
    assert [q.text for q in first.questions] == [q.text for q in second.questions]
