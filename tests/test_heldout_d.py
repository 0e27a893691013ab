"""Held-out session D of benchmarks/bench_paging.py (pure logic: no kernel).

D lives in benchmarks/heldout_d.py, kept from whoever tunes the recall ranker, so these tests check its shape
and its own checks without quoting its questions: every kind asked often enough, abstentions with nothing
needed and patterns that must not match, the handbook larger than the usable 10% window, and the checks
`build_heldout('d')` runs catching a planted mistake.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import bench_paging  # noqa: E402
import heldout_d  # noqa: E402


@pytest.fixture(scope="module")
def session() -> bench_paging.Session:
    return bench_paging.build_heldout("d")  # runs the set's checks


def test_every_kind_is_asked_and_abstention_fifteen_times_or_more(session):
    kinds = [question.kind for question in session.questions]
    assert set(session.kinds) == set(kinds)
    assert {"no-overlap", "paraphrase", "update", "temporal", "aggregation", "multi-session", "abstention",
            "counting", "comparison", "yes-no", "negation", "document"} <= set(kinds)
    assert all(kinds.count(kind) >= 4 for kind in set(kinds))
    assert kinds.count("abstention") >= 15
    assert all(not question.needed for question in session.questions if question.kind == "abstention")
    assert all(question.needed for question in session.questions if question.kind != "abstention")


def test_five_days_of_chatter_with_thirty_or_more_fact_cells(session):
    assert len(session.day_starts) == 4
    assert len(session.cells) >= 300
    assert 30 <= len(heldout_d.CELLS) <= 40
    assert len(set(session.cells)) == len(session.cells)  # no two cells alike, chatter included
    told = {text for _, text in heldout_d.CELLS}
    chatty = [cell for cell in session.cells if cell not in told]
    assert all(fact not in cell for cell in chatty for fact in session.facts)


def test_the_handbook_is_paged_at_the_ten_percent_window(session):
    assert session.document == heldout_d.DOCUMENT
    assert session.document_tokens > 0.10 * session.tokens  # larger than the whole 10% window, let alone usable
    document_facts = [q.needed[0] for q in session.questions if q.kind == "document"]
    assert all(fact in session.document for fact in document_facts)
    wordings = [q.wording for q in session.questions if q.kind == "document"]
    assert wordings.count("direct") == wordings.count("paraphrase") > 0


def test_a_cell_answering_an_abstention_question_is_caught(monkeypatch):
    cells = [text for _, text in heldout_d.CELLS]
    heldout_d.check(cells, bench_paging.stems)
    with pytest.raises(AssertionError, match="would answer the abstention question"):
        heldout_d.check([*cells, "our cat is called Sooty. how do i sort a list?"], bench_paging.stems)


def test_a_no_overlap_question_sharing_a_stem_is_caught(monkeypatch):
    kind, ask, needed = next(q for q in heldout_d.QUESTIONS if q[0] == "no-overlap")
    sharing = ask.rstrip("?") + " " + needed[0].split()[-1] + "?"
    questions = [(kind, sharing if text == ask else text, facts) for kind, text, facts in heldout_d.QUESTIONS]
    monkeypatch.setattr(heldout_d, "QUESTIONS", questions)
    with pytest.raises(AssertionError, match="no-overlap question shares"):
        bench_paging.build_heldout("d")


def test_a_paraphrased_document_question_sharing_a_stem_is_caught(monkeypatch):
    wording, ask, fact = next(q for q in heldout_d.DOCUMENT_QUESTIONS if q[0] == "paraphrase")
    asked = [(wording, ask + " " + fact.split()[-1], fact), *heldout_d.DOCUMENT_QUESTIONS]
    monkeypatch.setattr(heldout_d, "DOCUMENT_QUESTIONS", asked)
    with pytest.raises(AssertionError, match="paraphrased document question shares"):
        heldout_d.check([text for _, text in heldout_d.CELLS], bench_paging.stems)
