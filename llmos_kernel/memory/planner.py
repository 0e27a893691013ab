"""Planning a request: lay out what fits, apply the policy under pressure, compact on demand.

The layout (messages and regions of system + log) is cached and only extended while the log is only appended
to, which it is between policy steps; a plan then costs the prompt's tokenization plus a list copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import documents, policies
from .plan import CompactReport, MemoryFull, Plan, Region
from .segments import Kind, Segment, new_segment_id
from .state import UndoEntry, WindowState
from .taint import any_untrusted
from .tokenizers import cache_key, raw_counter, scale_of

Summarizer = Callable[[list[Segment], str | None], str]


class _Layout:
    """Messages and regions of the system prompt plus the first `included` log segments."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.messages: list[dict[str, str]] = []
        self.regions: list[Region] = []
        self.spans: list[int] = []  # messages per region, to compare prefixes region by region
        self.end = 0
        self.included = 0

    def add(self, segment: Segment, tokens: int) -> None:
        messages = segment.messages()
        self.messages.extend(messages)
        self.spans.append(len(messages))
        label = "system" if segment.kind is Kind.SYSTEM else segment.where()
        self.regions.append(Region(segment.kind, label, segment.id, self.end, tokens))
        self.end += tokens


@dataclass
class _LastPlan:
    messages: list[dict[str, str]]
    prompt_tokens: int
    key: str
    layout: _Layout
    layout_messages: int  # how many of `messages` came from `layout` (all but the prompt)
    layout_end: int


def _same(a: dict[str, str], b: dict[str, str]) -> bool:
    # Identity first: unchanged segments hand out the very same cached message objects.
    return a is b or (a["role"] == b["role"] and a["content"] == b["content"])


