"""ContextWindow: the model's context window managed like RAM.

Resident segments form an append-only log (system first, then everything in the order it arrived), so each
request is the previous one plus what was added: llama.cpp reuses its KV cache for an unchanged prefix and
hosted providers bill a cached prefix at a fraction. Only a policy step, an explicit evict/forget or a re-run
cell breaks the prefix, and the LRU policy frees a large block at once so that happens rarely.

The layers: state.py (log, counts, undo entries) <- planner.py (plan, policies, compact) <- this module
(the commands a user or the runtime issues: add, commit a turn, pin, evict, recall, undo, refit, persist).
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..words import plural
from . import documents, policies
from .plan import CompactReport, MemoryFull, NothingToUndo, Plan, RefitReport, Region
from .planner import Planner, Summarizer
from .render import snapshot
from .segments import Kind, Segment, new_segment_id
from .swap import Swap
from .taint import Taint
from .telemetry import PagingStats
from .tokenizers import Tokenizer, cache_key

LEGACY_RECALL_BUDGET = 1024  # the fixed default recall budget of sessions saved before issue 22
_EXECUTION_REF = re.compile(r"(?:in\s*)?\[?\s*(\d+)\s*\]?", re.IGNORECASE)


class ContextWindow(Planner):
    """`ContextWindow(tokenizer, window=8192, reserved_output=512, compaction_buffer=256, warn_at=0.75,
    act_at=0.90, policy="lru", swap=None)`: usable = window - reserved_output - compaction_buffer."""

    # -- growing the log -------------------------------------------------------------------------------

    def add(self, segment: Segment) -> Segment:
        """Append a segment (the only way the log grows, so the previous request stays a prefix)."""
        with self._lock:
            if segment.kind is Kind.SYSTEM:
                self.set_system(segment.text)
                return self._system or segment
            if segment.kind is Kind.PROMPT:
                raise ValueError("a prompt is passed to plan(), not added to the window")
            while segment.id in self._ids or segment.id in ("system", "prompt") or segment.id in self.swap:
                segment.id = new_segment_id()
            self._append(segment)
            return segment

    def commit_turn(
        self,
        cell_id: str | None,
        prompt: str,
        answer: str,
        *,
        interrupted: bool = False,
        execution_count: int | None = None,
        tools: list[tuple[str, str, bool]] | None = None,
    ) -> Segment:
        """Record a finished cell as a history turn, after its tool calls (label, text, untrusted) as segments
        of kind tool; a re-run cell replaces its earlier turn and calls everywhere."""
        with self._lock:
            if cell_id is not None:
                self._drop_turns_of(cell_id)
            for label, text, untrusted in tools or ():
                self.add(Segment(Kind.TOOL, text, cell_id=cell_id, execution_count=execution_count, label=label,
                                 untrusted=untrusted))
            turn = Segment(
                Kind.HISTORY,
                prompt,
                answer,
                cell_id=cell_id,
                execution_count=execution_count,
                interrupted=interrupted,
                untrusted=self.tainted,  # written by a model that read untrusted content (taint.py)
            )
            self.paging.label(execution_count)
            return self.add(turn)

    def _drop_turns_of(self, cell_id: str) -> None:
        def is_turn(segment: Segment) -> bool:
            return segment.cell_id == cell_id and (
                segment.kind in (Kind.HISTORY, Kind.TOOL) or segment.origin in (Kind.HISTORY.value, Kind.TOOL.value)
            )

        self._remove([segment for segment in self._resident_of_cell(cell_id) if is_turn(segment)])
        for segment in self.swap.by_cell(cell_id):
            if is_turn(segment):
                self.swap.remove(segment.id)
                self._drop_copy(segment.id)

    def load_document(self, path_label: str, text: str, *, untrusted: bool = True) -> Segment:
        """Pin a document; loading the same path again replaces the earlier copy, resident or swapped. A file's
        text was not typed by the user, so it is untrusted content (taint.py) unless said otherwise.

        A document too large for the window goes to swap as pages instead, and the pinned stub returned stands
        for it (its `paged` names the document): each prompt recalls the pages it needs (documents.py)."""
        with self._lock:
            self._remove([s for s in self._log if s.kind is Kind.PINNED and s.label == path_label])
            for segment in self.swap.by_label(path_label):
                if segment.kind is Kind.PINNED:
                    self.swap.remove(segment.id)
                    self._drop_copy(segment.id)
            document = Segment(Kind.PINNED, text, label=path_label, pinned=True, untrusted=untrusted)
            if documents.fits(self, self._raw(document)):
                return self.add(document)
            return self.add(documents.page(self, document))

    # -- references ------------------------------------------------------------------------------------

    def find(self, ref: str | int) -> Segment | None:
        """A segment by id, cell id, label (a document's path) or execution count (3, "3", "[3]", "In[3]").

        Resident segments win over swapped ones, and newer over older.
        """
        with self._lock:
            text = str(ref).strip()
            if text in self._ids:
                return self._ids[text]
            swapped = self.swap.get(text)
            if swapped is not None:
                return swapped
            by_cell = self._resident_of_cell(text)[::-1] or self.swap.by_cell(text)[::-1]
            if by_cell:
                return _prefer_turn(by_cell)
            by_label = [s for s in reversed(self._log) if s.label == text] or self.swap.by_label(text)[::-1]
            if by_label:
                # A path names the document (or the stub of a paged one) before a recalled excerpt of it.
                return min(by_label, key=lambda s: s.kind is Kind.RECALLED)
            match = _EXECUTION_REF.fullmatch(text)
            if match:
                count = int(match.group(1))
                by_count = [s for s in reversed(self._log) if s.execution_count == count]
                by_count = by_count or self.swap.by_execution_count(count)[::-1]
                if by_count:
                    return _prefer_turn(by_count)
            return None

    def _require(self, ref: str | int) -> Segment:
        segment = self.find(ref)
        if segment is None:
            raise LookupError(f"no segment {ref!r}: use an id, a cell id or an execution count from %memory")
        return segment

    def pin(self, ref: str | int) -> Segment:
        """Keep a segment resident whatever the policy; a swapped one is paged back in (at the end) first."""
        with self._lock:
            segment = self._require(ref)
            segment.pinned = True
            if not self.is_resident(segment):
                self.swap.remove(segment.id)
                self._drop_copy(segment.id)  # the whole segment is back: a copy of some pages would repeat it
                segment.last_used = time.time()
                self._append(segment)
            return segment

    def unpin(self, ref: str | int) -> Segment:
        with self._lock:
            segment = self._require(ref)
            segment.pinned = False
            if not self.is_resident(segment):
                self.swap.put(segment)
            return segment

    def touch(self, ref: str | int) -> Segment:
        """Mark a segment as just used (e.g. a prompt interpolated {Out[3]}), so LRU keeps it longer."""
        with self._lock:
            segment = self._require(ref)
            segment.last_used = time.time()
            if not self.is_resident(segment):
                self.swap.put(segment)
            return segment

    def evict(self, ref: str | int) -> Segment:
        """Page a resident, unpinned segment out to swap (undo() brings it back)."""
        with self._lock:
            segment = self._require(ref)
            if not self.is_resident(segment):
                raise ValueError(f"{segment.where()} [{segment.id}] is already in swap")
            if segment.pinned:
                raise ValueError(f"{segment.where()} [{segment.id}] is pinned: unpin it before evicting it")
            entry = self._begin_undo(f"evicting {segment.where()}")
            self._page_out([segment], entry, by_user=True)
            self._push_undo(entry)
            return segment

    def forget(self, ref: str | int) -> Segment:
        """Remove a segment from the window and from swap for good (this cannot be undone)."""
        with self._lock:
            segment = self._require(ref)
            self._remove([segment])
            for segment_id in filter(None, (segment.id, segment.source, segment.paged)):
                # A recalled copy's source goes too, and a paged document with its stub: "for good" means
                # everywhere.
                self.swap.remove(segment_id)
                self._drop_copy(segment_id)
            gone = {segment.id, segment.source}
            self._remove([s for s in self._log if s.paged and s.paged in gone])  # a stub of nothing would mislead
            return segment

    def recall(self, query: str, budget_tokens: int | None = None, limit: int = 3) -> list[Segment]:
        """Page the best-matching swapped pages for `query` back in, as RECALLED copies before the next prompt.

        At most `limit` swapped segments, within `budget_tokens` and the free room; nothing is evicted.
        """
        with self._lock:
            room = self.usable - self.used
            budget = room if budget_tokens is None else min(budget_tokens, room)
            return self.pager.recall(query, budget, limit)

    def page_in(self, ref: str | int) -> Segment:
        """Bring every page of one swapped segment (by id, cell id or cell number) back in, if it fits."""
        with self._lock:
            segment = self.find(ref)
            if segment is not None and segment.source and segment.source in self.swap:
                segment = self.swap.get(segment.source)  # a partial copy: recall the rest of its source
            if segment is None or self.is_resident(segment):
                raise LookupError(f"no swapped segment {ref!r}: only paged-out segments can be recalled")
            copy = self.pager.whole(segment, self.usable - self.used)
            if copy is None:
                spans = self.swap.page_spans(segment.id)
                raise MemoryFull(
                    f"recalling {segment.id} ({len(spans)} pages) needs more than the"
                    f" {self.usable - self.used:,} tokens that are free",
                    needed=self.used + self.tokens_of(segment),
                    usable=self.usable,
                )
            return copy

    # -- undo ------------------------------------------------------------------------------------------

    def undo(self) -> str:
        """Restore the state before the last evict/compact/policy action; returns what came back."""
        with self._lock:
            if not self._undo:
                raise NothingToUndo("nothing to undo: no evict, compact or policy action to revert")
            entry = self._undo.pop()
            self._remove([self._ids[i] for i in entry.added if i in self._ids])
            for segment_id in entry.added:
                self.swap.remove(segment_id)
            restored = [s for s in (self.swap.take(i) for i in entry.moved_out) if s is not None]
            # A let-go copy comes back only while its source is still in swap (a re-run cell drops both).
            restored += [s for s in entry.dropped
                         if s.id not in self._ids and s.source not in self._copies and s.source in self.swap]
            # Back to the old order; anything added since the action keeps its place after it.
            position = {segment_id: index for index, segment_id in enumerate(entry.order)}
            before = sorted(
                (s for s in self._log + restored if s.id in position), key=lambda s: position[s.id]
            )
            self._replace_log(before + [s for s in self._log if s.id not in position])
            tokens = sum(self.tokens_of(segment) for segment in restored)
            note = f"undid {entry.description}: restored {plural(len(restored), 'segment')} ({plural(tokens, 'token')})"
            return note + (" and removed the summary" if entry.added else "")

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    # -- refit -----------------------------------------------------------------------------------------

    def set_tokenizer(self, tokenizer: Tokenizer) -> RefitReport:
        return self.refit(tokenizer=tokenizer)

    def set_window(self, window: int) -> RefitReport:
        return self.refit(window=window)

    def refit(
        self,
        tokenizer: Tokenizer | None = None,
        window: int | None = None,
        *,
        summarize: Summarizer | None = None,
        dry_run: bool = False,
    ) -> RefitReport:
        """Re-count for a new tokenizer and/or window size; page out (or preview) what no longer fits."""
        with self._lock:
            if window is not None:
                self._check_window(window)
            old = (self.tokenizer, self.window)
            used_before = self.used
            self.tokenizer = tokenizer or self.tokenizer
            self.window = window or self.window
            self._recount()
            report = RefitReport(
                self.tokenizer.name,
                bool(self.tokenizer.exact),
                self.window,
                self.usable,
                used_before,
                self.used,
            )
            report.dry_run = dry_run
            try:
                # A smaller window: a pinned document that leaves no room for a prompt is paged, not blocking.
                room = self._raw_limit(documents.ROOM * self.usable)
                if not dry_run:
                    report.actions += documents.page_resident(self, room)
                elif not documents.fits(self, prompt_raw=room):
                    report.actions.append("would page pinned documents that no longer fit to swap")
                if self._over(0, self.act_at * self.usable):
                    self._refit_policy(report, summarize, dry_run)
                if not dry_run:
                    report.used_after = self.used
                report.fits = report.used_after <= self.usable
            finally:
                if dry_run:
                    self.tokenizer, self.window = old
                    self._recount()
            if not dry_run and cache_key(old[0]) != cache_key(self.tokenizer):
                self._last = None  # another model's KV cache: nothing carries over
            return report

    def _refit_policy(self, report: RefitReport, summarize: Summarizer | None, dry_run: bool) -> None:
        if self.policy == "strict":
            over = self.used - int(self.act_at * self.usable)
            report.actions.append(
                f"strict policy: nothing paged out; {over:,} tokens over the action threshold, so evict or"
                " compact before the next cell"
            )
            return
        if not dry_run:
            actions, entry = self._apply_policy(0, summarize)
            report.actions += actions
            report.paged_out = list(entry.moved_out)
            return
        excess = self._raw_used() - self._raw_limit(self.evict_to * self.usable)
        if self.policy == "compact" and summarize is not None:
            victims = policies.compaction_candidates(self._log, self._raw, excess, keep_last=1)
            verb = "would summarize"
        else:
            victims = policies.lru_victims(self._log, self._raw, excess)
            verb = "would page out"
        freed = sum(self._raw(segment) for segment in victims)
        report.paged_out = [segment.id for segment in victims]
        report.used_after = self._scaled(self._raw_used() - freed)
        if victims:
            report.actions.append(
                policies.describe_move(verb, victims, sum(self.tokens_of(s) for s in victims), "")
            )

    # -- persistence and views -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The full resident state, JSON-safe (swap persists itself; the undo history is not kept)."""
        with self._lock:
            return {
                "version": 1,
                "window": self.window,
                "reserved_output": self.reserved_output,
                "compaction_buffer": self.compaction_buffer,
                "warn_at": self.warn_at,
                "act_at": self.act_at,
                "policy": self.policy,
                "evict_to": self.evict_to,
                "auto_recall": self.auto_recall,
                # None: the default, which grows with the window; a number: the user's --budget.
                "auto_recall_budget": self.recall_budget_set,
                "auto_recall_budget_by_user": self.recall_budget_set is not None,
                "paging": self.paging.to_state(),
                "last_recall": self.pager.last,
                "taint": self.taint.to_state(),
                "system": self.system or None,
                "segments": [segment.to_dict() for segment in self._log],
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any], tokenizer: Tokenizer, swap: Swap | None = None) -> ContextWindow:
        window = cls(
            tokenizer,
            window=int(data["window"]),
            reserved_output=int(data["reserved_output"]),
            compaction_buffer=int(data["compaction_buffer"]),
            warn_at=float(data["warn_at"]),
            act_at=float(data["act_at"]),
            policy=str(data["policy"]),
            swap=swap,
        )
        window.evict_to = float(data.get("evict_to", window.evict_to))
        window.auto_recall = bool(data.get("auto_recall", window.auto_recall))
        window.recall_budget_set = _saved_budget(data)
        window.paging = PagingStats.from_state(data.get("paging"))
        window.pager.last = data.get("last_recall")
        window.taint = Taint.from_state(data.get("taint"))
        window.set_system(data.get("system"))
        window._replace_log([Segment.from_dict(item) for item in data.get("segments", [])])
        return window

    def snapshot(self) -> dict[str, Any]:
        """A JSON-safe picture of the window (resident and swapped segments) for the panel and persistence."""
        with self._lock:
            return snapshot(self)


def _saved_budget(data: dict[str, Any]) -> int | None:
    """The user's recall budget in a saved window, or None for the default. Sessions saved before the budget
    grew with the window always stored a number: their 1,024 was that era's default, anything else was set."""
    budget = data.get("auto_recall_budget")
    if budget is None:
        return None
    if "auto_recall_budget_by_user" not in data and int(budget) == LEGACY_RECALL_BUDGET:
        return None
    return int(budget)


def _prefer_turn(candidates: list[Segment]) -> Segment:
    for segment in candidates:
        if segment.kind in (Kind.HISTORY, Kind.RECALLED):
            return segment
    return candidates[0]


__all__ = [
    "CompactReport",
    "ContextWindow",
    "MemoryFull",
    "NothingToUndo",
    "Plan",
    "RefitReport",
    "Region",
    "Summarizer",
]
