"""Pages: sentence- and paragraph-aligned chunks of bounded size, and excerpts that quote them exactly."""

from __future__ import annotations

import random

import pytest

from llmos_kernel.memory import Kind, Segment
from llmos_kernel.memory.pages import GAP, excerpt, page_text, split_pages
from llmos_kernel.memory.questions import entities


def test_short_paragraphs_are_packed_and_long_ones_cut_at_sentences():
    text = "First short paragraph.\n\nSecond one.\n\n" + "A sentence of filler words here. " * 20
    pages = split_pages(text, max_chars=120)
    # A page never spans two paragraphs: each short one is a page of its own.
    assert [text[p.start : p.end] for p in pages[:2]] == ["First short paragraph.", "Second one."]
    for page in pages:
        chunk = text[page.start : page.end]
        assert len(chunk) <= 120 and chunk.endswith(".")  # whole sentences only
    assert all(text[page.start : page.end].startswith("A sentence") for page in pages[2:])
    assert [page.index for page in pages] == list(range(len(pages)))


@pytest.mark.parametrize("seed", range(5))
def test_pages_cover_every_word_in_order_within_the_bound(seed: int):
    rng = random.Random(seed)
    pieces = []
    for _ in range(rng.randint(1, 30)):
        word = "x" * rng.randint(1, 200) if rng.random() < 0.05 else rng.choice(["alpha", "beta", "gamma"])
        pieces.append(word + rng.choice([" ", " ", ". ", "\n\n", "! "]))
    text = "".join(pieces)
    pages = split_pages(text, max_chars=64)
    assert all(page.end - page.start <= 64 for page in pages)
    assert all(a.end <= b.start for a, b in zip(pages, pages[1:], strict=False))
    rebuilt = " ".join(text[p.start : p.end] for p in pages)
    assert "".join(rebuilt.split()) == "".join(text.split())  # nothing lost, nothing repeated


def test_excerpt_quotes_pages_in_order_and_marks_gaps():
    text = "One.\n\nTwo.\n\nThree.\n\nFour."
    pages = split_pages(text, max_chars=6)
    assert len(pages) == 4
    assert excerpt(text, pages, [3, 0]) == f"One.{GAP}Four."
    assert excerpt(text, pages, [1, 2]) == "Two.\n\nThree."
    assert excerpt(text, pages, range(4)) == text


def test_a_turn_pages_as_one_transcript():
    turn = Segment(Kind.HISTORY, "What is WAL?", "Write-ahead logging.", interrupted=True)
    assert page_text(turn) == "User: What is WAL?\n\nAssistant: Write-ahead logging.\n\n[answer interrupted]"
    assert page_text(Segment(Kind.PINNED, "doc body", label="a.md")) == "doc body"


def test_entities_are_names_and_identifiers_not_sentence_openers():
    assert entities("Where does Lena Voss live now?") == ["lena", "voss"]
    assert entities("Lena Voss moved. The canoe is red.") == ["lena", "voss"]
    assert entities("What was the code word zebra0qux? I forgot.") == ["zebra0qux"]
    assert entities("User: hello there") == []
