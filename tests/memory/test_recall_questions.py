"""Which prompts ask memory about a set (questions.asks_for_set, _PLURAL): pure logic, no model; and how the
ranker (recall.py) answers some of them."""

from __future__ import annotations

import pytest

from llmos_kernel.memory.questions import _PLURAL, alternatives, asks_for_set
from llmos_kernel.memory.recall import Ranker, RecallOptions
from llmos_kernel.memory.segments import Kind, Segment
from llmos_kernel.memory.swap import Swap


@pytest.mark.parametrize("prompt", [
    "List all the pets we have.",
    "Which animals live with us?",
    "How many trips have I booked?",
    "What are all my deadlines?",
    "Which pet did we get first?",
    "What was the original deadline?",
    "What injuries have I had? List them all.",
    "ok, and which towns have I been to?",
    "For how many years does the warranty cover the controller?",
    "How has my running progressed since January?",  # how something went: its early and late pages
    "how did Ana's reading change this term?",
    "What's changed about the flat?",
])
def test_a_question_to_memory_about_a_set_or_the_first_of_several(prompt: str) -> None:
    assert asks_for_set(prompt)


@pytest.mark.parametrize("prompt", [
    "How do I sort a list of tuples with itertools?",
    "Quick one: how do I keep the original order when I deduplicate?",
    "Can you drop all rows with missing values?",
    "Show me how to select the first column of each group.",
    "Please sum the total of every invoice.",
    "What is the hamster called?",
    "Who fixed the heating?",
    "How do I change the dtype of a column?",  # help with code
    "How did you change the function?",  # about the reply, not how something of the user's went
])
def test_a_request_for_code_or_a_pointed_question_is_not_one(prompt: str) -> None:
    assert not asks_for_set(prompt)


def test_first_counts_only_when_time_is_on() -> None:
    assert asks_for_set("Which pet did we get first?", earliest=True)
    assert not asks_for_set("Which pet did we get first?", earliest=False)


FILLER = "The rusty crate waited by the north dock before dawn. The delayed barge drifted past the customs shed."


def test_which_food_makes_the_owner_ill_is_one_thing_asked_and_hops_through_the_owner(swap: Swap):
    # "Which food makes ... ill?" asks for one thing: "makes" is a verb, not a plural asked about (a set question
    # lets a page in on any one of its rarest words). Questions already asked in a long session sit in swap, and
    # "owner" (asked about often) is commoner than "food", so a set question's gate let every "Which food makes
    # X ill?" turn in, and they (newer, so ranked first) named the wrong people for the second hop.
    facts = ["The jade teapot belongs to Felix Lindqvist.", "Felix Lindqvist is allergic to peanuts."]
    people = ["Rosa Quill", "Bram Marsh", "Dario Brandt", "Edda Ferro", "Cleo Okafor", "Hugo Castell"]
    things = ["red canoe", "tin drum", "oak chair", "blue glider", "paper kite", "iron anvil", "grey sailboat"]
    texts = [f"Note {n}: {FILLER}" for n in range(300)] + facts + [f"{name} is allergic to kiwi." for name in people]
    texts += [f"Which town is the owner of the {thing} originally from?" for thing in things]
    texts += [f"Which food makes {name} ill?" for name in people]
    swap.put_many([Segment(Kind.HISTORY, text, answer=f"Echo: {text[:40]}") for text in texts])
    ranker = Ranker(swap, RecallOptions(semantic=False))
    found = [hit.page.text for hit in ranker.rank("Which food makes the owner of the jade teapot ill?")]
    assert any("Felix Lindqvist is allergic to peanuts" in text for text in found)  # the second hop
    assert not any("Which food makes" in text for text in found)
    # A plural asked about is still a set: "Which foods make me ill?"
    assert _PLURAL.search("Which foods make me ill?") and not _PLURAL.search("Which food makes me ill?")


def test_a_day_or_a_title_is_no_bridge_for_a_second_hop(swap: Swap):
    # "the team lunch on Friday" names no one: a hop through "Friday" brought every page said on a Friday.
    fact = "The team lunch is at the noodle bar on Friday, as in May."
    texts = [f"Note {n}: {FILLER}" for n in range(300)] + [fact]
    texts += [f"On Friday I fixed bug {n} in the parser, as in May." for n in range(12)]
    swap.put_many([Segment(Kind.HISTORY, text, answer="noted") for text in texts])
    found = [hit.page.text for hit in Ranker(swap, RecallOptions(semantic=False)).rank("Where is the team lunch?")]
    assert fact in found[0]
    assert not any("fixed bug" in text for text in found)


@pytest.mark.parametrize(("prompt", "parts"), [
    ("Whose sourdough starter survived, Priya's or Tom's?",
     ["Whose sourdough starter survived, Priya's?", "Whose sourdough starter survived, Tom's?"]),
    ("Which is pricier, the Spanish tutor or the piano lessons?",
     ["Which is pricier, the Spanish tutor?", "Which is pricier, the piano lessons?"]),
    ("Did I run further on Sunday or on Wednesday?",
     ["Did I run further on Sunday?", "Did I run further on Wednesday?"]),
    ("Was the January bill higher than February's?",
     ["Was the January bill higher?", "Was the January bill February's?"]),
])
def test_a_question_offering_alternatives_stands_for_one_question_each(prompt: str, parts: list[str]) -> None:
    assert alternatives(prompt) == parts


@pytest.mark.parametrize("prompt", [
    "How do I sort by date or by name?",  # help with code
    "Is it going to rain or not?", "Did I mention a vet or something?",  # nothing offered
    "What is my cat called?",
])
def test_a_question_offering_no_alternatives_is_one_question(prompt: str) -> None:
    assert alternatives(prompt) == []


def test_each_alternative_a_question_offers_finds_its_own_page(swap: Swap):
    # Each page names one of the two: against the whole question it carries half of the names' weight.
    facts = ["Priya's sourdough starter is called Bubbles and smells like yoghurt.",
             "Tom's starter died after a week, he forgot to feed it."]
    texts = [f"Note {n}: {FILLER}" for n in range(60)] + facts + ["Priya Patel moved to Leeds.", "Tom Berg runs."]
    swap.put_many([Segment(Kind.HISTORY, text, answer="noted") for text in texts])
    question = "Whose sourdough starter survived, Priya's or Tom's?"

    def found(options: RecallOptions) -> list[str]:
        return [fact for fact in facts if any(fact in hit.page.text for hit in Ranker(swap, options).rank(question))]

    assert found(RecallOptions(semantic=False)) == facts
    assert found(RecallOptions(semantic=False, alternatives=False)) != facts
