"""A real OpenAI-compatible HTTP server for tests and benchmarks, with fault injection.

It speaks enough of the OpenAI REST API (``/v1/chat/completions`` streamed and not, ``/v1/models``)
for litellm's ``openai/`` provider, the ``openai`` SDK and plain httpx SSE parsing, and can be told to
misbehave in the ways real providers do (rate limits, overload, hangs, cut streams, bad JSON, ...).

Stdlib only, on purpose: it must run in a bare interpreter as a subprocess and must never import the
project it is testing, so a broken kernel cannot break its own test double.

In-process::

    with OpenAIServer() as srv:
        srv.queue_reply("Hello world")
        srv.queue_fault("429", retry_after=1)
        litellm.completion(model="openai/test", api_base=srv.url, api_key="sk-test", ...)

As a subprocess (the first stdout line is the base URL)::

    python tests/support/openai_server.py --port 0
    -> http://127.0.0.1:PORT/v1

and drive it with ``POST /_control``, ``GET /_requests`` and ``GET /_attempts``.

Raw replies (``queue_raw``) write whatever bytes a test gives, with any status and content type, as a server that
does not speak the protocol, or speaks too much of it: invalid SSE, binary, a line with no end, a 64 MB answer to
``max_tokens: 8``, an endless stream. What it wrote and when it stopped are on the returned ``RawReply``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FAULTS", "MODELS", "OpenAIServer", "RawReply", "estimate_prompt_tokens", "split_words"]

# Names are part of the contract with the tests; keep them exactly as documented.
FAULTS: tuple[str, ...] = (
    "429",
    "500",
    "503",
    "401",
    "404",
    "context_length",
    "hang",
    "stall",
    "cut",
    "malformed",
    "refuse",
)

MODELS: tuple[str, ...] = ("test", "gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo")

_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
# Bulk streams are written in HTTP chunks of this size: one SSE event per write would make a 5,000-chunk
# benchmark measure syscalls instead of the client's parser.
_BULK_WRITE_BYTES = 64 * 1024
# The real API sends compact JSON; matching it keeps byte counts in benchmarks realistic.
_COMPACT = (",", ":")


def split_words(text: str) -> list[str]:
    """Split like a tokenizer-ish stream does: ``"Hi there"`` -> ``["Hi", " there"]``; joins back exactly."""
    pieces = re.findall(r"\s*\S+", text)
    tail = text[len("".join(pieces)) :]
    if tail:
        # Trailing whitespace rides on the last piece so that "".join(pieces) == text always holds.
        if pieces:
            pieces[-1] += tail
        else:
            pieces = [tail]
    return pieces


def _split_even(text: str, n: int) -> list[str]:
    """Split ``text`` into ``n`` near-equal non-empty pieces (fewer if the text is shorter than ``n``)."""
    if not text:
        return []
    n = max(1, min(n, len(text)))
    size, extra = divmod(len(text), n)
    pieces, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        pieces.append(text[pos : pos + step])
        pos += step
    return pieces


def _content_text(content: Any) -> str:
    """Text of a message's content, which may be a string or a list of typed parts (vision-style)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part
        )
    return ""


