"""The one send path: every model call the kernel makes goes through it, whoever makes it.

A prompt cell, each column of a ``%%compare``, each item of a ``%%prompt --map`` and the summary a compaction
asks for are all `Request`s. Before any of them is sent, `SendPath.admit` hands them to the send hooks in order,
together (an `Admission`: a comparison or a batch is refused or allowed as a whole, before its first request):
the replay book (replay.py) answers what it has a recording of by swapping in a backend that plays the
recording back, and refuses, in ``only`` mode, what it has none of; the budget (budget.py) prices what is left
and refuses what would cross a budget. Only an admitted request can be streamed (`SendPath.stream` is the one
place that calls ``backend.stream``), so no caller can skip replay or budgets by forgetting them. After the
answers, `SendPath.done` shows them to the hooks again (the replay book records them, in one write for a batch).
Process rows and accounting stay with the callers, which each have their own display; the kernel's tests check
that every one of them shows in %ps.

The digest names exactly what is sent: the model, the call parameters (``extra`` and the tool definitions
included) and the planned messages. Two requests with the same digest are the same request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .backends.base import Backend, CallParams, Delta, Usage

log = logging.getLogger("llmos_kernel")

DIGEST_VERSION = 1  # bump when what the digest covers changes: old recordings then simply stop matching


def request_digest(model: str, messages: list[dict], params: CallParams) -> str:
    """sha256 of the request as canonical JSON.

    Covered: the model name as the user gave it (not the server's address: a notebook replayed in CI talks to
    another host, or to none), temperature, the answer cap, every ``extra`` parameter, the tool definitions and
    the messages.
    Not covered: the timeout, which bounds the wait and never reaches the model.
    """
    body = {
        "v": DIGEST_VERSION,
        "model": model,
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "extra": params.extra,
        "tools": getattr(params, "tools", None),  # the tool definitions the cell offers the model
        "messages": messages,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Request:
    """One call about to be made: what the hooks inspect, refuse or answer from a recording."""

    backend: Backend
    messages: list[dict]
    params: CallParams
    options: Any = None  # the cell's PromptOptions
    prompt: str = ""
    cell_id: str | None = None
    execution_count: int | None = None
    kind: str = "prompt"  # prompt | compare | map item | compacting: who makes the call
    replayed: bool = False  # answered from a recording: nothing is sent
    metadata: dict[str, Any] = field(default_factory=dict)  # merged into the answer's output metadata
    # The cell's tool calls as memory keeps them ({"path", "text", "untrusted"}): set by the runtime after a
    # live run (recorded with the answer), by the replay book on playback (so memory gets the same segments).
    tools: list[dict[str, Any]] = field(default_factory=list)
    estimate: Any = None  # budget.Estimate, when a budget priced it at admission
    admitted: bool = False  # passed every send hook: only now may it be streamed
    _digest: str | None = None

    @property
    def model(self) -> str:
        return str(getattr(self.backend, "name", "?"))

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = request_digest(self.model, self.messages, self.params)
        return self._digest


@dataclass
class Admission:
    """Requests admitted together: a cell's one request, a comparison's columns, a batch's items."""

    requests: list[Request]
    what: str = "this cell"  # how a refusal names them all: "this batch of 6 items"
    items: str = "requests"  # how a count of them reads: "6 of 6 items of jobs"
    budget: float | None = None  # the cell's own --budget, for all of them together


@dataclass
class Sent:
    """A request and its answer, for the hooks after the call (proc: the row with its tokens and status)."""

    request: Request
    text: str
    proc: Any


class SendHook(Protocol):
    """Sees every request before it is sent (may raise a UserFacingError to refuse them all, or replace a
    request's backend), and the answers afterwards."""

    def before(self, admission: Admission) -> None: ...

    def after(self, sent: list[Sent]) -> None: ...


class NotAdmitted(RuntimeError):
    """A bug of ours: a model call that did not pass the send hooks (replay, budgets) first."""


class SendPath:
    """The hooks every model call passes (the runtime's, shared by %%compare, --map and compaction)."""

    def __init__(self, notices: list[str] | None = None) -> None:
        self.hooks: list[SendHook] = []  # in order: replay first, so a replayed answer costs nothing to check
        self.notices = notices if notices is not None else []  # shown with the next cell
        self._lock = threading.Lock()  # batch workers finish answers while the main thread admits none

    def admit(self, requests: list[Request], what: str = "this cell", items: str = "requests",
              budget: float | None = None) -> list[Request]:
        """Show the requests to every hook before any is sent; a hook that refuses raises, and nothing is sent."""
        admission = Admission(list(requests), what, items, budget)
        for hook in self.hooks:
            hook.before(admission)
        for request in admission.requests:
            request.admitted = True
        return admission.requests

    def stream(self, request: Request, messages: list[dict] | None = None,
               params: CallParams | None = None) -> Iterator[Delta]:
        """The request's stream (or a later tool round's, with its own messages and parameters)."""
        if not request.admitted:
            raise NotAdmitted(f"a {request.kind} request to {request.model} was not admitted before sending")
        return request.backend.stream(request.messages if messages is None else messages,
                                      request.params if params is None else params)

    def collect(self, request: Request, stop: threading.Event | None = None) -> tuple[str, Usage | None, str]:
        """One whole call without a display: (text, usage, finish_reason). Stops between chunks when asked."""
        parts: list[str] = []
        usage: Usage | None = None
        finish = "stop"
        stream = self.stream(request)
        try:
            for delta in stream:
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                parts.append(delta.text)
                usage = delta.usage or usage
                finish = delta.finish_reason or finish
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # an abandoned stream closes its connection now
        return "".join(parts), usage, finish

    def done(self, sent: list[Sent]) -> None:
        """The hooks see the answers; a failing hook is a notice, never a failed cell (the answer is shown)."""
        if not sent:
            return
        for hook in self.hooks:
            try:
                hook.after(sent)
            except Exception as exc:  # noqa: BLE001
                log.warning("send hook %s failed after the answer: %s", type(hook).__name__, exc)
                with self._lock:
                    self.notices.append(f"{type(hook).__name__} could not keep this answer: {exc}")
