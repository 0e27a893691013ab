"""Streaming output: one Markdown display that grows in place, throttled, and ends with its metadata.

Only this module talks to IPython's display machinery for answers, so the runtime stays testable.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from IPython.display import display

UPDATE_INTERVAL = 0.1  # about 10 display updates a second: smooth to read, cheap for the frontend


@dataclass
class Footer:
    model: str
    tokens_in: int
    tokens_out: int
    latency: float
    cost: float | None
    exact: bool = True
    status: str = "ok"

    def text(self) -> str:
        rate = self.tokens_out / self.latency if self.latency > 0 else 0.0
        cost = "-" if self.cost is None else f"${self.cost:.6f}".rstrip("0").rstrip(".")
        approx = "" if self.exact else "~"
        mark = " · interrupted" if self.status == "interrupted" else ""
        if self.status == "cut":
            mark = " · stream cut"
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

    def _bundle(self, body: str, status_line: str | None) -> dict[str, str]:
        md = format_body(body, self.fmt)
        if status_line:
            md = f"{md}\n\n<sub>{status_line}</sub>" if md else f"<sub>{status_line}</sub>"
        return {"text/markdown": md, "text/plain": body or (status_line or "")}

    def _publish(self, bundle: dict[str, Any], metadata: dict | None = None) -> None:
        display(bundle, raw=True, display_id=self.display_id, update=self._shown, metadata=metadata or {})
        self._shown = True
        self.updates += 1

    def waiting(self) -> None:
        self._publish(self._bundle("", f"⏳ {self.model} · thinking…"))

    def progress(self, text: str, tokens: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.started
        rate = tokens / elapsed if elapsed > 0 else 0.0
        self._publish(self._bundle(text, f"▶ {self.model} · {elapsed:.1f} s · {rate:.0f} tok/s"))

    def finish(self, text: str, footer: Footer, metadata: dict[str, Any]) -> None:
        status = footer.text()
        if footer.status == "interrupted":
            status = "⏹ interrupted: partial answer kept · " + status
        elif footer.status == "cut":
            status = "⚠ stream cut: partial answer kept · " + status
        self._publish(self._bundle(text, status), metadata={"llmos": metadata})


def format_body(text: str, fmt: str) -> str:
    """Markdown for the answer in the requested output format."""
    if not text:
        return ""
    if fmt == "code":
        return text if text.lstrip().startswith("```") else f"```\n{text}\n```"
    if fmt == "json":
        return text if text.lstrip().startswith("```") else f"```json\n{text}\n```"
    if fmt == "math":
        return text if "$" in text else f"$$\n{text}\n$$"
    if fmt == "text":
        return "```text\n" + text + "\n```"
    return text
