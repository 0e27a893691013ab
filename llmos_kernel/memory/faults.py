"""Demand paging: serve a page fault by bringing the relevant swapped pages back, making room if need be.

A recalled page comes back inside a RECALLED *copy* of its swapped segment: one resident copy per swapped
segment, holding the pages recalled so far (an excerpt, marked so in its header). The segment itself stays in
swap, so dropping the copy again costs nothing and loses nothing: recalled pages are clean pages.

A prompt's recall keeps in a copy it touches only the pages relevant now: the pages this prompt's ranking
chose, plus the pages a user asked for by name (%recall, a whole page-in: `Segment.kept`), which stay. The
other pages of that copy are dropped (clean: still in swap), so a copy never grows into a pile of what earlier
questions needed. A copy no page of this prompt touches is left where it is: moving it would break the prefix
the next request shares with this one (KV cache) for nothing. No copy holds two pages with the same text,
and no recall brings back a page whose text it already holds (a line repeated many times comes back once).

When the window has no room for what the prompt needs, colder resident content is evicted for it (page
replacement), least recently used first, within a recall budget per prompt. The budget grows with the window
(a share of the usable window, at least RECALL_FLOOR) unless the user set one (%recall --auto on --budget N);
either way one recall takes at most RECALL_SHARE of the usable window. Pinned content, the newest turns and
the copies being rebuilt are never evicted for a recall. Every decision is recorded (what came back, what
went for it, which pages were dropped and the words that matched), for the plan, `%context --json` and the
panel.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import policies
from .pages import Page, excerpt, page_text
from .recall import Hit, Ranker
from .segments import Kind, Segment, new_segment_id
from .tokenizers import raw_counter

if TYPE_CHECKING:
    from .state import WindowState

_ROLE = re.compile(r"^(?:User|Assistant):\s*")  # how page_text() opens the two halves of a turn
_WORD = re.compile(r"\w+")
SAID_SHARE = 0.8  # of a page's word pairs found in the window: it says nothing new


def _pairs(text: str) -> set[tuple[str, str]]:
    words = _WORD.findall(text.lower())
    return set(zip(words, words[1:], strict=False))


def _already_said(page: str, window: set[tuple[str, str]]) -> bool:
    pairs = _pairs(_ROLE.sub("", page))
    return bool(pairs) and len(pairs & window) >= SAID_SHARE * len(pairs)


RECALL_SHARE = 0.25  # of the usable window: the most one prompt's recall may take, whatever the budget says
DEFAULT_RECALL_SHARE = 0.2  # the budget nobody set: this share of the usable window ...
RECALL_FLOOR = 1024  # ... and at least this many tokens (a small window: RECALL_SHARE caps it anyway)
CONTEXT_TURNS = 2  # recent prompts whose words may help a recall (RecallOptions.context_weight)
STALE = "no longer relevant to the prompt: still in swap"


def recall_budget(usable: int, chosen: int | None) -> int:
    """Tokens one prompt's recall may bring back: the user's --budget (`chosen`), else a share of the usable
    window that grows with it; either way at most RECALL_SHARE of the usable window."""
    wanted = chosen if chosen is not None else max(RECALL_FLOOR, int(DEFAULT_RECALL_SHARE * usable))
    return min(wanted, int(RECALL_SHARE * usable))


def describe_budget(usable: int, chosen: int | None) -> str:
    """The effective recall budget and where it comes from, for `%recall --auto`."""
    budget = recall_budget(usable, chosen)
    if chosen is None:
        share = int(DEFAULT_RECALL_SHARE * usable)
        if budget == share:
            why = f"{DEFAULT_RECALL_SHARE:.0%} of the {usable:,}-token usable window, growing with it"
        elif budget == RECALL_FLOOR:
            why = (f"the least by default ({DEFAULT_RECALL_SHARE:.0%} of the {usable:,}-token usable window"
                   f" is {share:,})")
        else:
            why = f"{RECALL_SHARE:.0%} of the {usable:,}-token usable window, the most a recall takes"
        return f"budget {budget:,} tokens: {why}; --budget N sets your own"
    if budget < chosen:
        return (f"budget {budget:,} tokens: you set {chosen:,}, but a recall takes at most {RECALL_SHARE:.0%}"
                f" of the {usable:,}-token usable window")
    return f"budget {budget:,} tokens, set with --budget"


@dataclass
class _Source:
    """A swapped segment being recalled from: its pages and the copy being built for it."""

    segment: Segment
    spans: list[Page]
    pages: set[int]
    raw: int  # raw tokens of its resident copy as planned so far (0: none)
    held: set[int] = field(default_factory=set)  # pages of its resident copy before this recall
    kept: set[int] = field(default_factory=set)  # pages a user asked for by name: never dropped
    freed: int = 0  # raw tokens its copy lost to stale pages before anything was added
    text: str = ""  # its page text (pages are spans of it)
    hits: list[Hit] = field(default_factory=list)

    def page(self, index: int) -> str:
        span = self.spans[index]
        return " ".join(self.text[span.start : span.end].split())


class Pager:
    """The page-fault handler of one context window (it reads and moves the window's state)."""

    def __init__(self, state: WindowState) -> None:
        self.state = state
        self.last: dict[str, Any] | None = None  # the last recall decision, for %context --json and the panel

    # -- the page fault of a prompt --------------------------------------------------------------------

    def fault(self, prompt: str, prompt_raw: int, only: set[str] | None = None) -> list[str]:
        """Auto-recall for `prompt`: bring back what it needs within the budget; returns the plan's actions.
        `only`: recall from these swapped segments alone (the paged documents, when auto recall is off)."""
        state = self.state
        self.last = None
        if not len(state.swap):
            return []
        resident = [s.body() if s.kind is not Kind.HISTORY else f"{s.text}\n\n{s.answer}" for s in state._log]
        ranker = Ranker(state.swap, state.recall_options)
        hits = ranker.rank(prompt, self._context(), resident)
        lookalikes = ranker.left_out_json()
        unanswered = ranker.unanswered
        if only is not None:
            hits = [hit for hit in hits if hit.page.segment_id in only]
        # A page saying (nearly) word for word what the window already holds adds nothing (a repeated report,
        # a turn quoting an older one): recalling it would only spend the budget and push resident turns out.
        # Nearly: most of its word pairs are in the window (a pair is specific; single words are everywhere).
        # Recalled copies are left out: what a copy holds is this recall's to keep or drop (stale pages).
        window_pairs = _pairs("\n".join(text for segment, text in zip(state._log, resident, strict=True)
                                        if segment.kind is not Kind.RECALLED))
        hits = [hit for hit in hits if not _already_said(hit.page.text, window_pairs)]
        budget = state.recall_budget
        if not hits:
            self.last = _decision(hits, [], [], 0, budget, lookalikes=lookalikes, unanswered=unanswered)
            return []
        relevant: dict[str, set[int]] = {}
        for hit in hits:
            relevant.setdefault(hit.page.segment_id, set()).add(hit.page.index)
        # The copies this prompt touches start from what is still relevant: their stale pages go.
        seen: set[str] = set()
        start: dict[str, _Source] = {}
        for source_id, pages in relevant.items():
            copy = state._copies.get(source_id)
            segment = state.swap.get(source_id) if copy is not None else None
            if copy is not None and segment is not None:
                start[source_id] = self._source(segment, _kept(copy) | (set(copy.pages) & pages), seen)
        freed = sum(entry.freed for entry in start.values())
        ceiling = state._raw_limit(state.act_at * state.usable)
        protected = self._protected(set(relevant))
        candidates = [s for s in state._log if s.kind in policies.PAGEABLE and not s.pinned and s.id not in protected]
        if state.policy == "strict":
            candidates = []  # strict never moves anything by itself: a recall only uses the room there is
        room = ceiling - state._raw_used(prompt_raw) + freed + sum(state._raw(s) for s in candidates)
        sources, spent, duplicates = self._select(hits, min(state._raw_limit(budget), room), None, start, seen)
        for source_id, entry in start.items():
            if source_id not in sources and entry.pages != entry.held:
                sources[source_id] = entry  # nothing new for it, but its stale pages still go
        victims = policies.lru_victims(candidates, state._raw, state._raw_used(prompt_raw) + spent - freed - ceiling)
        recalled, dropped = self._apply(sources, victims, "recall for the prompt", prune=True)
        self.last = _decision(hits, recalled, victims, state._scaled(spent), budget, state, dropped, duplicates,
                              lookalikes)
        return self._actions(recalled, victims, dropped)

    def _context(self) -> list[str]:
        turns = [s.text for s in self.state._log if s.kind is Kind.HISTORY]
        return turns[-CONTEXT_TURNS:]

    def _protected(self, sources: set[str]) -> set[str]:
        """Never evicted for a recall: the newest turns and the copies this recall may rebuild."""
        state = self.state
        turns = [s.id for s in state._log if s.kind is Kind.HISTORY]
        keep = set(turns[-state.protect_newest :]) if state.protect_newest > 0 else set()
        return keep | {state._copies[source].id for source in sources if source in state._copies}

    # -- explicit recalls ------------------------------------------------------------------------------

    def recall(self, query: str, budget: int, limit: int) -> list[Segment]:
        """%recall QUERY: the best pages for `query`, within `budget` tokens, no eviction. The pages it
        brings (or finds already resident) are the user's: a prompt's recall never drops them."""
        state = self.state
        if budget <= 0 or limit <= 0 or not len(state.swap):
            return []
        hits = Ranker(state.swap, state.recall_options).rank(query)
        sources, _, _ = self._select(hits, state._raw_limit(budget), limit, {}, set())
        for hit in hits:
            copy = state._copies.get(hit.page.segment_id)
            entry = sources.get(hit.page.segment_id)
            if entry is not None and hit.page.index in entry.pages:
                entry.kept.add(hit.page.index)
            elif copy is not None and hit.page.index in copy.pages and hit.page.index not in copy.kept:
                copy.kept = sorted({*copy.kept, hit.page.index})  # already there: now it stays
        return self._apply(sources, [], f"recall of {query!r}")[0]

    def whole(self, source: Segment, budget: int) -> Segment | None:
        """A copy of every page of a swapped segment, if it fits in `budget` tokens (None when it does not)."""
        state = self.state
        entry = self._source(source, None, None)
        entry.pages = entry.kept = set(range(len(entry.spans)))
        cost = self._raw_of(entry) - entry.raw
        if state._scaled(cost) > budget:
            return None
        return self._apply({source.id: entry}, [], f"recall of {source.where()}")[0][0]

    # -- choosing pages --------------------------------------------------------------------------------

    def _select(
        self, hits: list[Hit], budget: int, limit: int | None, start: dict[str, _Source], seen: set[str]
    ) -> tuple[dict[str, _Source], int, int]:
        """Pages in rank order while they fit in `budget` raw tokens; at most `limit` segments. A page whose
        text is already chosen (or held) is skipped. Returns the sources, the raw tokens they add and how
        many pages were skipped as duplicates."""
        state = self.state
        sources: dict[str, _Source] = {}
        spent = duplicates = 0
        for hit in hits:
            source_id = hit.page.segment_id
            entry = sources.get(source_id) or start.get(source_id)
            if entry is None:
                if limit is not None and len(sources) >= limit:
                    continue
                segment = state.swap.get(source_id)
                if segment is None:
                    continue
                entry = start[source_id] = self._source(segment, None, seen)
            if source_id not in sources and limit is not None and len(sources) >= limit:
                continue
            if hit.page.index in entry.pages or hit.page.index >= len(entry.spans):
                continue
            text = entry.page(hit.page.index)
            if text in seen:
                duplicates += 1
                continue
            before = entry.raw
            entry.pages.add(hit.page.index)
            after = self._raw_of(entry)
            if spent + after - before > budget:
                entry.pages.discard(hit.page.index)
                continue
            seen.add(text)
            spent += after - before
            entry.raw = after
            entry.hits.append(hit)
            sources[source_id] = entry
        return sources, spent, duplicates

    def _source(self, segment: Segment, keep: set[int] | None, seen: set[str] | None) -> _Source:
        """A swapped segment to recall from, starting from its copy's pages `keep` (None: all it holds), each
        text once: a copy restored from an older session may hold duplicates, which go like stale pages."""
        state = self.state
        copy = state._copies.get(segment.id)
        held = set(copy.pages) if copy is not None else set()
        entry = _Source(segment, state.swap.page_spans(segment.id), set(), 0, held,
                        _kept(copy) if copy is not None else set(), text=page_text(segment))
        for index in sorted(held if keep is None else keep & held, key=lambda i: (i not in entry.kept, i)):
            text = entry.page(index) if index < len(entry.spans) else None
            if text is None or (seen is not None and text in seen):
                continue
            entry.pages.add(index)
            if seen is not None:
                seen.add(text)
        entry.kept &= entry.pages
        if copy is not None:
            old = state._raw(copy)
            entry.raw = old if entry.pages == held else (self._raw_of(entry) if entry.pages else 0)
            entry.freed = old - entry.raw
        return entry

    def _raw_of(self, entry: _Source) -> int:
        return self.state._raw(self._build(entry, ""))

    def _build(self, entry: _Source, segment_id: str) -> Segment:
        source = entry.segment
        old = self.state._copies.get(source.id)
        # The words that matched: a copy that lost pages keeps only what found the pages it still holds.
        earlier = old.match if old is not None and (entry.held <= entry.pages or entry.kept) else []
        terms = list(dict.fromkeys([*earlier, *(t for h in entry.hits for t in h.terms)]))
        return Segment(
            Kind.RECALLED,
            excerpt(entry.text, entry.spans, entry.pages),
            cell_id=source.cell_id,
            execution_count=source.execution_count,
            label=source.label,
            id=segment_id or "probe",
            created=source.created,
            origin=source.origin if source.kind is Kind.RECALLED else source.kind.value,
            source=source.id,
            pages=sorted(entry.pages),
            page_count=len(entry.spans),
            match=terms,
            kept=sorted(entry.kept & entry.pages),
            untrusted=source.untrusted,
        )

    # -- applying --------------------------------------------------------------------------------------

    def _apply(
        self, sources: dict[str, _Source], victims: list[Segment], why: str, prune: bool = False
    ) -> tuple[list[Segment], list[dict[str, Any]]]:
        """Evict the victims, then (re)build each source's copy: a rebuilt copy goes to the end, where what
        a prompt needs is placed. With `prune`, the pages a copy no longer holds are recorded as dropped."""
        state = self.state
        entry = state._begin_undo(why)
        if victims:
            state._page_out(victims, entry)
        recalled: list[Segment] = []
        dropped: list[dict[str, Any]] = []
        keys: list[tuple[str, int]] = []
        tokens = 0
        now = time.time()
        for source_id, chosen in sources.items():
            old = state._copies.get(source_id)
            copy = self._build(chosen, old.id if old is not None else _fresh_id(state)) if chosen.pages else None
            if old is not None:
                stale = sorted(set(old.pages) - chosen.pages)
                if prune and stale:
                    freed = state._scaled(raw_counter(state.tokenizer)(excerpt(chosen.text, chosen.spans, stale)))
                    dropped.append({"id": old.id, "source": source_id, "cell": old.execution_count,
                                    "pages": stale, "tokens": freed, "why": STALE})
                    state.paging.dropped([(source_id, page) for page in stale])
                state._remove([old])
                entry.dropped.append(old)
            if copy is None:
                continue
            copy.last_used = now
            copy.pinned = old.pinned if old is not None else False
            state._append(copy)
            entry.added.append(copy.id)
            recalled.append(copy)
            keys += [(source_id, page) for page in sorted(chosen.pages - chosen.held)]
            tokens += max(state.tokens_of(copy) - (state.tokens_of(old) if old is not None else 0), 0)
        if keys:
            state.paging.recalled(keys, tokens)
        state._push_undo(entry)
        return recalled, dropped

    def _actions(self, recalled: list[Segment], victims: list[Segment], dropped: list[dict[str, Any]]) -> list[str]:
        state = self.state
        actions = []
        if victims:
            tokens = sum(state.tokens_of(s) for s in victims)
            actions.append(policies.describe_move("evicted", victims, tokens, "to make room for a recall"))
        if dropped:
            pages = sum(len(item["pages"]) for item in dropped)
            tokens = sum(item["tokens"] for item in dropped)
            actions.append(f"dropped {pages} recalled page{'s' if pages != 1 else ''} ({tokens:,} tokens) no longer"
                           " relevant (still in swap)")
        if recalled:
            tokens = sum(state.tokens_of(s) for s in recalled)
            actions.append(policies.describe_move("recalled pages of", recalled, tokens, "from swap"))
        return actions


def _kept(copy: Segment) -> set[int]:
    """Pages of a copy that a prompt's recall never drops: those the user asked for; all of a pinned copy."""
    return set(copy.pages) if copy.pinned else set(copy.kept) & set(copy.pages)


def _fresh_id(state: WindowState) -> str:
    segment_id = new_segment_id()
    while segment_id in state._ids or segment_id in state.swap:
        segment_id = new_segment_id()
    return segment_id


def _decision(
    hits: list[Hit],
    recalled: list[Segment],
    victims: list[Segment],
    spent: int,
    budget: int,
    state: WindowState | None = None,
    dropped: list[dict[str, Any]] | None = None,
    duplicates: int = 0,
    lookalikes: list[dict[str, Any]] | None = None,
    unanswered: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The recall as data: what came back and why (the words that matched), what was evicted for it, which
    pages of the copies it touched were dropped as no longer relevant, which it left out as look-alikes, and the
    kind of answer asked for that none of the pages found gave (then nothing was recalled)."""
    by_source: dict[str, list[Hit]] = {}
    for hit in hits:
        by_source.setdefault(hit.page.segment_id, []).append(hit)
    tokens: Callable[[Segment], int] = state.tokens_of if state is not None else (lambda s: 0)
    return {
        "budget": budget,
        "tokens": spent,
        "candidates": len(hits),
        "duplicates": duplicates,  # matching pages skipped: their text was already in the window's copies
        "recalled": [
            {
                "id": copy.id,
                "source": copy.source,
                "cell": copy.execution_count,
                "origin": copy.origin,
                "pages": [page for page in copy.pages],
                "page_count": copy.page_count,
                "tokens": tokens(copy),
                "match": [hit.to_json() for hit in by_source.get(copy.source, []) if hit.page.index in copy.pages],
            }
            for copy in recalled
        ],
        "dropped": list(dropped or []),
        "lookalikes": list(lookalikes or []),  # about a close kind of what was asked: "sister" for "brother"
        "unanswered": dict(unanswered) if unanswered else None,  # {"wanted": "a clock time", "pages": 2}
        "evicted": [
            {"id": s.id, "kind": s.kind.value, "cell": s.execution_count, "tokens": tokens(s),
             "how": "dropped: still in swap" if s.source else "paged out to swap"}
            for s in victims
        ],
    }
