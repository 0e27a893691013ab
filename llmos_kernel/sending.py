"""What a prompt cell is about to send, and the hooks that see it before the backend does.

The runtime builds a `Request` once the memory has planned the messages and the cell's parameters are known,
then hands it to its hooks in order: the budget (budget.py) may refuse it, the replay book (replay.py) may
answer it from a recording by swapping in a backend that plays the recording back. After the answer, the hooks
see it again (the replay book records it). The runtime stays a thin hub: it knows the seam, not the policies.

The digest names exactly what is sent: the model, the call parameters (``extra`` and the tool definitions
included) and the planned messages. Two requests with the same digest are the same request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from .backends.base import Backend, CallParams

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
    replayed: bool = False  # answered from a recording: nothing is sent
    metadata: dict[str, Any] = field(default_factory=dict)  # merged into the answer's output metadata
    _digest: str | None = None

    @property
    def model(self) -> str:
        return str(getattr(self.backend, "name", "?"))

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = request_digest(self.model, self.messages, self.params)
        return self._digest


class SendHook(Protocol):
    """Sees every prompt cell's request before it is sent (may raise a UserFacingError to refuse it, or
    replace ``request.backend``), and its answer afterwards with the cell's process row (tokens, status)."""

    def before(self, request: Request) -> None: ...

    def after(self, request: Request, text: str, proc: Any) -> None: ...