def estimate_prompt_tokens(messages: Any) -> int:
    """Deterministic prompt-token estimate: all message content characters // 4 + 3 per message.

    Not a tokenizer on purpose: tests must be able to compute the same number without tiktoken.
    """
    if not isinstance(messages, list):
        return 0
    chars = sum(len(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
    return chars // 4 + 3 * len(messages)


def estimate_completion_tokens(text: str) -> int:
    """Completion-token estimate: ceil(characters / 4), so an empty reply costs 0 tokens."""
    return (len(text) + 3) // 4


@dataclass
class _Reply:
    text: str
    pieces: list[str]
    usage: dict[str, int] | None = None
    chunk_delay: float | None = None
    delay: float | None = None
    finish_reason: str = "stop"
    bulk: bool = False
    send_usage: bool = True
    # Tool calls the model "makes": [{"name": ..., "arguments": dict or str}], streamed as OpenAI streams
    # them (an id and name first, then the arguments in pieces, one index per call); json: answer with one
    # JSON completion even to a streaming request, as a server that ignores "stream" does.
    tool_calls: list[dict[str, Any]] | None = None
    json: bool = False
    arg_pieces: int = 3


@dataclass
class _Fault:
    name: str
    kw: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawReply:
    """A reply written byte for byte: ``head``, then ``body`` ``repeat`` times (None: until the client hangs up or
    the server stops), then ``tail``. ``framing``: "chunked" (as SSE is sent), "length" (Content-Length) or
    "close" (the body ends when the connection closes). ``chunk_delay`` seconds pass between repeats.

    Read by tests: ``written`` (bytes of the body sent so far), ``ended`` (set when the writing stopped) and
    ``hung_up`` (True when the client closed the connection before the reply was complete)."""

    body: bytes = b""
    head: bytes = b""
    tail: bytes = b""
    repeat: int | None = 1
    content_type: str = "text/event-stream"
    status: int = 200
    framing: str = "chunked"
    chunk_delay: float = 0.0
    written: int = 0
    hung_up: bool = False
    ended: threading.Event = field(default_factory=threading.Event)

    @property
    def size(self) -> int | None:
        """The whole body's bytes, or None for an endless one."""
        if self.repeat is None:
            return None
        return len(self.head) + len(self.body) * self.repeat + len(self.tail)


class _HTTPServer(ThreadingHTTPServer):
    # Daemon handler threads and no join on close: stop() must return even while a handler is stuck in
    # a "hang" or blocked writing to a client that stopped reading.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: OpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that disconnects mid-stream (or a socket stop() shut down) is normal here, not a bug.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        super().handle_error(request, client_address)


class OpenAIServer:
    """OpenAI-compatible chat completions server with a FIFO queue of replies and faults.

    Attributes read by tests:
        url: base URL including ``/v1`` (valid after ``start()``).
        requests: one dict per chat completion request: ``path``, ``method``, ``body`` (parsed JSON, or
            None when it did not parse; then ``raw`` holds the text), ``headers`` (lower-cased names,
            ``authorization``/``api-key`` values redacted), ``has_authorization`` and ``outcome``
            (``"reply"``, a fault name, ``"unauthorized"`` or ``"bad_request"``), ``at`` (time.monotonic() on
            arrival: the gaps between attempts are the client's backoff, measured where it cannot be hidden).
        attempts: number of chat completion requests received (every fault consumes one).
        in_flight / max_in_flight: chat requests being answered now / at most at once since the last reset
            (how tests prove that a client ran requests concurrently, without timing anything).

    Settings (also changeable while running): ``chunk_delay`` (seconds between streamed chunks),
    ``default_delay`` (seconds before any chat response starts), ``model_delays`` (per requested model name,
    instead of ``default_delay``), ``model_gates`` (per requested model name, a threading.Event its replies wait
    for: in-process only), ``require_key``, ``response_headers`` (added to every streamed reply).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        require_key: str | None = None,
        chunk_delay: float = 0.0,
        default_delay: float = 0.0,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.require_key = require_key
        self.chunk_delay = chunk_delay
        self.default_delay = default_delay
        self.verbose = verbose
        self.requests: list[dict[str, Any]] = []
        self.attempts = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.model_delays: dict[str, float] = {}
        # In-process only: per requested model name, an Event its replies wait for before they start (tests hold
        # one model's answer until they have seen what they need, instead of giving it a delay and hoping).
        self.model_gates: dict[str, threading.Event] = {}
        self.models_raw: RawReply | None = None  # when set, GET /models answers with it (every time)
        self.response_headers: dict[str, str] = {}  # sent with every streamed chat reply (a Set-Cookie, say)
        self._queue: list[_Reply | _Fault | RawReply] = []
        self._always: _Fault | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("OpenAIServer.url is only known after start()")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> OpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("OpenAIServer already started")
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        # A short poll interval keeps shutdown() latency low; the cost is negligible on loopback.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns promptly even with requests hanging, stalled or mid-stream."""
        httpd = self._httpd
        if httpd is None or self._stopping.is_set():
            return
        self._stopping.set()  # wakes every handler sleeping in a hang/stall/delay
        httpd.shutdown()
        # Shutting the sockets down makes blocked reads/writes in handler threads fail at once, and lets
        # clients waiting on a hung request see the connection close instead of waiting for their timeout.
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- scripting

    def queue_reply(
        self,
        text: str = "",
        *,
        chunks: int | None = None,
        usage: dict[str, int] | None = None,
        n_chunks: int | None = None,
        chunk_delay: float | None = None,
        delay: float | None = None,
        finish_reason: str = "stop",
        send_usage: bool = True,
    ) -> str:
        """Queue the next reply and return the exact content it will deliver.

        ``chunks``: stream the text as that many near-equal pieces (default: word by word).
        ``n_chunks``: bulk mode for benchmarks: exactly ``n_chunks`` content chunks written as fast as
        possible (``chunk_delay`` ignored, many SSE events per write); with no text the content is
        generated as ``"w0 w1 w2 ..."``.
        ``usage``: overrides (some of) prompt_tokens / completion_tokens / total_tokens.
        ``chunk_delay`` / ``delay``: override the server-wide settings for this reply only.
        ``send_usage=False``: report no usage at all, even when asked (as servers that ignore
        ``stream_options.include_usage`` do).
        """
        if n_chunks is not None:
            if n_chunks < 1:
                raise ValueError("n_chunks must be >= 1")
            if text:
                if len(text) < n_chunks:
                    raise ValueError("text is shorter than n_chunks; every chunk must carry content")
                pieces = _split_even(text, n_chunks)
            else:
                pieces = [f"w{i} " for i in range(n_chunks)]
                text = "".join(pieces)
        elif chunks is not None:
            if chunks < 1:
                raise ValueError("chunks must be >= 1")
            pieces = _split_even(text, chunks)
        else:
            pieces = split_words(text)
        reply = _Reply(
            text=text,
            pieces=pieces,
            usage=dict(usage) if usage else None,
            chunk_delay=chunk_delay,
            delay=delay,
            finish_reason=finish_reason,
            bulk=n_chunks is not None,
            send_usage=send_usage,
        )
        with self._lock:
            self._queue.append(reply)
        return text

    def queue_tool_calls(
        self, calls: list[dict[str, Any]], *, text: str = "", as_json: bool = False, pieces: int = 3
    ) -> list[dict[str, Any]]:
        """Queue a reply that calls tools: ``calls`` is ``[{"name": ..., "arguments": {...}}]`` (several:
        parallel calls). Streamed, each call's arguments arrive in ``pieces`` fragments; ``as_json``
        answers with one JSON completion instead. Returns the calls as sent, with their ids."""
        with self._lock:
            serial = len(self._queue) + self.attempts
        sent = []
        for i, call in enumerate(calls):
            arguments = call.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            sent.append({"id": call.get("id") or f"call_{serial}_{i}", "type": "function",
                         "function": {"name": call["name"], "arguments": arguments}})
        reply = _Reply(text=text, pieces=split_words(text) if text else [], finish_reason="tool_calls",
                       tool_calls=sent, json=as_json, chunk_delay=None)
        reply.arg_pieces = pieces
        with self._lock:
            self._queue.append(reply)
        return sent

    def queue_raw(self, body: bytes = b"", **kw: Any) -> RawReply:
        """Queue a reply written byte for byte (see RawReply for ``head``, ``tail``, ``repeat``, ``content_type``,
        ``status``, ``framing`` and ``chunk_delay``); the returned RawReply says what was written."""
        if kw.get("framing", "chunked") not in ("chunked", "length", "close"):
            raise ValueError("framing must be chunked, length or close")
        raw = RawReply(body, **kw)
        if raw.repeat is None and not raw.body:
            raise ValueError("an endless reply needs a body to repeat")
        if raw.framing == "length" and raw.repeat is None:
            raise ValueError("an endless reply has no length")
        with self._lock:
            self._queue.append(raw)
        return raw

    def queue_fault(self, fault: str, **kw: Any) -> None:
        """Queue a fault for the next request (FIFO with replies). See ``_Handler`` for each fault's kw."""
        with self._lock:
            self._queue.append(_make_fault(fault, kw))

    def set_fault_always(self, fault: str | None, **kw: Any) -> None:
        """Answer every request with ``fault`` (ahead of the queue, which is left untouched); None clears."""
        new = None if fault is None else _make_fault(fault, kw)
        with self._lock:
            self._always = new

    def reset(self) -> None:
        """Clear the queue, the always-fault, recorded requests and attempts; settings are kept."""
        with self._lock:
            self._queue.clear()
            self._always = None
            self.requests.clear()
            self.attempts = 0
            self.max_in_flight = self.in_flight

    def pending(self) -> int:
        """Number of queued replies and faults not yet consumed."""
        with self._lock:
            return len(self._queue)

    def open_connections(self) -> int:
        """Client connections a handler is still serving (idle keep-alive ones included)."""
        with self._lock:
            return len(self._connections)

    def wait_for_attempts(self, n: int, timeout: float = 10.0) -> bool:
        """Block until at least ``n`` attempts arrived (for tests racing a hanging request)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.attempts >= n:
                return True
            time.sleep(0.01)
        return self.attempts >= n

    # ----------------------------------------------------------------- internals used by the handler

    def _in_flight(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _next(self) -> _Reply | _Fault | RawReply | None:
        with self._lock:
            if self._always is not None:
                return self._always
            return self._queue.pop(0) if self._queue else None

    def _record(self, entry: dict[str, Any]) -> int:
        with self._lock:
            self.attempts += 1
            self.requests.append(entry)
            return self.attempts

    def _control(self, cmd: dict[str, Any]) -> None:
        """Apply a ``POST /_control`` command; raises ValueError/TypeError on a bad one (-> HTTP 400)."""
        known = {
            "reset",
            "queue_reply",
            "queue_fault",
            "set_fault_always",
            "chunk_delay",
            "default_delay",
            "require_key",
            "queue_raw",
        }
        unknown = set(cmd) - known
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        # Reset first so one command can mean "start over with this script".
        if cmd.get("reset"):
            self.reset()
        for key in ("chunk_delay", "default_delay"):
            if key in cmd:
                setattr(self, key, float(cmd[key]))
        if "require_key" in cmd:
            self.require_key = cmd["require_key"]
        if "set_fault_always" in cmd:
            spec = cmd["set_fault_always"]
            if spec is None:
                self.set_fault_always(None)
            elif isinstance(spec, str):
                self.set_fault_always(spec)
            else:
                spec = dict(spec)
                self.set_fault_always(spec.pop("fault"), **spec)
        # Lists allow scripting several steps in one call; order inside a list is kept.
        for spec in _as_list(cmd.get("queue_reply")):
            if isinstance(spec, str):
                self.queue_reply(spec)
            else:
                spec = dict(spec)
                self.queue_reply(spec.pop("text", ""), **spec)
        for spec in _as_list(cmd.get("queue_raw")):
            # Bytes travel as latin-1 text in JSON: every byte value is one character.
            spec = {k: v.encode("latin-1") if k in ("body", "head", "tail") else v for k, v in dict(spec).items()}
            self.queue_raw(**spec)
        for spec in _as_list(cmd.get("queue_fault")):
            if isinstance(spec, str):
                self.queue_fault(spec)
            else:
                spec = dict(spec)
                self.queue_fault(spec.pop("fault"), **spec)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _make_fault(fault: str, kw: dict[str, Any]) -> _Fault:
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
    return _Fault(fault, dict(kw))


def _redact_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key == "authorization":
            value = "Bearer ***" if value.lower().startswith("bearer ") else "***"
        elif key == "api-key":
            value = "***"
        out[key] = value
    return out


def _mask_key(key: str) -> str:
    # OpenAI's 401 message shows the key masked like this; never echo a full secret into logs.
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection (keep-alive, like the openai SDK's httpx pool expects).

    Fault kwargs (all optional):
        every fault: ``delay`` seconds before anything is sent.
        "429": ``retry_after`` (Retry-After header, default 0), ``retry_after_ms``, ``message``.
        "500", "503", "401", "404": ``message``; "404": ``model``; all errors: ``should_retry``
            (x-should-retry header, which the openai SDK obeys) and ``retry_after``.
        "context_length": ``limit`` (default 8192), ``tokens`` (default max(estimate, limit + 1)).
        "hang": ``seconds`` (default: until stop()); afterwards a normal reply (``text`` kw or echo).
        "stall": ``after`` content chunks (default 2), then silence for ``seconds`` (default: until stop()),
            then the rest of the stream. Non-stream: half the body, silence, the rest.
        "cut": ``after`` content chunks (default 2), then the socket closes (no terminating chunk, no
            [DONE]). Non-stream: half the body, then close.
        "malformed": ``after`` content chunks (default 2), then one ``data:`` line that is not JSON,
            then the rest of the stream. Non-stream: a 200 whose body is not JSON.
        "refuse": the request is read, then the connection closes with no response at all.
        "stall", "cut", "malformed" and "hang" accept ``text`` for the reply they (partly) send; streamed "stall",
            "cut" and "malformed" accept ``chunk_delay``, seconds between the chunks sent before the break.
        "hang" and "stall" (in-process only) also take ``gate``, a threading.Event: the silence lasts until the test
            sets it (instead of ``seconds``), and ``reached``, a threading.Event the server sets when the silence
            begins (after the stall's first chunks were written). Tests wait on these events, never on the clock.
    """

    protocol_version = "HTTP/1.1"
    _attempt = 0  # 0 for non-chat requests (control, models)
    server_version = "openai-test-server/1.0"

    def version_string(self) -> str:
        return self.server_version

    # Without this, small SSE writes meet Nagle + delayed ACK and a stream gains ~40 ms per event.
    disable_nagle_algorithm = True
    server: _HTTPServer

    @property
    def owner(self) -> OpenAIServer:
        return self.server.owner

    def setup(self) -> None:
        super().setup()
        with self.owner._lock:
            self.owner._connections.add(self.connection)
        if self.owner._stopping.is_set():
            # Accepted just as stop() ran its shutdown sweep: close it here so nothing outlives stop().
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.owner.verbose:
            sys.stderr.write(f"[openai-server] {self.address_string()} {format % args}\n")

    # ----------------------------------------------------------------- routing

    def _route(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def do_GET(self) -> None:
        path = self._route()
        if path in ("/_requests", "/v1/_requests"):
            with self.owner._lock:
                data = json.loads(json.dumps(self.owner.requests))
            self._send_json(200, data)
        elif path in ("/_attempts", "/v1/_attempts"):
            self._send_json(200, {"attempts": self.owner.attempts})
        elif path in ("/v1/models", "/models") and self.owner.models_raw is not None:
            self._raw(self.owner.models_raw)
        elif path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [_model_obj(m) for m in MODELS]})
        elif path.startswith(("/v1/models/", "/models/")):
            model = path.split("/models/", 1)[1]
            if model in MODELS:
                self._send_json(200, _model_obj(model))
            else:
                self._send_json(404, _model_missing(model))
        else:
            self._not_found("GET")

    def do_POST(self) -> None:
        path = self._route()
        raw = self._read_body()
        if path in _CHAT_PATHS:
            self.owner._in_flight(+1)
            try:
                self._chat(path, raw)
            finally:
                self.owner._in_flight(-1)
        elif path in ("/_control", "/v1/_control"):
            try:
                cmd = json.loads(raw or b"{}")
                if not isinstance(cmd, dict):
                    raise ValueError("control body must be a JSON object")
                self.owner._control(cmd)
            except (ValueError, TypeError, KeyError) as exc:
                err = _error_body(f"bad control command: {exc}", "invalid_request_error", None)
                self._send_json(400, err)
                return
            self._send_json(200, {"ok": True, "pending": self.owner.pending()})
        else:
            self._not_found("POST")

    def _not_found(self, method: str) -> None:
        self._send_json(
            404, _error_body(f"Invalid URL ({method} {self.path})", "invalid_request_error", None)
        )

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        return b""

    # ----------------------------------------------------------------- chat completions

    def _chat(self, path: str, raw: bytes) -> None:
        owner = self.owner
        entry: dict[str, Any] = {
            "path": path,
            "method": self.command,
            "body": None,
            "headers": _redact_headers(self.headers),
            "has_authorization": "authorization" in {k.lower() for k in self.headers},
            "outcome": None,
            # When the request arrived (time.monotonic()): the gaps between attempts show the client's backoff.
            "at": time.monotonic(),
        }
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            entry["raw"] = raw.decode("utf-8", "replace")
        entry["body"] = body
        # The attempt number names this response's ids, so concurrent requests never share one.
        self._attempt = owner._record(entry)

        if owner.require_key is not None:
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {owner.require_key}":
                entry["outcome"] = "unauthorized"
                given = auth[7:] if auth.lower().startswith("bearer ") else ""
                self._send_json(401, _invalid_key(given))
                return

        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            entry["outcome"] = "bad_request"
            if not isinstance(body, dict):
                err = _error_body(
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                    "sent was not valid JSON.)",
                    "invalid_request_error",
                    None,
                )
            else:
                err = _error_body(
                    "Missing required parameter: 'messages'.",
                    "invalid_request_error",
                    "missing_required_parameter",
                    "messages",
                )
            self._send_json(400, err)
            return

        item = owner._next()
        stream = bool(body.get("stream"))
        if isinstance(item, RawReply):
            entry["outcome"] = "raw"
            return self._raw(item)
        if isinstance(item, _Fault):
            entry["outcome"] = item.name
            if not self._sleep(item.kw.get("delay", owner.default_delay)):
                return self._drop()
            self._fault(item, body, stream)
            return

        reply = item if item is not None else self._echo_reply(body)
        entry["outcome"] = "reply"
        gate = owner.model_gates.get(str(body.get("model")))
        if gate is not None and not self._hold({"gate": gate}):
            return self._drop()
        delay = reply.delay if reply.delay is not None else owner.model_delays.get(
            str(body.get("model")), owner.default_delay)
        if not self._sleep(delay):
            return self._drop()
        if stream and not reply.json:
            self._stream(body, reply)
        else:
            self._send_json(200, _completion(body, reply, self._completion_id()))

    def _echo_reply(self, body: dict[str, Any], text: str | None = None) -> _Reply:
        if text is None:
            last_user = ""
            for msg in body.get("messages") or []:
                if isinstance(msg, dict) and msg.get("role") == "user":
                    last_user = _content_text(msg.get("content"))
            text = f"Echo: {last_user[:40]}"
        return _Reply(text=text, pieces=split_words(text))

    def _completion_id(self) -> str:
        # Deterministic ids make recorded transcripts diffable; the attempt number keeps them unique.
        return f"chatcmpl-test{self._attempt:08d}"

    def _sleep(self, seconds: float | None) -> bool:
        """Sleep unless stop() happens first; False means the server is stopping (caller should bail)."""
        if seconds is None:
            self.owner._stopping.wait()
            return False
        if seconds > 0:
            return not self.owner._stopping.wait(seconds)
        return not self.owner._stopping.is_set()

    def _hold(self, kw: dict[str, Any]) -> bool:
        """The silence of a "hang" or "stall": ``seconds``, or until the test sets ``gate``; False when stopping."""
        reached, gate = kw.get("reached"), kw.get("gate")
        if reached is not None:
            reached.set()
        if gate is None:
            return self._sleep(kw.get("seconds"))
        while not gate.wait(0.05):  # short waits: stop() must still end a held reply promptly
            if self.owner._stopping.is_set():
                return False
        return not self.owner._stopping.is_set()

    def _drop(self) -> None:
        self.close_connection = True

    # ----------------------------------------------------------------- responses

    def _send_json(self, status: int, obj: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj, separators=_COMPACT).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_test{self._attempt:08d}")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        # Chunked, like api.openai.com: a connection closed mid-body is then a detectable protocol error
        # for the client (with Connection: close + EOF framing a "cut" would look like a clean end).
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_test{self._attempt:08d}")
        for name, value in self.owner.response_headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        # One write per HTTP chunk so each SSE event leaves in one segment.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _stream_events(self, body: dict[str, Any], reply: _Reply) -> list[bytes]:
        """All SSE events of a streamed reply, in order, each ``data: ...\\n\\n``."""
        cid = self._completion_id()
        created = int(time.time())
        model = str(body.get("model", "test"))
        opts = body.get("stream_options")
        include_usage = isinstance(opts, dict) and bool(opts.get("include_usage")) and reply.send_usage

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            obj: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_test",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                # The real API sends "usage": null on every chunk when usage was requested.
                obj["usage"] = None
            return b"data: " + json.dumps(obj, separators=_COMPACT).encode() + b"\n\n"

        events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
        events += [chunk({"content": piece}, None) for piece in reply.pieces]
        for index, call in enumerate(reply.tool_calls or []):
            head = {"index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            events.append(chunk({"tool_calls": [head]}, None))
            for piece in _split_even(call["function"]["arguments"], reply.arg_pieces):
                events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None))
        events.append(chunk({}, reply.finish_reason))
        if include_usage:
            usage_obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_test",
                "choices": [],
                "usage": _usage(body, reply),
            }
            events.append(b"data: " + json.dumps(usage_obj, separators=_COMPACT).encode() + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return events

    def _stream(self, body: dict[str, Any], reply: _Reply) -> None:
        events = self._stream_events(body, reply)
        self._start_stream()
        if reply.bulk:
            blob = b"".join(events)
            for pos in range(0, len(blob), _BULK_WRITE_BYTES):
                if self.owner._stopping.is_set():
                    return self._drop()
                self._write_chunk(blob[pos : pos + _BULK_WRITE_BYTES])
            self._end_stream()
            return
        delay = reply.chunk_delay if reply.chunk_delay is not None else self.owner.chunk_delay
        for i, event in enumerate(events):
            # No delay before the first (role) chunk: the time-to-first-byte knob is `delay`.
            if i and delay and not self._sleep(delay):
                return self._drop()
            self._write_chunk(event)
        self._end_stream()

    def _raw(self, raw: RawReply) -> None:
        """Write a RawReply; a client that hangs up ends it (``hung_up``), as does stop()."""
        self.send_response(raw.status)
        self.send_header("Content-Type", raw.content_type)
        if raw.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif raw.framing == "length":
            self.send_header("Content-Length", str(raw.size))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

        def write(data: bytes) -> None:
            if not data:
                return  # an empty HTTP chunk would end the body
            if raw.framing == "chunked":
                self._write_chunk(data)
            else:
                self.wfile.write(data)
            raw.written += len(data)

        try:
            write(raw.head)
            done = 0
            while raw.repeat is None or done < raw.repeat:
                if done and raw.chunk_delay and not self._sleep(raw.chunk_delay):
                    return self._drop()
                if self.owner._stopping.is_set():
                    return self._drop()
                write(raw.body)
                done += 1
            write(raw.tail)
            if raw.framing == "chunked":
                self._end_stream()
            self.wfile.flush()
        except OSError:
            raw.hung_up = True
            self._drop()
        finally:
            raw.ended.set()

    # ----------------------------------------------------------------- faults

    def _fault(self, fault: _Fault, body: dict[str, Any], stream: bool) -> None:
        kw = fault.kw
        name = fault.name
        headers: dict[str, str] = {}
        if "should_retry" in kw:
            headers["x-should-retry"] = "true" if kw["should_retry"] else "false"
        if "retry_after" in kw or name == "429":
            headers["Retry-After"] = str(kw.get("retry_after", 0))
        if "retry_after_ms" in kw:
            headers["retry-after-ms"] = str(kw["retry_after_ms"])

        if name == "429":
            msg = kw.get(
                "message",
                f"Rate limit reached for {body.get('model', 'test')} in organization org-test on "
                "requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
                "https://platform.openai.com/account/rate-limits to learn more.",
            )
            self._send_json(429, _error_body(msg, "rate_limit_exceeded", "rate_limit_exceeded"), headers)
        elif name == "500":
            msg = kw.get(
                "message",
                "The server had an error while processing your request. Sorry about that!",
            )
            self._send_json(500, _error_body(msg, "server_error", None), headers)
        elif name == "503":
            msg = kw.get("message", "The engine is currently overloaded, please try again later.")
            self._send_json(503, _error_body(msg, "server_error", None), headers)
        elif name == "401":
            auth = self.headers.get("Authorization", "")
            err = _invalid_key(auth[7:] if auth.lower().startswith("bearer ") else "")
            if "message" in kw:
                err["error"]["message"] = kw["message"]
            self._send_json(401, err, headers)
        elif name == "404":
            err = _model_missing(str(kw.get("model", body.get("model", "test"))))
            if "message" in kw:
                err["error"]["message"] = kw["message"]
            self._send_json(404, err, headers)
        elif name == "context_length":
            limit = int(kw.get("limit", 8192))
            tokens = int(kw.get("tokens", max(estimate_prompt_tokens(body.get("messages")), limit + 1)))
            msg = kw.get(
                "message",
                f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
                f"{tokens} tokens. Please reduce the length of the messages.",
            )
            err = _error_body(msg, "invalid_request_error", "context_length_exceeded", "messages")
            self._send_json(400, err, headers)
        elif name == "refuse":
            # Read (done), recorded (done), then hang up without a status line.
            self._drop()
        elif name == "hang":
            if not self._hold(kw):
                return self._drop()
            reply = self._echo_reply(body, kw.get("text"))
            if stream:
                self._stream(body, reply)
            else:
                self._send_json(200, _completion(body, reply, self._completion_id()))
        else:
            self._broken_reply(name, kw, body, stream)

    def _broken_reply(self, name: str, kw: dict[str, Any], body: dict[str, Any], stream: bool) -> None:
        """The "stall", "cut" and "malformed" faults: a reply that starts fine and then goes wrong."""
        reply = self._echo_reply(body, kw.get("text"))
        if not stream:
            data = json.dumps(_completion(body, reply, self._completion_id()), separators=_COMPACT).encode()
            if name == "malformed":
                data = data[: len(data) // 2]  # a 200 with a truncated, unparseable JSON body
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if name == "malformed":
                self.wfile.write(data)
                return
            half = len(data) // 2
            self.wfile.write(data[:half])
            if name == "cut":
                return self._drop()
            if not self._hold(kw):
                return self._drop()
            self.wfile.write(data[half:])
            return

        events = self._stream_events(body, reply)
        after = 1 + int(kw.get("after", 2))  # +1: the role chunk comes before any content chunk
        after = min(after, len(events) - 1)
        self._start_stream()
        spacing = kw.get("chunk_delay")  # between the chunks before the break, so a client sees them arrive
        for i, event in enumerate(events[:after]):
            if i and spacing and not self._sleep(spacing):
                return self._drop()
            self._write_chunk(event)
        if name == "cut":
            return self._drop()
        if name == "stall":
            if not self._hold(kw):
                return self._drop()
        else:  # malformed: a data line that is not JSON, like a proxy mangling the stream
            self._write_chunk(b'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "oo\n\n')
        for event in events[after:]:
            self._write_chunk(event)
        self._end_stream()


def _usage(body: dict[str, Any], reply: _Reply) -> dict[str, int]:
    prompt = estimate_prompt_tokens(body.get("messages"))
    calls = "".join(c["function"]["name"] + c["function"]["arguments"] for c in reply.tool_calls or [])
    completion = estimate_completion_tokens(reply.text + calls)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    given = reply.usage or {}
    usage.update({k: int(v) for k, v in given.items()})
    if "total_tokens" not in given:
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _completion(body: dict[str, Any], reply: _Reply, cid: str) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model", "test")),
        "system_fingerprint": "fp_test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text or (None if reply.tool_calls else ""),
                            "refusal": None, **({"tool_calls": reply.tool_calls} if reply.tool_calls else {})},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": _usage(body, reply) if reply.send_usage else None,
    }


def _model_obj(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 1700000000, "owned_by": "llmos-test"}


def _model_missing(model: str) -> dict[str, Any]:
    return _error_body(
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    )


def _invalid_key(given: str) -> dict[str, Any]:
    if given:
        msg = (
            f"Incorrect API key provided: {_mask_key(given)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
    else:
        msg = (
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    return _error_body(msg, "invalid_request_error", "invalid_api_key")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OpenAI-compatible test server with fault injection")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--require-key", default=None, help="answer 401 unless 'Bearer KEY' is sent")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks")
    parser.add_argument("--default-delay", type=float, default=0.0, help="seconds before each chat reply")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    server = OpenAIServer(
        args.host,
        args.port,
        require_key=args.require_key,
        chunk_delay=args.chunk_delay,
        default_delay=args.default_delay,
        verbose=args.verbose,
    ).start()
    done = threading.Event()
    # SIGTERM from a test fixture's terminate() should stop cleanly, not leave a traceback.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    # The URL is the first stdout line: parents read it to learn the port chosen for --port 0.
    print(server.url, flush=True)
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
