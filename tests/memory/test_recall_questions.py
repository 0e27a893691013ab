"""Which prompts ask memory about a set (recall.asks_for_set): pure logic, no model."""

from __future__ import annotations

import pytest

from llmos_kernel.memory.recall import asks_for_set


@pytest.mark.parametrize("prompt", [
    "List all the pets we have.",
    "Which animals live with us?",
    "How many trips have I booked?",
    "What are all my deadlines?",
    "Which pet did we get first?",
    "What was the original deadline?",
    "What injuries have I had? List them all.",
    "ok, and which towns have I been to?",
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
])
def test_a_request_for_code_or_a_pointed_question_is_not_one(prompt: str) -> None:
    assert not asks_for_set(prompt)


def test_first_counts_only_when_time_is_on() -> None:
    assert asks_for_set("Which pet did we get first?", earliest=True)
    assert not asks_for_set("Which pet did we get first?", earliest=False)
