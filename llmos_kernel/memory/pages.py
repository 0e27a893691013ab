"""Pages: a swapped segment cut into sentence- or paragraph-aligned chunks of bounded size.

Swap indexes pages, not whole segments, so a recall can bring back the one relevant paragraph of a long turn.
A page is a span of the segment's page text (`page_text`), so pages join back into the exact original and an
excerpt is always a faithful quote. Page bounds are set in characters (about four to a token in English):
they must not depend on the model's tokenizer, since swap outlives model switches. What a recalled page costs
is counted exactly, with the window's tokenizer, once it is part of a segment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .segments import Kind, Segment

PAGE_TOKENS = 96
CHARS_PER_TOKEN = 4
PAGE_CHARS = PAGE_TOKENS * CHARS_PER_TOKEN
GAP = "\n[…]\n"  # between two pages that are not adjacent in their segment

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Page:
    index: int
    start: int
    end: int


def page_text(segment: Segment) -> str:
    """The text a segment's pages cut up: a turn as one 'User: … Assistant: …' transcript, else its text."""
    if segment.kind is Kind.HISTORY or (segment.origin == Kind.HISTORY.value and not segment.source):
        return f"User: {segment.text}\n\nAssistant: {segment.answer_text()}"
    return segment.text


def split_pages(text: str, max_chars: int = PAGE_CHARS) -> list[Page]:
    """Pages covering `text` in order, each at most `max_chars` (a longer word alone is cut mid-word).

    Paragraphs are kept whole when they fit, else cut at sentence ends, else at spaces, and the sentences of
    one paragraph are packed together up to the bound. A page never spans two paragraphs: a short paragraph
    (a fact told in one line) is a page of its own, so recalling it costs what it says, not its neighbours.
    Whitespace between two pages belongs to neither.
    """
    units = [span for span in _units(text, max_chars) if text[span[0] : span[1]].strip()]
    pages: list[Page] = []
    start = end = -1
    for unit_start, unit_end in units:
        same_paragraph = start >= 0 and not _PARAGRAPH.search(text, end, unit_start)
        if same_paragraph and unit_end - start <= max_chars:
            end = unit_end
            continue
        if start >= 0:
            pages.append(Page(len(pages), start, end))
        start, end = unit_start, unit_end
    if start >= 0:
        pages.append(Page(len(pages), start, end))
    return pages


def _units(text: str, max_chars: int) -> Iterable[tuple[int, int]]:
    for start, end in _split(text, 0, len(text), _PARAGRAPH):
        if end - start <= max_chars:
            yield _trim(text, start, end)
            continue
        for s_start, s_end in _split(text, start, end, _SENTENCE_END):
            if s_end - s_start <= max_chars:
                yield _trim(text, s_start, s_end)
            else:
                yield from _words(text, s_start, s_end, max_chars)


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> Iterable[tuple[int, int]]:
    position = start
    for match in pattern.finditer(text, start, end):
        yield position, match.start()
        position = match.end()
    yield position, end


def _words(text: str, start: int, end: int, max_chars: int) -> Iterable[tuple[int, int]]:
    """Cut a run of text longer than a page at spaces (mid-word only for a single over-long word)."""
    position = start
    while end - position > max_chars:
        cut = position + max_chars
        space = max((m.start() for m in _SPACE.finditer(text, position + 1, cut)), default=-1)
        cut = space if space > position else cut
        yield _trim(text, position, cut)
        position = cut
    yield _trim(text, position, end)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def excerpt(text: str, pages: list[Page], wanted: Iterable[int]) -> str:
    """The chosen pages of `text` in their original order, with a gap mark where pages were skipped."""
    chosen = sorted(set(wanted))
    parts: list[str] = []
    previous = -2
    for index in chosen:
        page = pages[index]
        if parts and index != previous + 1:
            parts.append(GAP)
        elif parts:
            parts.append(text[pages[previous].end : page.start] or " ")
        parts.append(text[page.start : page.end])
        previous = index
    return "".join(parts)
