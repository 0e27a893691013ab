"""Streaming output: one Markdown display that grows in place, throttled, and ends with its metadata.

Only this module talks to IPython's display machinery for answers, so the runtime stays testable. Every
answer passes through sanitize.py on its way out: live outputs are trusted by JupyterLab (issue 13).
"""

from __future__ import annotations

import contextvars
import html
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from IPython.display import display

from .sanitize import NO_MATH, fence, sanitize_html, sanitize_markdown

UPDATE_INTERVAL = 0.1  # about 10 display updates a second: smooth to read, cheap for the frontend
# Each update sanitizes the whole answer so far, a cost that grows with it: a long answer updates less often,
# so that building updates never takes more than about a tenth of the streaming time.
COST_FACTOR = 10


@dataclass
class Footer:
    model: str
    tokens_in: int
    tokens_out: int
    latency: float
    cost: float | None
    exact: bool = True
    status: str = "ok"
    finish_reason: str | None = None
    replayed: bool = False  # answered from a recording (replay.py): nothing was sent

    def text(self) -> str:
        rate = self.tokens_out / self.latency if self.latency > 0 else 0.0
        cost = "-" if self.cost is None else f"${self.cost:.6f}".rstrip("0").rstrip(".")
        approx = "" if self.exact else "~"
        mark = " · interrupted" if self.status == "interrupted" else ""
        if self.status == "cut":
            mark = " · stream cut"
        elif self.status == "ok" and self.finish_reason == "length":
            mark = " · stopped at the token limit (--max-tokens N for more)"
        if self.replayed:
            mark += " · replayed (nothing sent)"
        return (
            f"{self.model} · {approx}{self.tokens_in} in · {approx}{self.tokens_out} out · "
            f"{self.latency:.2f} s · {rate:.0f} tok/s · {cost}{mark}"
        )


class AnswerDisplay:
    """A status line while waiting, then the answer growing in place, then the final output + metadata."""

    def __init__(self, model: str, fmt: str = "markdown", interval: float = UPDATE_INTERVAL) -> None:
        self.model = model
        self.fmt = fmt
        self.interval = interval
        self.display_id = uuid.uuid4().hex
        self.started = time.monotonic()
        self._last = 0.0
        self.updates = 0
        self._shown = False
        self._lock = threading.Lock()
        self._first_token = threading.Event()
        self._counted = 0  # characters of the answer counted in `tokens` so far
        self.tokens = 0  # answer tokens so far, for the live rate
        self._cost = 0.0  # seconds the last progress update took to build
        # Earlier rounds of a tool loop, already safe: sanitized text and the steps' escaped HTML blocks.
        self._before_md: list[str] = []
        self._before_plain: list[str] = []
        self._before_text = ""  # the answer's text shown in those rounds

    def _bundle(self, body: str, status_line: str | None) -> dict[str, str]:
        plain = "\n".join([*self._before_plain, body]).strip("\n") or (status_line or "")
        status = html.escape(status_line) if status_line else ""
        before = "\n\n".join(self._before_md)
        if self.fmt == "html":
            footer = f"<div><sub>{status}</sub></div>" if status else ""
            return {"text/html": before + sanitize_html(body) + footer, "text/plain": plain}
        md = sanitize_markdown(format_body(body, self.fmt))
        md = f"{before}\n\n{md}" if before and md else before or md
        if status:
            md = f"{md}\n\n<sub>{status}</sub>" if md else f"<sub>{status}</sub>"
        return {"text/markdown": md, "text/plain": plain}

    def _publish(self, bundle: dict[str, Any], metadata: dict | None = None, if_waiting: bool = False) -> None:
        with self._lock:
            # The ticker checks under the lock: a first token or a finished answer published between its wake-up
            # and this point must never be overwritten by a stale "waiting" line.
            if if_waiting and self._first_token.is_set():
                return
            display(bundle, raw=True, display_id=self.display_id, update=self._shown, metadata=metadata or {})
            self._shown = True
            self.updates += 1

    def waiting(self) -> None:
        """Show the model and the elapsed time until the first token (prompt processing can take a while)."""
        self._publish(self._bundle("", f"⏳ {self.model} · waiting…"))
        context = contextvars.copy_context()  # the ticker's outputs belong to this cell
        threading.Thread(target=context.run, args=(self._tick,), daemon=True, name="llmos-wait").start()

    def _tick(self) -> None:
        while not self._first_token.wait(1.0):
            elapsed = time.monotonic() - self.started
            self._publish(self._bundle("", f"⏳ {self.model} · waiting {elapsed:.0f} s…"), if_waiting=True)

    def stop_waiting(self) -> None:
        self._first_token.set()

    def progress(self, parts: list[str], count: Callable[[str], int], force: bool = False) -> bool:
        """Show the answer so far, at most every `interval` seconds; True when the display was updated.

        The live rate counts tokens with `count` (the model's tokenizer), not stream reads: one network read can
        carry many tokens. Only the new text is counted, cut before its last whitespace, where tokenizers cut too.
        """
        self._first_token.set()
        now = time.monotonic()
        if not force and now - self._last < max(self.interval, COST_FACTOR * self._cost):
            return False
        self._last = now
        text = "".join(parts)
        cut = max(text.rfind(" ", self._counted), text.rfind("\n", self._counted))
        if cut > self._counted:
            self.tokens += count(text[self._counted:cut])
            self._counted = cut
        elapsed = now - self.started
        rate = self.tokens / elapsed if elapsed > 0 else 0.0
        status = f"▶ {self.model} · {elapsed:.1f} s · ~{self.tokens} tokens · {rate:.0f} tok/s"
        bundle = self._bundle(text, status)
        self._cost = time.monotonic() - now
        self._publish(bundle)
        return True

    def add_step(self, text: str, step_md: str, step_plain: str) -> None:
        """A tool round ended: its text and its calls (an escaped HTML block from tools/loop.py) stay above
        what the model writes next."""
        self._before_text += text
        if text:
            self._before_md.append(sanitize_markdown(format_body(text, self.fmt)) if self.fmt != "html"
                                   else sanitize_html(text))
            self._before_plain.append(text)
        self._before_md.append(step_md)
        self._before_plain.append(step_plain)
        self._counted = 0  # the next round's text starts afresh
        self._publish(self._bundle("", f"▶ {self.model} · tools ran, asking the model again…"))

    def calling(self, text: str, paths: list[str]) -> None:
        """The model asked for tools: say which while they run (or wait for approval), instead of a "waiting"
        ticker that would blame the model for the user's time."""
        self._first_token.set()
        names = ", ".join(dict.fromkeys(paths))
        self._publish(self._bundle(text, f"🔧 {self.model} · calling {names}…"))

    def failed(self, elapsed: float) -> None:
        self._first_token.set()
        self._publish(self._bundle("", f"✖ {self.model} · failed after {elapsed:.1f} s (see the error below)"))

    def finish(self, text: str, footer: Footer, metadata: dict[str, Any]) -> None:
        self._first_token.set()
        if self._before_text and text.startswith(self._before_text):
            text = text[len(self._before_text):]  # earlier rounds' text is shown above the tool steps
        status = footer.text()
        if footer.status == "interrupted":
            status = "⏹ interrupted: partial answer kept · " + status
        elif footer.status == "cut":
            status = "⚠ stream cut: partial answer kept · " + status
        self._publish(self._bundle(text, status), metadata={"llmos": metadata})


