"""Waiting on events, not on the clock (issue 23): a test that sleeps "long enough" for something to happen is
flaky on a loaded runner and slow on an idle one. These helpers wait for the thing itself (a kernel message, a
file a tool wrote, a condition on a server) and use their timeout only as a generous guard that fails the test.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

GUARD = 60.0  # seconds: only ever reached when the awaited event never comes, i.e. the code under test is broken


def wait_until(check: Callable[[], T], what: str, timeout: float = GUARD) -> T:
    """Poll ``check`` until it returns something truthy (returned); fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:.0f} s")
        time.sleep(0.02)  # a polling interval, not a guess at how long the event takes


def wait_for_iopub(kernel: Any, msg_id: str, match: Callable[[dict], bool], what: str,
                   timeout: float = GUARD) -> list[dict]:
    """Read the kernel's iopub messages of the cell ``msg_id`` until one satisfies ``match``; returns every message
    of that cell read so far (the match last), so the caller can hand them on (``Run(reply, seen + later)``).
    The cell going idle first is a failure: the event never happened while it ran."""
    deadline = time.monotonic() + timeout
    seen: list[dict] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{what}: not seen within {timeout:.0f} s")
        try:
            msg = kernel.kc.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            raise AssertionError(f"{what}: the cell finished first; it printed {seen!r:.2000}")
        seen.append(msg)
        if match(msg):
            return seen


def shows(text: str) -> Callable[[dict], bool]:
    """A ``match`` for wait_for_iopub: a display (or its update) whose plain text contains ``text``."""
    def match(msg: dict) -> bool:
        return msg["msg_type"] in ("display_data", "update_display_data") and \
            text in str(msg["content"]["data"].get("text/plain", ""))
    return match
