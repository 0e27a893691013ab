"""What kind of answer a question asks for, and whether a page gives one: "what time", "how much", "what's the
name of", "who", "when", "what colour". Pure text (and the thesaurus when it is loaded), no swap: recall.py asks.

The right topic and a fact never told is the abstention embeddings cannot see: "What time is my dentist
appointment?" is closest to the page saying the appointment is on Tuesday, and "How much did the bike cost?" to
the page about buying it. A question asking for a kind of answer that no page recalled for it gives (no clock
time, no amount, no name) has nothing in memory to be answered from, and recalls nothing (recall.py). Only the
question's asking sentences are read ("Remind me what time the dentist is. Then draft an email" asks for a time),
and a cell asking anything untyped as well ("and who is coming?" beside "when") is not gated at all.

What counts as giving an answer is broad on purpose: a time is also "after the wedding", "since college", "last
spring"; an amount is also "free", "a dozen", "twice". A page that might answer keeps the question's recall; only
a page that cannot answer the kind asked loses it. "How many" is not typed: "how many pets" is answered by the
pages naming each pet, none of which says a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .questions import NOT_BRIDGES, WORD, entities, inflected
from .swap import STOPWORDS

CLOCK = "a clock time"
DAY = "a date"
YEAR = "a year"
WHEN = "a time"
AMOUNT = "an amount"
DURATION = "a duration or a frequency"
NAME = "a name"
PERSON = "a person"
COLOUR = "a colour"
PLACE = "a place"

_LEAD = r"^\W*(?:(?:and|so|ok|okay|also|then|now|but|hey|hi|quick question|remind me|tell me|do you (?:know|remember)" \
        r"|can you (?:tell me|remind me)|i forgot|i can't remember)\W+)*(?:(?:for|in|on|at|since|by|until)\s+)?"
# The question word and what follows it, most specific first: "what time" before "when", "what's the name" before
# a plain "what". Only at the start of an asking sentence: "when I run it, what happens?" asks nothing of memory.
_ASKED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(f"{_LEAD}(?:{pattern})", re.IGNORECASE)) for kind, pattern in (
        (CLOCK, r"(?:what|which) time\b(?!\s*zones?)|at what time\b"),
        (YEAR, r"(?:what|which) year\b"),
        (DAY, r"(?:what|which) (?:day|date|month|weekday)\b|on what (?:day|date)\b"),
        (DURATION, r"how (?:long|often|frequently)\b|since when\b"),
        (AMOUNT, r"how (?:much|old|far|big|tall|heavy|fast|expensive)\b|what (?:was|is|'s) the (?:price|cost|amount"
                 r"|total|budget|fee|rent|salary)\b"),
        (NAME, r"(?:what|which)(?:'s| is| was| are| were)? (?:the |my |our |his |her |their |your )?names?\b"
               r"|what(?:'s|\s+is|\s+was|\s+are|\s+were) (?:[\w']+\s+){1,4}(?:called|named)\b"
               r"|what (?:did|do|does|have|has|had|will|should) (?:[\w']+\s+){1,5}(?:nam|call)(?:e|ed|ing)?\b"
               r"|(?:what|which)(?:'s| is| was)? (?:[\w']+\s+){1,4}names?\s*\?"),
        (COLOUR, r"(?:what|which) colou?rs?\b"),
        (PERSON, r"who(?:m|'s)?\b(?! else)"),
        (PLACE, r"where(?:'s|\s+(?:is|are|was|were|do|does|did|will|would|can|could|should|has|have|had|am)\b)"
                r"|(?:in|at|to|from)?\s*(?:what|which) (?:city|town|village|country|place|address|street|venue"
                r"|neighbou?rhood|hospital|school|hotel|restaurant|shop|store|gym|office|airport|station)\b"),
        # A question's "when" is followed by its verb ("when did", "when's"); "when I run it, why ..." is a clause.
        (WHEN, r"when(?:'s|\s+(?:is|are|was|were|do|does|did|will|would|can|could|should|has|have|had|am)\b)"),
    ))
# An asking sentence that is about memory at all (as questions._ASKS): a cell's other sentences ask for code.
# Sentences, and the questions a sentence joins ("When is the party, and who is coming?" asks two things).
_SENTENCE = re.compile(r"(?:[^.!?;,\n]|,(?!\s*(?:and|or|but|also|plus)\s))+[.!?;]?")
_ASKING = re.compile(_LEAD + r"(?:what|which|who|whom|whose|where|when|why|how|did|do|does|have|has|had|was|were"
                     r"|is|are|list|name)\b", re.IGNORECASE)

_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:thir|four|fif|six|seven|eigh"
                 "|nine)teen|(?:twen|thir|for|fif|six|seven|eigh|nine)ty|hundred|thousand|million|billion|grand"
                 "|dozen|half|quarter|couple|few|several|single|double|once|twice|free|nothing|zero|none")
_MONEY = "euros?|dollars?|pounds?|quid|bucks|cents?|pence|yen|yuan|rupees?|francs?|kronor|krona|pesos?"
_NUMBER = re.compile(rf"\d|[$€£¥]|\b(?:{_NUMBER_WORDS}|{_MONEY})\b", re.IGNORECASE)
_CLOCK = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|half|quarter|noon"
                    r"|midday|midnight|o'clock|morning|afternoon|evening|night|tonight|dawn|dusk"
                    r"|sunrise|sunset|lunchtime|breakfast|dinner|half past|quarter (?:past|to))\b", re.IGNORECASE)
_DAY = re.compile(r"\d|\b(?:today|tomorrow|yesterday|tonight|weekend|weekday|week|fortnight|birthday|christmas|easter"
                  r"|new year|holiday|day|days)\b", re.IGNORECASE)
_YEAR = re.compile(r"\d|\b(?:(?:last|next|this|that|same|a|first|second|third|fourth|fifth|final) year"
                   r"|years? (?:ago|before|after|later)|ago|decade"
                   r"|century)\b", re.IGNORECASE)
# "When?" is answered by a time, a date, or an event it was before, after, during or since ("after the wedding");
# not by "this", "then" or "last" alone: they are in every other sentence ("last spring" has its season).
_WHEN = re.compile(r"\d|\b(?:today|tomorrow|yesterday|tonight|ago|recently|lately|soon|before|after|during|since"
                   r"|until|till|while|breakfast|lunch|dinner|supper|bedtime|bed)\b", re.IGNORECASE)
# An event placed by a preposition is a time too: "at Tom's wedding", "on the school trip" (not "keeps knocking").
_PLACED_EVENT = re.compile(r"\b(?:at|on|for|around|from|in)\s+(?:[\w']+\s+){0,2}([a-z][a-z-]{2,})\b", re.IGNORECASE)
_DURATION = re.compile(r"\d|\b(?:since|every|per|daily|weekly|monthly|yearly|annually|hourly|nightly|always"
                       r"|never|usually|often|sometimes|rarely|ages|forever|while|until|till|ago"
                       rf"|{_NUMBER_WORDS})\b", re.IGNORECASE)
_NAMING = re.compile(r"\b(?:called|named|name is|name's|names are|known as|nicknamed|titled)\s+\W?(\w+)"
                     r"|[\"“‘'](\w[^\"”’']{0,40})[\"”’']", re.IGNORECASE)
# "Where?" is answered by a name ("in Lisbon", "at Casa Verde"), a place word ("the city", "downtown"), or a
# thing placed by a preposition: "at the children's hospital", "under the flowerpot", "behind the shed".
_SOMEWHERE = re.compile(r"\b(?:home|here|there|abroad|overseas|upstairs|downstairs|online|nearby|locally|downtown"
                        r"|uptown|outside|inside|next door|round the corner|around the corner)\b", re.IGNORECASE)
_PLACED = re.compile(r"\b(?:at|in|into|inside|to|from|near|by|behind|under|underneath|beneath|above|over|on|beside"
                     r"|next to|opposite|across|outside|past)\s+((?:[\w'.-]+\s+){0,2}[\w'.-]+)", re.IGNORECASE)
_PLACE_KINDS = ("noun.location", "noun.artifact", "noun.object", "noun.group")
_WORD = re.compile(r"[A-Za-z][a-z'-]+")
# The words that ask for a kind rather than say what about ("what *time* is the dentist", "how much did the bike
# *cost*"): a sentence sharing only these with the question is not on its topic ("the script takes more time").
_ASKING_WORDS = {
    CLOCK: "time times clock", DAY: "day days date dates month weekday", YEAR: "year years",
    WHEN: "when", DURATION: "long often frequently since", NAME: "name names named naming called call",
    PLACE: "where place places address location city town village country",
    AMOUNT: "much old far big tall heavy fast expensive price prices cost costs amount total budget fee fees pay"
            " paid paying spend spent age", PERSON: "who", COLOUR: "colour colours color colors",
}
_USER, _REPLY = re.compile(r"^\s*User:\s*"), "\n\nAssistant: "  # the labels of a turn's transcript (pages.py)


def asked_for(prompt: str) -> str | None:
    """The kind of answer `prompt` asks memory for (CLOCK, AMOUNT, NAME, ...), or None when it asks for none, for
    something untyped as well, or for two kinds (every asking sentence must ask for the same kind)."""
    kinds: list[str] = []
    for sentence in _SENTENCE.findall(prompt):
        sentence = sentence.strip()
        if not _ASKING.match(sentence):
            continue
        kind = next((kind for kind, pattern in _ASKED if pattern.match(sentence)), None)
        if kind is None:
            return None
        kinds.append(kind)
    return kinds[0] if kinds and len(set(kinds)) == 1 else None  # two kinds asked: not gated (kept simple)


def gives(kind: str, text: str, question: str = "") -> bool:
    """Whether `text` may answer a question asking for `kind`: it says a time, an amount, a name, ... A name the
    question itself uses is no answer to it ("What's Priya's dog called?" and "Priya has a dog")."""
    text = _told(text, question, kind)
    if kind == CLOCK:
        return bool(_CLOCK.search(text))
    if kind == DAY:
        return bool(_DAY.search(text)) or _has_calendar_name(text) or _of_kind(text, "noun.time")
    if kind == YEAR:
        return bool(_YEAR.search(text))
    if kind == WHEN:
        return bool(_WHEN.search(text)) or _has_calendar_name(text) or _of_kind(text, "noun.time") or _event(text)
    if kind == AMOUNT:
        return bool(_NUMBER.search(text))
    if kind == DURATION:
        return bool(_DURATION.search(text)) or _has_calendar_name(text) or _of_kind(text, "noun.time")
    asked = {word.lower() for word in _WORD.findall(question)}
    if kind == NAME:
        return bool(_new_names(text, asked) or any(
            (match.group(1) or match.group(2) or "").lower() not in asked for match in _NAMING.finditer(text)))
    if kind == PERSON:
        return bool(_new_names(text, asked)) or _of_kind(text, "noun.person", exclude=asked)
    if kind == COLOUR:
        return _colour(text)
    if kind == PLACE:
        return bool(_SOMEWHERE.search(text)) or _placed(text, asked) or _of_kind(text, "noun.location", exclude=asked)
    return True


def _told(text: str, question: str, kind: str = "") -> str:
    """What of a page may tell the answer: the sentences on the question's topic (sharing a word with it) and
    the one after each in its paragraph unless it asks something ("My sister got a dog. She's called Rex.",
    "Booked the dentist. Dr Alvarez, 3pm."; not "Also, how do I loop 10 times?"); what the user said as a
    whole when none is (a fact found by meaning: "Grandpa turns ninety" for "my grandfather's age"). A page holds
    more than the fact (a cell's other requests, "loop 10 times", and the filler around it): those would pass for
    an answer. Of the model's reply (a turn's page is "User: ... Assistant: ...", pages.py) only sentences on the
    topic: a reply carries numbered steps, code and library names."""
    user, marker, reply = text.partition(_REPLY)
    user = _USER.sub("", user, count=1)
    asking = set(_ASKING_WORDS.get(kind, "").split())
    topic = [word for word in _words(question) if word not in asking]

    def on_topic(part: str, following: bool) -> list[str]:
        picked: list[str] = []
        for paragraph in part.split("\n\n"):
            sentences = _SENTENCE.findall(paragraph)
            # As the index stems ("babies" for "baby"): a page the words found shares a word with the question.
            shared = [any(inflected(word, topic) for word in _words(sentence)) for sentence in sentences]
            picked += [sentence for index, sentence in enumerate(sentences)
                       if shared[index] or following and index and shared[index - 1] and "?" not in sentence]
        return picked

    # What the user said as a whole when no sentence is on the topic, however the page was found: the index
    # matches words this reading does not see as the topic (held-out D lost a fact found through a two-character
    # class code when a page found by words with no topic sentence gave nothing).
    said = on_topic(user, True) or [user]
    return "\n".join([*said, *(on_topic(reply, False) if marker else [])])


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(word.lower() for word in WORD.findall(text)
                              if word.lower() not in STOPWORDS
                              and (len(word) > 2 or any(char.isdigit() for char in word))))


def _new_names(text: str, asked: set[str]) -> list[str]:
    return [name for name in entities(text)
            if name not in asked and name not in NOT_BRIDGES and not name.isdigit() and name != "echo"]


def _has_calendar_name(text: str) -> bool:
    """A day or a month: "May" only capitalized (else it is the verb)."""
    return any(word.lower() in NOT_BRIDGES and (word.lower() != "may" or word == "May") for word in _WORD.findall(text)
               if word.lower() not in ("dr", "mr", "mrs", "ms", "prof", "sir", "i"))


def _placed(text: str, asked: set[str]) -> bool:
    """Whether one of the (up to three) words after a preposition of place names where (_a_place)."""
    words = (word.strip(".-'") for match in _PLACED.finditer(text) for word in match.group(1).split())
    return any(_a_place(word, asked) for word in words if len(word) > 2 or any(char.isdigit() for char in word))


def _a_place(word: str, asked: set[str]) -> bool:
    """Whether `word`, placed by a preposition, names where: an identifier ("on db-stage-07"), a name the question
    does not use ("in Crete", "at Casa Verde"; not a day or a month) or a place or thing ("the hospital", "the
    flowerpot", "the sea"). Any placed word until the thesaurus is loaded (a page is never ruled out for want of
    a way to tell)."""
    from . import thesaurus

    if any(char.isdigit() or char in ".-" for char in word):
        return not word.isdigit()  # a host, a room, a gate: "on db-stage-07", "in room 4B"; not "at 8"
    if word[0].isupper():
        return word.lower() not in asked and word.lower() not in NOT_BRIDGES
    return thesaurus.loaded() is None or thesaurus.first_kind(word) in _PLACE_KINDS


def _event(text: str) -> bool:
    from . import thesaurus

    return any(thesaurus.first_kind(match.group(1)) == "noun.event" for match in _PLACED_EVENT.finditer(text))


def _content_words(text: str, exclude: Iterable[str] = ()) -> list[str]:
    skip = set(exclude)
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(text)
                              if word.lower() not in STOPWORDS and word.lower() not in skip and len(word) > 2))


def _of_kind(text: str, *kinds: str, exclude: Iterable[str] = ()) -> bool:
    """Whether a word of `text` mostly means a thing of one of `kinds` (WordNet's first sense). True until the
    thesaurus is loaded: a page is never ruled out for want of a way to tell."""
    from . import thesaurus

    if thesaurus.loaded() is None:
        return True
    return any(thesaurus.first_kind(word) in kinds for word in _content_words(text, exclude))


def _colour(text: str) -> bool:
    from . import thesaurus

    if thesaurus.loaded() is None:
        return True  # no way to tell a colour: never rule a page out on it
    return any(thesaurus.is_colour(word) for word in _content_words(text))
