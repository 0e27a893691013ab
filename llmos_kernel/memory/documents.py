"""Documents larger than the window: paged, with a small pinned stub standing for them.

A `%load`ed document is pinned whole when it fits. One that cannot fit, or would leave no room for a prompt
and the newest turn, would make every prompt fail ("context window full"). Instead it goes to swap as pages
(searchable like any swapped segment, under its path), and a pinned stub of a few dozen tokens stays in the
window saying that the document is loaded and paged (its size in pages). Each prompt then recalls
the pages of it that it needs through the ordinary page fault (faults.py), so `%context --json` shows which
pages came back and why. The same happens to a pinned document that stops fitting later: a switch to a model
with a smaller window, or a prompt too large to sit beside it.

The stub gives no token figure: with an estimating tokenizer the figure changes each time the provider's
counts calibrate it (tokenizers.py), and rewriting a pinned stub would break the request prefix the KV cache
reuses. %load, %memory and the panel count the document itself, at the current calibration, and mark the
figure as an estimate when it is one, so each display of its size agrees with the others.

A document fits when the system prompt, the tool definitions, everything pinned (it included), the newest
turn and ROOM of the usable window (for a prompt) all fit in the usable window.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING

from ..words import plural
from .pages import page_text, split_pages
from .segments import Kind, Segment, new_segment_id

if TYPE_CHECKING:
    from .state import WindowState

ROOM = 1 / 8  # of the usable window a loaded document must leave for a prompt, besides the newest turn


def is_document(segment: Segment) -> bool:
    """A pinned, resident, loaded document (not a stub, not a pinned turn)."""
    return segment.kind is Kind.PINNED and segment.pinned and not segment.paged


def fits(state: WindowState, extra_raw: int = 0, prompt_raw: int | None = None) -> bool:
    """Does what is pinned (plus `extra_raw` tokens about to be pinned) leave room for a prompt and the newest
    turn? With `prompt_raw`, room for that very prompt instead of the ROOM share."""
    pinned = sum(state._raw(s) for s in state._log if s.pinned)
    fixed = state._raw_used() - state._total  # system prompt, tool definitions, the request's overhead
    turns = [s for s in state._log if s.kind is Kind.HISTORY and not s.pinned]
    newest = state._raw(turns[-1]) if turns and prompt_raw is None else 0
    room = state._raw_limit(ROOM * state.usable) if prompt_raw is None else prompt_raw
    return state._scaled(fixed + pinned + extra_raw + newest + room) <= state.usable


def page(state: WindowState, document: Segment) -> Segment:
    """Put `document` in swap as pages and return the pinned stub that stands for it (not yet in the log)."""
    document.pinned = False
    while document.id in state._ids or document.id in state.swap:
        document.id = new_segment_id()
    state.tokens_of(document)  # counted before it goes: swap keeps the count
    state.swap.put(document)
    pages = len(split_pages(page_text(document), state.swap.page_chars))
    name = PurePath(document.label).name or document.label
    text = (f"Loaded and paged: {name}, {plural(pages, 'page')}, larger than the context window. Its pages are in"
            " swap; those relevant to each prompt are recalled into the window as excerpts of it.")
    return Segment(Kind.PINNED, text, label=document.label, pinned=True, untrusted=document.untrusted,
                   paged=document.id)


def page_resident(state: WindowState, prompt_raw: int | None = None) -> list[str]:
    """Page resident pinned documents, largest first, until the rest fits (see `fits`); each keeps its place
    in the log as a stub. Returns what was done, for the plan's or the refit's actions."""
    actions: list[str] = []
    while not fits(state, prompt_raw=prompt_raw):
        documents = [s for s in state._log if is_document(s)]
        if not documents:
            break
        document = max(documents, key=state._raw)
        position = state._log.index(document)
        tokens = state.tokens_of(document)
        state._remove([document])
        stub = page(state, document)
        state._insert(position, stub)
        actions.append(f"paged {document.where()} ({tokens:,} tokens) to swap: the pinned document no longer"
                       " fits the window, so a stub stays pinned and each prompt recalls the pages it needs")
    return actions


def paged_sources(state: WindowState) -> set[str]:
    """The swapped documents that resident stubs stand for."""
    return {s.paged for s in state._log if s.paged and s.paged in state.swap}


def describe(state: WindowState, stub: Segment) -> str:
    """The one line %load prints for a paged document."""
    document = state.swap.get(stub.paged)
    tokens = state.tokens_of(document) if document is not None else 0
    pages = len(state.swap.page_spans(stub.paged)) if document is not None else 0
    return (f"paged {stub.label}: {size(state, tokens)} is larger than the {state.usable:,}-token usable window,"
            f" so it went to swap as {plural(pages, 'page')}; the pinned stub {stub.id} stands for it and each"
            " prompt recalls the pages it needs (%context --json shows which)" + estimate_note(state))


def size(state: WindowState, tokens: int) -> str:
    """A count of tokens as %load prints it: '1,200 tokens', or '~1,200 tokens' when the tokenizer estimates."""
    return ("" if state.tokenizer.exact else "~") + plural(tokens, "token")


def estimate_note(state: WindowState) -> str:
    """Said after an estimated size: the figure follows the provider's counts, and %memory has the current one."""
    if state.tokenizer.exact:
        return ""
    return ("\n  (an estimate: it follows the provider's reported counts as they calibrate the tokenizer;"
            " %memory and the panel show the current figure)")
