"""Taint: content from outside the user's own typing, and how its mark follows whatever is made from it.

Sources of untrusted content: a tool whose results taint (a file, a folder listing, an MCP server's or a user
tool's output), a ``%load``ed file, and the tool definitions an MCP server wrote (its descriptions reach the
model like any text). Derived content carries the mark too, because an injection survives being repeated:

- what the model writes while the session is tainted: its answer (the cell's history segment), a ``remember``
  note, a summary of tainted segments;
- a recalled or paged-in copy of an untrusted segment, and the ``recall`` tool's result when it quotes one;
- a segment keeps its mark in swap and in the session store, so a page-in later re-taints the session.

The session's taint is sticky: it is a list of reasons that only grows while untrusted content arrives, and
evicting or forgetting the content does not shrink it (what the model read may live on in its answers, notes
or the user's variables). Only the user clears it (``%tools trust``): that vouches for what is resident now
(resident segments lose their mark, the tool definitions sent now are remembered as vouched for) and leaves
swapped segments marked, so paging one back in taints the session again.

Pure: no kernel, no I/O. The window (state.py) calls ``mark`` whenever an untrusted segment becomes resident.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .segments import Kind, Segment

MAX_REASONS = 12  # the first ones say the most; beyond them the list only says there were more
REASON_CHARS = 60


class Untrusted(str):
    """A tool result that quotes untrusted content (e.g. ``recall`` of a tainted page): the tool loop marks
    its call untrusted, as it does for every result of a tool whose results always taint."""

    __slots__ = ()


def is_untrusted(result: object) -> bool:
    return isinstance(result, Untrusted)


def any_untrusted(segments: Iterable[Segment]) -> bool:
    """Whether content made from these segments (a summary, a recall's text) is untrusted."""
    return any(segment.untrusted for segment in segments)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def reason_of(segment: Segment) -> str:
    """A short, kernel-written name for why a segment taints: its kind and where it came from (never its
    text, which is the untrusted part)."""
    if segment.kind is Kind.TOOLS:
        what = "tool definitions from an MCP server"
    elif segment.kind is Kind.TOOL:
        what = f"result of {segment.label or 'a tool'}"
    elif segment.kind is Kind.PINNED:
        what = f"pinned {segment.label or 'note'}"
    elif segment.kind is Kind.RECALLED:
        what = f"recalled copy of {segment.source or segment.id}"
    elif segment.kind is Kind.HISTORY:
        what = "an answer written while tainted"
    else:
        what = f"{segment.kind.value} {segment.id}"
    where = f" (cell {segment.execution_count})" if segment.execution_count is not None else ""
    text = " ".join((what + where).split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


@dataclass
class Taint:
    """The session's sticky taint: why it is tainted (empty: it is not), and the tool definitions the user
    vouched for (by digest: a server that changes its descriptions taints again)."""

    reasons: list[str] = field(default_factory=list)
    more: bool = False  # there were reasons beyond MAX_REASONS (a flag: marking twice must change nothing)
    vouched: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.reasons)

    def mark(self, reason: str) -> None:
        if reason in self.reasons:
            return
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)
        else:
            self.more = True

    def clear(self, resident: Iterable[Segment], definitions: str | None = None) -> list[str]:
        """The user vouches for what is resident now; returns the reasons that were cleared."""
        cleared = self.describe()
        for segment in resident:
            segment.untrusted = False
        if definitions:
            self.vouched.add(digest(definitions))
        self.reasons, self.more = [], False
        return cleared

    def definitions_untrusted(self, text: str, from_servers: bool) -> bool:
        """Tool definitions taint when a server wrote some of them, unless the user vouched for this text."""
        return from_servers and digest(text) not in self.vouched

    def describe(self) -> list[str]:
        return self.reasons + (["and more"] if self.more else [])

    def to_state(self) -> dict[str, Any]:
        return {"reasons": list(self.reasons), "more": self.more, "vouched": sorted(self.vouched)}

    @classmethod
    def from_state(cls, data: Any) -> Taint:
        if not isinstance(data, dict):
            return cls()
        return cls([str(r) for r in data.get("reasons") or []][:MAX_REASONS], bool(data.get("more")),
                   {str(v) for v in data.get("vouched") or []})


def report(tainted: bool, taint: Taint, swapped: int) -> dict[str, Any]:
    """The session's taint as %tools, %ps, %context --json and the panel show it (one source, so they agree):
    whether tools with side effects ask, why, and how many swapped segments would taint it again."""
    return {"tainted": tainted, "reasons": taint.describe() if tainted else [], "untrusted_in_swap": swapped}


def notice(info: dict[str, Any]) -> str:
    """One line for the user; '' when the session is not tainted."""
    if not info.get("tainted"):
        return ""
    why = "; ".join(info.get("reasons") or []) or "untrusted content is resident"
    return (f"untrusted content entered this session ({why}): tools with side effects ask even when allowed,"
            " until you vouch for what is in the window with %tools trust")
