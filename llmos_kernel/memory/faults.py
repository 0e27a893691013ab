"""Demand paging: serve a page fault by bringing the relevant swapped pages back, making room if need be.

A recalled page comes back inside a RECALLED *copy* of its swapped segment: one resident copy per swapped
segment, holding the pages recalled so far (an excerpt, marked so in its header), merged when more pages of the
same segment are recalled later. The segment itself stays in swap, so dropping the copy again costs nothing
and loses nothing: recalled pages are clean pages.

When the window has no room for what the prompt needs, colder resident content is evicted for it (page
replacement), least recently used first, within a recall budget per prompt. Pinned content, the newest turns
and the copies being extended are never evicted for a recall. Every decision is recorded (what came back, what
went for it, and the words that matched), for the plan, `%context --json` and the panel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import policies
from .pages import Page, excerpt, page_text
from .recall import Hit, Ranker
from .segments import Kind, Segment, new_segment_id

if TYPE_CHECKING:
    from .state import WindowState

RECALL_SHARE = 0.25  # of the usable window: the most one prompt's recall may take, whatever the budget says
CONTEXT_TURNS = 2  # recent prompts whose words may help a recall (RecallOptions.context_weight)


@dataclass
class _Source:
    """A swapped segment being recalled from: its pages and the copy being built for it."""

    segment: Segment
    spans: list[Page]
    pages: set[int]
    raw: int  # raw tokens of its resident copy as planned so far (0: none)
    held: set[int] = field(default_factory=set)  # pages already resident before this recall
    hits: list[Hit] = field(default_factory=list)


class Pager:
    """The page-fault handler of one context window (it reads and moves the window's state)."""

    def __init__(self, state: WindowState) -> None:
        self.state = state
        self.last: dict[str, Any] | None = None  # the last recall decision, for %context --json and the panel

    # -- the page fault of a prompt --------------------------------------------------------------------

    def fault(self, prompt: str, prompt_raw: int) -> list[str]:
        """Auto-recall for `prompt`: bring back what it needs within the budget; returns the plan's actions."""
        state = self.state
        self.last = None
        if not len(state.swap):
            return []
        resident = [s.body() if s.kind is not Kind.HISTORY else f"{s.text}\n\n{s.answer}" for s in state._log]
        hits = Ranker(state.swap, state.recall_options).rank(prompt, self._context(), resident)
        if not hits:
            self.last = _decision(hits, [], [], 0, 0)
            return []
        budget = min(state.auto_recall_budget, int(RECALL_SHARE * state.usable))
        ceiling = state._raw_limit(state.act_at * state.usable)
        protected = self._protected({hit.page.segment_id for hit in hits})
        candidates = [s for s in state._log if s.kind in policies.PAGEABLE and not s.pinned and s.id not in protected]
        if state.policy == "strict":
            candidates = []  # strict never moves anything by itself: a recall only uses the room there is
        room = ceiling - state._raw_used(prompt_raw) + sum(state._raw(s) for s in candidates)
        sources, spent = self._select(hits, min(state._raw_limit(budget), room), limit=None)
        victims = policies.lru_victims(candidates, state._raw, state._raw_used(prompt_raw) + spent - ceiling)
        recalled = self._apply(sources, victims, "recall for the prompt")
        self.last = _decision(hits, recalled, victims, state._scaled(spent), budget, state)
        return self._actions(recalled, victims)

    def _context(self) -> list[str]:
        turns = [s.text for s in self.state._log if s.kind is Kind.HISTORY]
        return turns[-CONTEXT_TURNS:]

    def _protected(self, sources: set[str]) -> set[str]:
        """Never evicted for a recall: the newest turns and the copies this recall may extend."""
        state = self.state
        turns = [s.id for s in state._log if s.kind is Kind.HISTORY]
        keep = set(turns[-state.protect_newest :]) if state.protect_newest > 0 else set()
        return keep | {state._copies[source].id for source in sources if source in state._copies}

    # -- explicit recalls ------------------------------------------------------------------------------

    def recall(self, query: str, budget: int, limit: int) -> list[Segment]:
        """%recall QUERY: the best pages for `query`, within `budget` tokens, no eviction."""
        state = self.state
        if budget <= 0 or limit <= 0 or not len(state.swap):
            return []
        sources, _ = self._select(Ranker(state.swap, state.recall_options).rank(query), state._raw_limit(budget),
                                  limit)
        return self._apply(sources, [], f"recall of {query!r}")

    def whole(self, source: Segment, budget: int) -> Segment | None:
        """A copy of every page of a swapped segment, if it fits in `budget` tokens (None when it does not)."""
        state = self.state
        spans = state.swap.page_spans(source.id)
        entry = self._source(source, spans)
        entry.pages = set(range(len(spans)))
        cost = self._raw_of(entry) - entry.raw
        if state._scaled(cost) > budget:
            return None
        return self._apply({source.id: entry}, [], f"recall of {source.where()}")[0]

    # -- choosing pages --------------------------------------------------------------------------------

    def _select(self, hits: list[Hit], budget: int, limit: int | None) -> tuple[dict[str, _Source], int]:
        """Pages in rank order while they fit in `budget` raw tokens; at most `limit` segments."""
        state = self.state
        sources: dict[str, _Source] = {}
        spent = 0
        for hit in hits:
            source_id = hit.page.segment_id
            entry = sources.get(source_id)
            if entry is None:
                if limit is not None and len(sources) >= limit:
                    continue
                segment = state.swap.get(source_id)
                if segment is None:
                    continue
                entry = self._source(segment, state.swap.page_spans(source_id))
            if hit.page.index in entry.pages or hit.page.index >= len(entry.spans):
                continue
            before = entry.raw
            entry.pages.add(hit.page.index)
            after = self._raw_of(entry)
            if spent + after - before > budget:
                entry.pages.discard(hit.page.index)
                continue
            spent += after - before
            entry.raw = after
            entry.hits.append(hit)
            sources[source_id] = entry
        return sources, spent

    def _source(self, segment: Segment, spans: list[Page]) -> _Source:
        copy = self.state._copies.get(segment.id)
        held = set(copy.pages) if copy is not None else set()
        return _Source(segment, spans, set(held), self.state._raw(copy) if copy is not None else 0, held)

    def _raw_of(self, entry: _Source) -> int:
        return self.state._raw(self._build(entry, ""))

    def _build(self, entry: _Source, segment_id: str) -> Segment:
        source = entry.segment
        old = self.state._copies.get(source.id)
        terms = list(dict.fromkeys([*(old.match if old else []), *(t for h in entry.hits for t in h.terms)]))
        return Segment(
            Kind.RECALLED,
            excerpt(page_text(source), entry.spans, entry.pages),
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
            untrusted=source.untrusted,
        )

    # -- applying --------------------------------------------------------------------------------------

    def _apply(self, sources: dict[str, _Source], victims: list[Segment], why: str) -> list[Segment]:
        state = self.state
        entry = state._begin_undo(why)
        if victims:
            state._page_out(victims, entry)
        recalled: list[Segment] = []
        keys: list[tuple[str, int]] = []
        tokens = 0
        now = time.time()
        for source_id, chosen in sources.items():
            old = state._copies.get(source_id)
            copy = self._build(chosen, old.id if old is not None else _fresh_id(state))
            copy.last_used = now
            if old is not None:
                copy.pinned = old.pinned
                state._remove([old])
                entry.dropped.append(old)
            state._append(copy)
            entry.added.append(copy.id)
            recalled.append(copy)
            keys += [(source_id, page) for page in sorted(chosen.pages - chosen.held)]
            tokens += state.tokens_of(copy) - (state.tokens_of(old) if old is not None else 0)
        if recalled:
            state.paging.recalled(keys, tokens)
        state._push_undo(entry)
        return recalled

    def _actions(self, recalled: list[Segment], victims: list[Segment]) -> list[str]:
        state = self.state
        actions = []
        if victims:
            tokens = sum(state.tokens_of(s) for s in victims)
            actions.append(policies.describe_move("evicted", victims, tokens, "to make room for a recall"))
        if recalled:
            tokens = sum(state.tokens_of(s) for s in recalled)
            actions.append(policies.describe_move("recalled pages of", recalled, tokens, "from swap"))
        return actions


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
) -> dict[str, Any]:
    """The recall as data: what came back and why (the words that matched), and what was evicted for it."""
    by_source: dict[str, list[Hit]] = {}
    for hit in hits:
        by_source.setdefault(hit.page.segment_id, []).append(hit)
    tokens = state.tokens_of if state is not None else (lambda s: 0)
    return {
        "budget": budget,
        "tokens": spent,
        "candidates": len(hits),
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
        "evicted": [
            {"id": s.id, "kind": s.kind.value, "cell": s.execution_count, "tokens": tokens(s),
             "how": "dropped: still in swap" if s.source else "paged out to swap"}
            for s in victims
        ],
    }