class Planner(WindowState):
    # Planning state starts empty; class-level defaults keep WindowState's constructor the only one.
    _layout: _Layout | None = None
    _last: _LastPlan | None = None
    last_plan: Plan | None = None
    cache_prefix_tokens: int = 0

    # -- the plan --------------------------------------------------------------------------------------

    def plan(self, prompt: str, *, apply_policy: bool = True, summarize: Summarizer | None = None) -> Plan:
        """The messages to send for `prompt`, within the usable window; applies the policy under pressure.

        Raises MemoryFull when even after the policy (or without it) the request cannot fit. With
        apply_policy=False the plan is a preview (e.g. `%context --json`): it changes nothing, not even the
        request that the next plan's cache prefix is measured against.
        """
        with self._lock:
            prompt_segment = Segment(Kind.PROMPT, prompt, id="prompt")
            prompt_raw = self._raw(prompt_segment)
            actions: list[str] = []
            acted = False
            if apply_policy:
                self.paging.begin_cell()
                self.pager.last = None
            if apply_policy and self._over(prompt_raw, self.act_at * self.usable):
                if self._scaled(self._floor_raw(prompt_raw)) > self.usable and self.policy != "strict":
                    # Pinned documents that leave no room for this prompt are paged instead (documents.py) ...
                    actions += documents.page_resident(self, prompt_raw)
                if self._scaled(self._floor_raw(prompt_raw)) > self.usable:
                    raise self._memory_full(prompt_raw)  # ... else hopeless: fail before moving anything else
                moved, _ = self._apply_policy(prompt_raw, summarize)
                actions += moved
                acted = bool(moved)
            paged = documents.paged_sources(self) if apply_policy and not self.auto_recall else set()
            if apply_policy and (self.auto_recall or paged):
                # After the policy step: a recall evicts (only what it needs) to stay below the action
                # threshold, so it never sets off a policy step of its own. With auto recall off, a paged
                # document's pages are still recalled: its stub promises so.
                actions += self.pager.fault(prompt, prompt_raw, None if self.auto_recall else paged)
            used = self._scaled(self._raw_used(prompt_raw))
            if used > self.usable:
                raise self._memory_full(prompt_raw)
            layout = self._current_layout()
            prompt_tokens = self._scaled(prompt_raw)
            messages = [*layout.messages, *prompt_segment.messages()]
            regions = [*layout.regions, Region(Kind.PROMPT, "prompt", "prompt", layout.end, prompt_tokens)]
            cache_prefix = self._cache_prefix(layout, messages, regions)
            plan = Plan(
                # Copies: a caller (or a provider library) mutating a message must not corrupt the cache.
                messages=list(map(dict.copy, messages)),
                regions=regions,
                used=used,
                window=self.window,
                usable=self.usable,
                free=self.usable - used,
                reserved_output=self.reserved_output,
                compaction_buffer=self.compaction_buffer,
                prompt_tokens=prompt_tokens,
                cache_prefix_tokens=cache_prefix,
                pressure=self._pressure(used, acted),
                actions=actions,
                exact=bool(self.tokenizer.exact),
                tokenizer=self.tokenizer.name,
                policy=self.policy,
                paging=self.pager.last if apply_policy else None,
            )
            if apply_policy:
                self.cache_prefix_tokens = cache_prefix
                self._last = _LastPlan(
                    messages,
                    prompt_tokens,
                    cache_key(self.tokenizer),
                    layout,
                    len(layout.messages),
                    layout.end,
                )
                self.last_plan = plan
            return plan

    def _floor_raw(self, prompt_raw: int) -> int:
        """Raw tokens of the request with every unpinned segment paged out: the least any policy can reach."""
        movable = policies.PAGEABLE | policies.LAST_RESORT
        freeable = sum(self._raw(s) for s in self._log if s.kind in movable and not s.pinned)
        return self._raw_used(prompt_raw) - freeable

    def _over(self, prompt_raw: int, tokens: float) -> bool:
        return self._scaled(self._raw_used(prompt_raw)) > tokens

    def _pressure(self, used: int, acted: bool = False) -> str:
        if acted or used > self.act_at * self.usable:
            return "acting"
        if used >= self.warn_at * self.usable:
            return "warning"
        return "normal"

    @property
    def pressure(self) -> str:
        return self._pressure(self.used)

    def regions(self) -> list[Region]:
        """The resident context as regions (system, then the log), without a prompt."""
        with self._lock:
            return list(self._current_layout().regions)

    def _current_layout(self) -> _Layout:
        scale = scale_of(self.tokenizer)
        layout = self._layout
        if layout is None or self._layout_dirty or layout.scale != scale:
            layout = self._layout = _Layout(scale)
            if self._system is not None:
                layout.add(self._system, self.tokens_of(self._system))
            if self._tools is not None:
                layout.add(self._tools, self.tokens_of(self._tools))
            self._layout_dirty = False
        for segment in self._log[layout.included :]:
            layout.add(segment, self.tokens_of(segment))
        layout.included = len(self._log)
        return layout

    def _cache_prefix(self, layout: _Layout, messages: list[dict[str, str]], regions: list[Region]) -> int:
        """Tokens at the start of this request that are identical to the previous request's."""
        last = self._last
        if last is None or last.key != cache_key(self.tokenizer):
            return 0
        previous = last.messages
        if last.layout is layout:
            # The layout was only extended since the last plan: its old part is unchanged by construction,
            # so only the message after it (the previous prompt, now usually a turn's user half) is compared.
            boundary = last.layout_messages
            same_next = boundary < len(messages) and _same(messages[boundary], previous[boundary])
            return last.layout_end + (last.prompt_tokens if same_next else 0)
        index = total = 0
        for region, span in zip(regions, [*layout.spans, 1], strict=True):
            matched = 0
            while (
                matched < span
                and index + matched < len(previous)
                and _same(messages[index + matched], previous[index + matched])
            ):
                matched += 1
            if matched == span:
                total += region.tokens
                index += span
                continue
            if matched == 1 and index + 1 == len(previous):
                total += last.prompt_tokens  # the previous prompt, now the user half of its history turn
            elif matched:
                count, per_message = raw_counter(self.tokenizer), self.tokenizer.per_message
                raw = sum(count(m["content"]) + per_message for m in messages[index : index + matched])
                total += self._scaled(raw)
            break
        return total

    # -- policies --------------------------------------------------------------------------------------

    def _apply_policy(self, prompt_raw: int, summarize: Summarizer | None) -> tuple[list[str], UndoEntry]:
        entry = self._begin_undo(f"the {self.policy} policy step")
        actions: list[str] = []
        if self.policy == "strict":
            return actions, entry  # strict never moves anything by itself; plan() raises if it cannot fit
        if self.policy == "compact":
            actions += self._auto_compact(prompt_raw, summarize, entry)
        if self.policy == "lru" or self._over(prompt_raw, self.act_at * self.usable):
            actions += self._evict_down_to(prompt_raw, self.evict_to * self.usable, policies.PAGEABLE, entry)
        if self._over(prompt_raw, self.usable):
            actions += self._evict_down_to(prompt_raw, self.usable, policies.LAST_RESORT, entry)
        self._push_undo(entry)
        return actions, entry

    def _evict_down_to(
        self, prompt_raw: int, target: float, kinds: frozenset[Kind], entry: UndoEntry
    ) -> list[str]:
        excess = self._raw_used(prompt_raw) - self._raw_limit(target)
        victims = policies.lru_victims(self._log, self._raw, excess, kinds)
        if not victims:
            return []
        tokens = sum(self.tokens_of(segment) for segment in victims)
        cleared = {s.id: policies.cleared_marker(s, self.tokens_of(s)) for s in victims if s.kind is Kind.TOOL}
        if cleared:
            # Tool results go first, and each leaves a one-line marker in its place: the model still knows a
            # call happened and can recall its result (Anthropic's "clear tool results", as paging).
            gone = {s.id for s in victims}
            kept = [cleared.get(s.id, s) for s in self._log if s.id in cleared or s.id not in gone]
            self._page_out(victims, entry)
            self._replace_log(kept)
            entry.added += [marker.id for marker in cleared.values()]
        else:
            self._page_out(victims, entry)
        verb = "cleared tool results and paged out" if cleared else "paged out"
        return [policies.describe_move(verb, victims, tokens)]

    def _auto_compact(self, prompt_raw: int, summarize: Summarizer | None, entry: UndoEntry) -> list[str]:
        if summarize is None:
            return ["the compact policy had no summarizer for this cell, so it paged out instead"]
        excess = self._raw_used(prompt_raw) - self._raw_limit(self.evict_to * self.usable)
        label = str(getattr(summarize, "label", ""))
        try:
            report = self._compact(summarize, None, excess=excess, keep_last=1, label=label, entry=entry)
        except Exception as error:
            # A failing summarizer (its model is down, say) must not fail the cell: page out instead.
            return [f"compaction failed ({error}); paged out instead"]
        return report.actions if report.summary_id else []

    def compact(
        self,
        summarize: Summarizer,
        focus: str | None = None,
        dry_run: bool = False,
        *,
        keep_last: int = 2,
        label: str = "",
    ) -> CompactReport:
        """Summarize the unpinned conversation except the newest `keep_last` turns; originals go to swap."""
        with self._lock:
            entry = self._begin_undo("compact")
            report = self._compact(
                summarize, focus, excess=None, keep_last=keep_last, label=label, entry=entry, dry_run=dry_run
            )
            self._push_undo(entry)
            return report

    def _compact(
        self,
        summarize: Summarizer,
        focus: str | None,
        *,
        excess: int | None,
        keep_last: int,
        label: str,
        entry: UndoEntry,
        dry_run: bool = False,
    ) -> CompactReport:
        chosen = policies.compaction_candidates(self._log, self._raw, excess, keep_last)
        if all(segment.kind is Kind.SUMMARY for segment in chosen):
            chosen = []  # re-summarizing a lone summary gains nothing and loses detail
        before = sum(self.tokens_of(segment) for segment in chosen)
        report = CompactReport([segment.id for segment in chosen], before, dry_run=dry_run)
        if not chosen:
            report.actions.append("nothing to compact: no unpinned turns outside the newest ones")
            return report
        if dry_run:
            report.actions.append(policies.describe_move("would summarize", chosen, before, ""))
            return report
        text = summarize(list(chosen), focus)
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the summarizer returned no text")
        # A summary repeats what it read: of untrusted segments, it is untrusted (taint.py).
        summary = Segment(Kind.SUMMARY, text.strip(), label=label, untrusted=any_untrusted(chosen))
        while summary.id in self._ids or summary.id in self.swap:
            summary.id = new_segment_id()
        position = next(i for i, segment in enumerate(self._log) if segment.id == chosen[0].id)
        self._page_out(chosen, entry)
        # In place of the oldest compacted segment: everything before it is untouched, so stays a prefix.
        self._insert(position, summary)
        entry.added.append(summary.id)
        report.summary_id = summary.id
        report.tokens_after = self.tokens_of(summary)
        report.actions.append(
            f"compacted {len(chosen)} segments ({before:,} tokens) into a summary of {report.tokens_after:,}"
            " tokens; the originals moved to swap"
        )
        return report

    # -- errors ----------------------------------------------------------------------------------------

    def _memory_full(self, prompt_raw: int) -> MemoryFull:
        needed = self._scaled(self._raw_used(prompt_raw))
        usable = self.usable
        prompt_tokens = self._scaled(prompt_raw)
        lines = [
            f"Context window full: this request needs {needed:,} tokens but only {usable:,} fit"
            f" (window {self.window:,} - {self.reserved_output:,} reserved for the answer"
            f" - {self.compaction_buffer:,} compaction buffer): {needed - usable:,} tokens over."
        ]
        largest = sorted(self._log, key=self._raw, reverse=True)[:3]
        named = ", ".join(
            f"{s.where()} [{s.id}] {self.tokens_of(s):,} tokens{' (pinned)' if s.pinned else ''}"
            for s in largest
        )
        if prompt_tokens > usable:
            lines.append(
                f"The prompt alone is {prompt_tokens:,} tokens: shorten it or use a larger-window model."
            )
        elif self.policy == "strict":
            lines.append(
                "The strict policy never pages out by itself: free room with %evict ID, %compact or"
                " %forget ID, or switch to the lru or compact policy."
            )
        else:
            floor = self._scaled(self._floor_raw(prompt_raw))
            lines.append(
                f"Even with every unpinned segment paged out, the prompt, pinned content and system prompt"
                f" need {floor:,} tokens: %unpin or %forget a pinned document, or use a larger-window model."
            )
        if named:
            lines.append(f"Largest resident segments: {named}.")
        return MemoryFull(" ".join(lines), needed=needed, usable=usable)
