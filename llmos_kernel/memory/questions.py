"""Reading a question (and a page) as recall needs it: the names it uses, whether it asks about a set or for
a yes or no, which words it places as nouns and which it rules out. Pure text, no swap, no model: recall.py
ranks with what this module reads.

Hand-written rules rather than a tagger: a part-of-speech model would cost start-up and memory on the typing
path, and each rule here is measured on bench_paging.py's questions (the comments say which case made it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .swap import STOPWORDS

WORD = re.compile(r"\w+")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*)$")

_ALL = re.compile(r"\b(all|every|each|list|how many|how much in total|total|which .* ever|everything)\b",
                  re.IGNORECASE)
EARLIEST = re.compile(r"\b(first|earliest|originally|original|initially|at first|before|used to|previous|old)\b",
                      re.IGNORECASE)
LATEST = re.compile(r"\b(now|currently|latest|most recent(ly)?|last|these days|today|still)\b", re.IGNORECASE)
# "Which animals live with us?", "what foods", "which of my relatives": a plural asked about is a set too.
# Four letters are enough ("what pets"), not "does"/"goes". Not a verb after a singular noun: "which food makes
# the owner ill" asks for one thing (an -s word followed by a determiner or a pronoun is a verb taking its object,
# not the noun asked about).
_PLURAL = re.compile(r"\b(?:which|what)\s+(?:of\b|(?!(?:does|goes)\b)(?:\w+\s+)?\w{2,}[^s\W]s\b"
                     r"(?!\s+(?:the|a|an|my|me|our|us|your|his|her|their|them|him|it|its|this|that|these|those)\b))",
                     re.IGNORECASE)
# A sentence asking memory something ("which pets do we have", "list all the cities", "what was the original
# deadline") against one asking for help with code ("how do I keep the original order", "sort a list of tuples",
# "drop all rows"): only the first makes a question about a set. Measured: the words of _ALL and EARLIEST are
# everywhere in code requests, and each one made a chatty notebook's code question recall 15-32 pages.
_SENTENCE = re.compile(r"[^.!?;:\n]+")
_ASKS = re.compile(r"^\W*(?:(?:and|so|ok|okay|also|then|now|but)\W+)*(?:(?:for|in|on|at|from|to|with|since|by)\s+)?"
                   r"(?:what|which|who|whom|whose|where|when|why|how"
                   r"|did|do|does|have|has|had|was|were|is|are|list|name|tell me|remind me)\b", re.IGNORECASE)
_HOW_TO = re.compile(r"^\W*(?:(?:and|so|ok|okay|also|then|now|but)\W+)*(?:how (?:do|does|did|can|could|should|would"
                     r"|to|is|are)\b|(?:can|could|would|will) you\b|show me\b|please\b|help\b)", re.IGNORECASE)
# A question answered yes or no ("Is my sister a doctor?", "did we ever get a dog?"): it proposes an answer.
_YES_NO = re.compile(r"^\W*(?:(?:and|so|ok|okay|also|then|now|but)\W+)*(?:is|are|was|were|do|does|did|has|have|had"
                     r"|can|could|will|would|should)\b", re.IGNORECASE)
# The words a question excludes: up to three after "not", "n't", "apart from", "other than", "except", ...
_NEGATED = re.compile(r"(?:\b(?:not|never|no|except|excluding|besides|without|apart from|other than|instead of"
                      r"|rather than|but)|n[\'’]t)\s+((?:\w+\s+){0,2}\w+)", re.IGNORECASE)
_DETERMINERS = frozenset(("my", "our", "the", "a", "an", "any", "which", "what", "whose", "his", "her", "their",
                          "your", "all", "many", "much", "these", "those", "this", "that", "some", "every", "each",
                          "of"))
# Capitalized, so names to entities(), but no one a second hop can lead to: "the team lunch on Friday" names no
# person whose other pages answer the question, and every page said on a Friday would come with it.
# (Spelled out: the calendar module's names follow the locale.)
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NOT_BRIDGES = frozenset(
    [*_DAYS, *(day + "s" for day in _DAYS), "january", "february", "march", "april", "may", "june", "july",
     "august", "september", "october", "november", "december", "dr", "mr", "mrs", "ms", "prof", "sir", "i"])
_IDENTIFIER = re.compile(r"^(?=\w*[a-z])(?=\w*\d)\w+$", re.IGNORECASE)


def entities(text: str) -> list[str]:
    """Names in `text`, lower-cased: capitalized words not opening a sentence (or opening one but followed by
    another capitalized word: "Lena Voss moved"), and identifiers mixing letters and digits (`zebra0qux`)."""
    found: list[str] = []
    words = list(WORD.finditer(text))
    for position, match in enumerate(words):
        word = match.group(0)
        if _IDENTIFIER.match(word):
            found.append(word.lower())
            continue
        if not word[:1].isupper() or len(word) < 2 or word.lower() in STOPWORDS:
            continue
        opening = bool(_SENTENCE_START.search(text[: match.start()]))
        following = words[position + 1] if position + 1 < len(words) else None
        joined = following is not None and text[match.end() : following.start()] == " "
        if not opening or joined and following.group(0)[:1].isupper():
            found.append(word.lower())
    return list(dict.fromkeys(found))


# "How has my running progressed?", "how did Ana's reading change?", "what's changed at work?": how something
# went over time needs its early and its late pages, which otherwise compete as one fact and its update do (held-out
# F's multi-session misses each got one of the two). "How did" asks memory here, not for help.
_CHANGE = re.compile(r"^\W*(?:how (?:has|have|did|does|is|are) (?:my|our|the|his|her|their|(?-i:[A-Z])\w*)\b.*"
                     r"\b(?:chang|progress|evolv|improv|develop|grow|grew|gone (?:up|down)|went (?:up|down)"
                     r"|go(?:ing)? (?:up|down))|what(?:'s| has| have)? changed\b)", re.IGNORECASE)


def asks_for_set(prompt: str, earliest: bool = True) -> bool:
    """Whether `prompt` asks memory about a set: all of something ("list all", "how many", "which animals"), how
    something changed over time ("how has my running progressed") or the first of several ("which did we get
    first", "the original deadline"), in a sentence that asks memory rather than asks for help with code."""
    for sentence in _SENTENCE.findall(prompt):
        if _CHANGE.match(sentence):
            return True
        if not (_ALL.search(sentence) or _PLURAL.search(sentence) or earliest and EARLIEST.search(sentence)):
            continue
        if _ASKS.match(sentence) and not _HOW_TO.match(sentence):
            return True
    return False


# "Whose starter survived, Priya's or Tom's?", "Was January's bill higher than February's?": a question offering
# alternatives needs a page for each, and each page carries one of them only. Not "or not", "or so", "or
# something": those offer nothing.
_ALTERNATIVE = re.compile(r"\s*,?\s+\b(?:or|than|versus|vs\.?|compared (?:to|with))\s+"
                          r"(?!(?:not|so|something|anything|else|more|less|fewer)\b)", re.IGNORECASE)


def alternatives(prompt: str) -> list[str]:
    """The questions `prompt` stands for when it offers alternatives, one for each: "Whose starter survived,
    Priya's or Tom's?" -> "Whose starter survived, Priya's?", "Whose starter survived, Tom's?" (the second one's
    alternative takes the place of as many words at the end of the first). [] when it offers none, or asks for
    help with code ("how do I sort by date or by name")."""
    for sentence in _SENTENCE.findall(prompt):
        if not _ASKS.match(sentence) or _HOW_TO.match(sentence):
            continue
        match = _ALTERNATIVE.search(sentence)
        if match is None:
            continue
        left, right = sentence[: match.start()].strip(), sentence[match.end() :].strip()
        taken, kept = right.split(), left.split()
        if not taken or len(kept) <= len(taken):
            continue
        return [f"{left}?", f"{' '.join(kept[: -len(taken)])} {right}?"]
    return []


def nouns(prompt: str) -> list[str]:
    """The words of `prompt` placed as nouns ("my spouse", "which of my relatives", "what health problems":
    after a determiner, a possessive or a question word, at most one word between), and each pair of them
    ("health problems"). Verbs ("pay", "open", "use") stay out: their noun senses are other things."""
    words = [word.lower() for word in WORD.findall(prompt)]
    found = [word for index, word in enumerate(words)
             if word not in STOPWORDS and len(word) > 2 and not word.isdigit()
             and (index and words[index - 1] in _DETERMINERS
                  or index > 1 and words[index - 2] in _DETERMINERS and words[index - 1] not in _DETERMINERS)]
    pairs = [f"{a} {b}" for a, b in zip(found, found[1:], strict=False) if f"{a} {b}" in " ".join(words)]
    return pairs + found


def head_nouns(text: str) -> list[str]:
    """The words of `text` that may be nouns heading what they are in: lower-case content words (not names),
    less those placed before a word placed as a noun (nouns(): after a determiner, at most one word between),
    which modify it: "coffee" of "we drink coffee", "orchestra" of "the youth orchestra", not "youth"; but
    "daughter" of "our daughter started" (a verb follows it)."""
    words = WORD.findall(text)
    lower = [word.lower() for word in words]

    def content(index: int) -> bool:
        word = lower[index]
        return word not in STOPWORDS and len(word) > 2 and word.isalpha() and words[index] == word

    def placed(index: int) -> bool:
        return content(index) and (index > 0 and lower[index - 1] in _DETERMINERS
                                   or index > 1 and lower[index - 2] in _DETERMINERS
                                   and lower[index - 1] not in _DETERMINERS)

    def verb_like(index: int) -> bool:
        # "Our daughter started", "my uncle lives": the word after a subject is its verb, not the noun it
        # modifies (a past form, or an -s after a word without one; "the car keys" then keeps "car" too,
        # which only matters for close kinds: "the dog beds" is about a dog as well).
        word = lower[index]
        return word.endswith("ed") or word.endswith("s") and not lower[index - 1].endswith("s")

    return list(dict.fromkeys(lower[index] for index in range(len(words))
                              if content(index) and not (index + 1 < len(words) and placed(index + 1)
                                                         and not verb_like(index + 1))))


def inflected(word: str, words: Sequence[str]) -> bool:
    """Whether `word` shares its stem with one of `words` ("order" for "orders", "mugful" for "mugs": the
    index stems words, so it would match the question's own word), a part of a hyphenated word included."""
    for part in word.split("-"):
        for other in words:
            stem = other[: max(3, len(other) - 3)]
            if part == other or len(part) >= 3 and (part.startswith(stem) or other.startswith(part)):
                return True
    return False




def asks_yes_no(prompt: str) -> bool:
    """Whether `prompt` asks for a yes or a no ("Is my sister a doctor?", "did we ever get a dog?"): such a
    question proposes an answer, and a page saying otherwise answers it."""
    return any(_YES_NO.match(sentence) for sentence in _SENTENCE.findall(prompt))


def ruled_out(prompt: str) -> set[str]:
    """The words `prompt` excludes ("which of our pets is not a cat", "apart from the cat": {"a", "cat"}, ...),
    up to three after each negation, lower-cased."""
    return {word.lower() for match in _NEGATED.finditer(prompt) for word in WORD.findall(match.group(1))}