def format_body(text: str, fmt: str) -> str:
    """Markdown for the answer in the requested output format (not yet sanitized)."""
    if not text:
        return ""
    if fmt == "code":
        return text if text.lstrip().startswith("```") else fence(text, "")
    if fmt == "json":
        return text if text.lstrip().startswith("```") else fence(text, "json")
    if fmt == "math":
        return text if "$" in text else f"$$\n{text}\n$$"
    if fmt == "text":
        return fence(text, "text")
    return text


@dataclass
class Column:
    """One model's side of a %%compare."""

    model: str
    text: str = ""
    footer: str = "waiting…"
    error: str = ""


class CompareDisplay:
    """Several answers side by side in one output that grows in place (HTML, with a Markdown fallback)."""

    def __init__(self, models: list[str], interval: float = UPDATE_INTERVAL) -> None:
        self.columns = [Column(m) for m in models]
        self.display_id = uuid.uuid4().hex
        self.interval = interval
        self._last = 0.0
        self._shown = False

    def update(self, force: bool = False, metadata: dict | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        bundle = {"text/html": self.html(), "text/markdown": self.markdown(), "text/plain": self.plain()}
        display(bundle, raw=True, display_id=self.display_id, update=self._shown, metadata=metadata or {})
        self._shown = True

    def html(self) -> str:
        cells = []
        for col in self.columns:
            body = f'<div style="color:#b00">{html.escape(col.error)}</div>' if col.error else (
                f'<div style="white-space:pre-wrap">{html.escape(col.text)}</div>')
            cells.append(
                '<div style="flex:1;min-width:0;border:1px solid #ddd;border-radius:4px;padding:6px">'
                f"<b>{html.escape(col.model)}</b>{body}"
                f'<div style="color:#777;font-size:85%;margin-top:4px">{html.escape(col.footer)}</div></div>'
            )
        return f'<div class="llmos-compare {NO_MATH}" style="display:flex;gap:8px">{"".join(cells)}</div>'

    def markdown(self) -> str:
        """The fallback for frontends without HTML: each answer's Markdown, sanitized like any answer."""
        parts = []
        for col in self.columns:
            body = sanitize_markdown(col.error or col.text)
            parts.append(f"**{html.escape(col.model)}**\n\n{body}\n\n<sub>{html.escape(col.footer)}</sub>")
        return "\n\n---\n\n".join(parts)

    def plain(self) -> str:
        return "\n\n---\n\n".join(f"{col.model}\n\n{col.error or col.text}\n\n{col.footer}" for col in self.columns)
