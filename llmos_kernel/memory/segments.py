"""Segments: the units of memory that occupy the context window.

A segment is plain data. It knows how to render itself as chat messages and how to round-trip through JSON,
and it caches its own token counts per tokenizer so that planning a request never re-tokenizes old text.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..words import noun

INTERRUPTED_MARKER = "\n\n[answer interrupted]"
# Some providers reject an assistant message with empty content, so an empty answer gets a visible stand-in.
EMPTY_ANSWER = "[no answer]"
PREVIEW_CHARS = 60


class Kind(str, Enum):
    SYSTEM = "system"
    TOOLS = "tools"  # the tool definitions sent with each request (counted, shown on the map; no message)
    PINNED = "pinned"
    SUMMARY = "summary"
    RECALLED = "recalled"
    HISTORY = "history"
    TOOL = "tool"
    PROMPT = "prompt"


def new_segment_id() -> str:
    # Short enough to type in a magic (`%evict s1a2b3c4`). 32 random bits make a collision rare (about one in
    # 4,300 sessions of 6,000 segments); ContextWindow re-draws the id when one happens, so none survives.
    return "s" + secrets.token_hex(4)


@dataclass
class Segment:
    kind: Kind
    text: str
    answer: str = ""
    cell_id: str | None = None
    execution_count: int | None = None
    label: str = ""
    pinned: bool = False
    interrupted: bool = False
    id: str = field(default_factory=new_segment_id)
    created: float = field(default_factory=time.time)
    last_used: float = -1.0
    tokens: dict[str, int] = field(default_factory=dict)
    # The kind a RECALLED segment had before it was paged out ("history", "summary", ...); empty otherwise.
    origin: str = ""
    # A RECALLED copy of pages of a swapped segment: the swapped segment's id (it stays in swap, so dropping
    # the copy loses nothing), the pages it holds, how many the source has, and the words that matched.
    source: str = ""
    pages: list[int] = field(default_factory=list)
    page_count: int = 0
    match: list[str] = field(default_factory=list)
    # Of a recalled copy, the pages a user asked for by name (%recall, a whole page-in): a prompt's own recall
    # drops the pages it no longer needs from a copy, never these (faults.py).
    kept: list[int] = field(default_factory=list)
    # A pinned stub standing for a document too large for the window: the id of the whole document in swap,
    # whose pages each prompt recalls on demand (documents.py).
    paged: str = ""
    # Content from outside the user's own typing: a file, a tool's result, an MCP server. While any is in the
    # window, tools with side effects ask first (tools/policy.py).
    untrusted: bool = False

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)
        if self.last_used < 0:
            self.last_used = self.created

    # -- rendering -------------------------------------------------------------------------------------

    def answer_text(self) -> str:
        """The assistant side of a turn, marked when it was cut short so the model knows it is partial."""
        answer = self.answer
        if self.interrupted:
            return answer + INTERRUPTED_MARKER if answer else INTERRUPTED_MARKER.strip()
        return answer or EMPTY_ANSWER

    def where(self) -> str:
        """A short human name for where this segment came from: 'cell 3', a label, or the id."""
        if self.execution_count is not None:
            return f"cell {self.execution_count}"
        if self.label:
            return self.label
        if self.cell_id:
            return f"cell {self.cell_id[:8]}"
        return self.id

    def header(self) -> str:
        if self.kind is Kind.PINNED:
            return f"[Pinned document: {self.label}]" if self.label else "[Pinned note]"
        if self.kind is Kind.SUMMARY:
            return "[Summary of earlier conversation]"
        if self.kind is Kind.RECALLED:
            # When it was said: a model asked "what did I say first" or "before X" can only order recalled
            # facts by it (execution counts restart with the kernel; the copy keeps its source's time).
            said = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created))
            if self.is_excerpt:
                held = ", ".join(str(page + 1) for page in self.pages)
                where = f"{self.where()} [{self.source}]"
                pages = noun(len(self.pages), "page")
                return f"[Recalled from swap: {where}, said {said}, excerpt: {pages} {held} of {self.page_count}]"
            return f"[Recalled from swap: {self.where()}, said {said}]"
        if self.kind is Kind.TOOL:
            where = f", cell {self.execution_count}" if self.execution_count is not None else ""
            return f"[Tool call{where}: {self.label}]" if self.label else "[Tool call]"
        return ""

    @property
    def is_excerpt(self) -> bool:
        """A recalled copy holding only some pages of its source."""
        return bool(self.source) and 0 < len(self.pages) < self.page_count

    def body(self) -> str:
        # A recalled turn is folded into one message: replaying it as a user/assistant pair out of order
        # would misrepresent when it happened. A page copy's text is already that transcript, cut.
        if self.kind is Kind.RECALLED and self.origin == Kind.HISTORY.value and not self.source:
            return f"User: {self.text}\n\nAssistant: {self.answer_text()}"
        return self.text

    def counted_texts(self) -> list[str]:
        """The texts this segment puts into a request, for counting: its messages' contents, or for tool
        definitions (sent in the request's ``tools``, not as a message) the definitions themselves."""
        if self.kind is Kind.TOOLS:
            return [self.text]
        return [message["content"] for message in self.messages()]

    def messages(self) -> list[dict[str, str]]:
        if self.kind is Kind.TOOLS:
            return []
        if self.kind is Kind.SYSTEM:
            return [{"role": "system", "content": self.text}]
        if self.kind is Kind.HISTORY:
            return [
                {"role": "user", "content": self.text},
                {"role": "assistant", "content": self.answer_text()},
            ]
        if self.kind is Kind.PROMPT:
            return [{"role": "user", "content": self.text}]
        return [{"role": "user", "content": f"{self.header()}\n{self.body()}"}]

    def preview(self, chars: int = PREVIEW_CHARS) -> str:
        flat = " ".join(self.text.split())
        return flat if len(flat) <= chars else flat[: chars - 1] + "…"

    # -- persistence -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "text": self.text,
            "answer": self.answer,
            "cell_id": self.cell_id,
            "execution_count": self.execution_count,
            "label": self.label,
            "pinned": self.pinned,
            "interrupted": self.interrupted,
            "created": self.created,
            "last_used": self.last_used,
            "tokens": dict(self.tokens),
            "origin": self.origin,
            "source": self.source,
            "pages": list(self.pages),
            "page_count": self.page_count,
            "match": list(self.match),
            "kept": list(self.kept),
            "paged": self.paged,
            "untrusted": self.untrusted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(
            kind=Kind(data["kind"]),
            text=data.get("text", ""),
            answer=data.get("answer", ""),
            cell_id=data.get("cell_id"),
            execution_count=data.get("execution_count"),
            label=data.get("label", ""),
            pinned=bool(data.get("pinned", False)),
            interrupted=bool(data.get("interrupted", False)),
            id=data.get("id") or new_segment_id(),
            created=float(data.get("created", time.time())),
            last_used=float(data.get("last_used", -1.0)),
            tokens={str(k): int(v) for k, v in (data.get("tokens") or {}).items()},
            origin=data.get("origin", ""),
            source=str(data.get("source") or ""),
            pages=[int(page) for page in data.get("pages") or []],
            page_count=int(data.get("page_count") or 0),
            match=[str(term) for term in data.get("match") or []],
            kept=[int(page) for page in data.get("kept") or []],
            paged=str(data.get("paged") or ""),
            untrusted=bool(data.get("untrusted", False)),
        )
