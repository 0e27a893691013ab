"""The resident state of a context window: configuration, the segment log, cached counts and undo entries.

Counting works in "raw" tokens: exact tokenizers have scale 1, an estimating tokenizer counts raw tokens and
multiplies by its calibration factor only when a total is reported. A running total of the resident log is
kept, so nothing here ever re-tokenizes text that was counted before with the same tokenizer.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import policies
from .faults import Pager, recall_budget
from .pages import page_text, split_pages
from .recall import RecallOptions
from .segments import Kind, Segment, new_segment_id
from .swap import Swap
from .taint import Taint, reason_of
from .taint import report as taint_report
from .telemetry import PagingStats
from .tokenizers import Tokenizer, cache_key, raw_counter, scale_of

_UNDO_DEPTH = 32


@dataclass
class UndoEntry:
    """Enough to put back what one evict/compact/policy action moved, keeping anything added since."""

    description: str
    order: list[str]
    moved_out: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    dropped: list[Segment] = field(default_factory=list)  # recalled copies let go: their source is in swap


class WindowState:
    def __init__(
        self,
        tokenizer: Tokenizer,
        window: int = 8192,
        reserved_output: int = 512,
        compaction_buffer: int = 256,
        warn_at: float = 0.75,
        act_at: float = 0.90,
        policy: str = "lru",
        swap: Swap | None = None,
    ) -> None:
        if not 0 < warn_at <= act_at <= 1:
            raise ValueError(f"need 0 < warn_at <= act_at <= 1, got warn_at={warn_at}, act_at={act_at}")
        self.tokenizer = tokenizer
        self.reserved_output = reserved_output
        self.compaction_buffer = compaction_buffer
        self._check_window(window)
        self.window = window
        self.warn_at = warn_at
        self.act_at = act_at
        self.policy = policy
        self.swap = swap if swap is not None else Swap()
        self.auto_recall = True
        self.recall_budget_set: int | None = None  # the user's --budget; None: the budget grows with the window
        self.recall_options = RecallOptions()
        self.protect_newest = 2  # history turns a recall never evicts
        self.paging = PagingStats()
        self.pager = Pager(self)
        self.taint = Taint()  # sticky: see taint.py
        # LRU frees down to this fraction of usable in one step, so the prefix survives many cells after it.
        self.evict_to = 0.5
        self._lock = threading.RLock()
        self._system: Segment | None = None
        self._tools: Segment | None = None  # tool definitions of the running cell, when it may call tools
        self._log: list[Segment] = []
        self._ids: dict[str, Segment] = {}
        self._cells: dict[str, dict[str, Segment]] = {}  # cell_id -> resident segments: re-runs skip a scan
        self._copies: dict[str, Segment] = {}  # swapped segment id -> its resident recalled copy
        self._total = 0  # raw tokens of the resident log under the current tokenizer
        self._undo: list[UndoEntry] = []
        # Set whenever the log changes other than by appending: the planner then rebuilds its layout cache.
        self._layout_dirty = True

    # -- configuration ---------------------------------------------------------------------------------

    @property
    def policy(self) -> str:
        return self._policy

    @policy.setter
    def policy(self, value: str) -> None:
        if value not in policies.POLICIES:
            raise ValueError(f"unknown policy {value!r}: choose one of {', '.join(policies.POLICIES)}")
        self._policy = value

    @property
    def auto_recall_budget(self) -> int:
        """The recall budget per prompt: the user's (before the RECALL_SHARE ceiling), else the default, a
        share of the usable window; `recall_budget` is what applies. Setting None goes back to the default."""
        if self.recall_budget_set is not None:
            return self.recall_budget_set
        return recall_budget(self.usable, None)

    @auto_recall_budget.setter
    def auto_recall_budget(self, tokens: int | None) -> None:
        self.recall_budget_set = None if tokens is None else int(tokens)

    @property
    def recall_budget(self) -> int:
        """Tokens one prompt's recall may bring back now (faults.recall_budget)."""
        return recall_budget(self.usable, self.recall_budget_set)

    @property
    def usable(self) -> int:
        return self.window - self.reserved_output - self.compaction_buffer

    def _check_window(self, window: int) -> None:
        if window - self.reserved_output - self.compaction_buffer <= 0:
            raise ValueError(
                f"a window of {window} tokens leaves no room after {self.reserved_output} reserved for the"
                f" answer and a {self.compaction_buffer}-token compaction buffer"
            )

    # -- counting --------------------------------------------------------------------------------------

    def _raw(self, segment: Segment) -> int:
        """Raw tokens of a segment's messages, from its cache when counted before with this tokenizer."""
        key = cache_key(self.tokenizer)
        tokens = segment.tokens.get(key)
        if tokens is None:
            count, per_message = raw_counter(self.tokenizer), self.tokenizer.per_message
            tokens = sum(count(text) + per_message for text in segment.counted_texts())
            segment.tokens[key] = tokens
        return tokens

    def _scaled(self, raw: float) -> int:
        scale = scale_of(self.tokenizer)
        return int(raw) if scale == 1.0 else math.ceil(raw * scale - 1e-9)

    def _raw_limit(self, tokens: float) -> int:
        """The largest raw count whose scaled value stays within `tokens`."""
        return math.floor(tokens / scale_of(self.tokenizer) + 1e-9)

    def _raw_used(self, prompt_raw: int = 0) -> int:
        system = self._raw(self._system) if self._system else 0
        tools = self._raw(self._tools) if self._tools else 0
        return system + tools + self._total + prompt_raw + self.tokenizer.per_request

    def _recount(self) -> None:
        self._total = sum(self._raw(segment) for segment in self._log)
        self._layout_dirty = True

    @property
    def used(self) -> int:
        """Tokens the resident context costs now, without the next prompt."""
        return self._scaled(self._raw_used())

    @property
    def free(self) -> int:
        return max(self.usable - self.used, 0)

    def tokens_of(self, segment: Segment) -> int:
        """A segment's tokens under the current tokenizer (counted once, then cached on the segment)."""
        return self._scaled(self._raw(segment))

    # -- the log ---------------------------------------------------------------------------------------

    @property
    def segments(self) -> list[Segment]:
        """Resident segments in request order (the system prompt is separate: see `system`)."""
        return list(self._log)

    @property
    def system(self) -> str:
        return self._system.text if self._system else ""

    @property
    def system_segment(self) -> Segment | None:
        return self._system

    def set_system(self, text: str | None) -> None:
        with self._lock:
            self._system = Segment(Kind.SYSTEM, text, id="system", label="system") if text else None
            self._layout_dirty = True

    @property
    def tools_segment(self) -> Segment | None:
        return self._tools

    def set_tools(self, text: str | None, names: list[str] | None = None, *, from_servers: bool = False) -> None:
        """The tool definitions the next requests carry (None: no tools); counted like any resident text.
        ``from_servers``: some were written by an MCP server, so they are untrusted content (taint.py)."""
        with self._lock:
            current = self._tools.text if self._tools else None
            if text == current:
                return
            label = f"{len(names or [])} tool definitions"
            self._tools = Segment(Kind.TOOLS, text, id="tools", label=label) if text else None
            if self._tools is not None and self.taint.definitions_untrusted(self._tools.text, from_servers):
                self._tools.untrusted = True
                self.taint.mark(reason_of(self._tools))
            self._layout_dirty = True

    @property
    def tainted(self) -> bool:
        """Untrusted content (from a file, a tool or an MCP server) entered the window since the user last
        cleared the taint; evicting it does not clear it (taint.py)."""
        return bool(self.taint) or any(segment.untrusted for segment in self._log)

    def taint_report(self) -> dict[str, Any]:
        return taint_report(self.tainted, self.taint, self.swap.untrusted_count())

    def trust(self) -> list[str]:
        """The user vouches for what is resident now: the session's taint is cleared (swap keeps its marks)."""
        with self._lock:
            definitions = self._tools.text if self._tools is not None else None
            resident = self._log + ([self._tools] if self._tools is not None else [])
            cleared = self.taint.clear(resident, definitions)
            self._layout_dirty = True
            return cleared

    def is_resident(self, segment: Segment) -> bool:
        return segment.id in self._ids

    def _index(self, segment: Segment) -> None:
        while self._id_taken(segment):
            segment.id = new_segment_id()  # a random id collided: ids must name exactly one segment
        self._ids[segment.id] = segment
        if segment.untrusted:  # every way into the window passes here: the taint sticks until trusted
            self.taint.mark(reason_of(segment))
        if segment.source:
            self._copies[segment.source] = segment
        if segment.cell_id is not None:
            self._cells.setdefault(segment.cell_id, {})[segment.id] = segment
        self._total += self._raw(segment)

    def _id_taken(self, segment: Segment) -> bool:
        other = self._ids.get(segment.id)
        if other is None:
            other = self.swap.get(segment.id)
            return other is not None and other.created != segment.created  # a page-in of itself is no clash
        return other is not segment

    def _append(self, segment: Segment) -> None:
        self._log.append(segment)
        self._index(segment)

    def _insert(self, position: int, segment: Segment) -> None:
        self._log.insert(position, segment)
        self._index(segment)
        self._layout_dirty = True

    def _replace_log(self, segments: list[Segment]) -> None:
        self._log, self._ids, self._cells, self._copies, self._total = [], {}, {}, {}, 0
        for segment in segments:
            self._append(segment)
        self._layout_dirty = True

    def _remove(self, doomed: Iterable[Segment]) -> None:
        ids = {segment.id for segment in doomed} & self._ids.keys()
        if not ids:
            return
        for segment_id in ids:
            segment = self._ids.pop(segment_id)
            self._total -= self._raw(segment)
            if segment.source and self._copies.get(segment.source) is segment:
                del self._copies[segment.source]
            if segment.cell_id is not None:
                cell = self._cells[segment.cell_id]
                del cell[segment_id]
                if not cell:
                    del self._cells[segment.cell_id]
        self._log = [segment for segment in self._log if segment.id not in ids]
        self._layout_dirty = True

    def _resident_of_cell(self, cell_id: str) -> list[Segment]:
        return list(self._cells.get(cell_id, {}).values())

    def _page_out(self, segments: list[Segment], entry: UndoEntry, by_user: bool = False) -> None:
        """Move segments out of the window. A recalled copy whose source is still in swap is only let go (a
        clean page); anything else is written to swap first, so nothing is ever lost."""
        clean = [s for s in segments if s.source and s.source in self.swap]
        clean_ids = {s.id for s in clean}
        dirty = [s for s in segments if s.id not in clean_ids]
        self.swap.put_many(dirty)
        entry.moved_out += [segment.id for segment in dirty]
        entry.dropped += clean
        self._remove(segments)
        pages = [(s.source, page) for s in clean for page in s.pages]
        pages += [(s.id, page) for s in dirty for page in range(len(split_pages(page_text(s), self.swap.page_chars)))]
        self.paging.evicted(pages, by_user)

    def _drop_copy(self, source_id: str) -> None:
        copy = self._copies.get(source_id)
        if copy is not None:
            self._remove([copy])

    # -- undo ------------------------------------------------------------------------------------------

    def _begin_undo(self, description: str) -> UndoEntry:
        return UndoEntry(description, order=[segment.id for segment in self._log])

    def _push_undo(self, entry: UndoEntry) -> None:
        if entry.moved_out or entry.added or entry.dropped:
            self._undo.append(entry)
            del self._undo[:-_UNDO_DEPTH]
