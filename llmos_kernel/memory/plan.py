"""Values the context window hands out: a Plan for one request, reports of what moved, and errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .segments import Kind

Pressure = str  # "normal" | "warning" | "acting"


class MemoryFull(Exception):
    """The request cannot fit in the usable window; the message says what to pin, evict or compact."""

    def __init__(self, message: str, *, needed: int, usable: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.usable = usable
        self.over = needed - usable


class NothingToUndo(LookupError):
    """undo() was called with no evict/compact/policy action left to revert."""


@dataclass(frozen=True)
class Region:
    """One stretch of the request: which segment, where it starts (in tokens) and how long it is."""

    kind: Kind
    label: str
    segment_id: str
    start: int
    tokens: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "label": self.label,
            "segment_id": self.segment_id,
            "start": self.start,
            "tokens": self.tokens,
        }


@dataclass
class Plan:
    """Exactly what will be sent, and how it sits in the window. `used` never exceeds `usable`.

    `used` is the sum of the regions plus the tokenizer's per-request overhead.
    """

    messages: list[dict[str, str]]
    regions: list[Region]
    used: int
    window: int
    usable: int
    free: int
    reserved_output: int
    compaction_buffer: int
    prompt_tokens: int
    cache_prefix_tokens: int
    pressure: Pressure
    actions: list[str]
    exact: bool
    tokenizer: str
    policy: str = ""
    # The page fault served for this prompt: what was recalled and why, what was evicted for it (faults.py).
    paging: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        for region in self.regions:
            by_kind[region.kind.value] = by_kind.get(region.kind.value, 0) + region.tokens
        return {
            "messages": [dict(message) for message in self.messages],
            "regions": [region.to_json() for region in self.regions],
            "by_kind": by_kind,
            "used": self.used,
            "window": self.window,
            "usable": self.usable,
            "free": self.free,
            "reserved_output": self.reserved_output,
            "compaction_buffer": self.compaction_buffer,
            "prompt_tokens": self.prompt_tokens,
            "cache_prefix_tokens": self.cache_prefix_tokens,
            "pressure": self.pressure,
            "actions": list(self.actions),
            "exact": self.exact,
            "tokenizer": self.tokenizer,
            "policy": self.policy,
            "paging": self.paging,
        }


@dataclass
class CompactReport:
    """What a compaction summarized (or, with dry_run, would summarize)."""

    segment_ids: list[str]
    tokens_before: int
    tokens_after: int = 0
    summary_id: str | None = None
    dry_run: bool = False
    actions: list[str] = field(default_factory=list)

    @property
    def saved(self) -> int:
        return self.tokens_before - self.tokens_after

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"saved": self.saved}


@dataclass
class RefitReport:
    """The window after a tokenizer or window-size change, and what had to be paged out to fit."""

    tokenizer: str
    exact: bool
    window: int
    usable: int
    used_before: int
    used_after: int
    paged_out: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    fits: bool = True
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
