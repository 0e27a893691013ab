"""The hot loop for OpenAI-compatible chat streams: one reused httpx.Client, ``data:`` lines and json.loads.

Why not ``litellm.completion(stream=True)`` here: it builds pydantic objects for every chunk. Measured on a
loopback server, 5,000 chunks took 7.9 s through litellm, 1.2 s through the openai SDK and 0.18 s with plain
httpx parsing, so litellm capped a cell at ~630 chunks/s. Nor anything else of litellm: importing it takes 3-4 s,
so the endpoint and key come from endpoints.py, the request's parameters from model_map.py, and an HTTP error
becomes a neutral ``faults.ProviderFault``, which ``provider_errors.explain`` words like litellm's own types.

Retries follow one rule: only faults that happened before any byte of the answer (connection refused or
dropped, timeouts waiting for the response, 429/500/502/503/504) are retried, with exponential backoff or the
server's Retry-After; never 4xx, and never once the stream has started (the user already sees its text).
The cell's timeout is one budget for the wait before the first byte, retries and backoff included, so
``--timeout 2`` gives up after about 2 s, not after three attempts of 2 s each; once text flows, it bounds
each pause in the stream (a retry's stream gets what was left of the budget).

What a server sends is capped (limits.py): the answer's text, each tool call's arguments, one line, the whole
body. Past a cap the loop stops reading, the response is closed, and the text that fit is kept before the
BrokenStream of kind "oversized". A line's start is kept as a list of reads until its newline comes, so a line
that never ends costs one copy, not one per read, and is cut at the line cap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from .base import Delta, ToolCallAssembler, Usage
from .faults import ProviderFault, status_fault
from .limits import ERROR_BODY_BYTES, Limits, Meter, check_calls, head, limits_for
from .limits import loads as bounded_loads
from .pool import finish_body
from .provider_errors import RETRY_STATUSES, BrokenStream, Budget, next_retry
from .proxy_faults import reported_cost

# Connecting should take well under a second; a generous cap keeps an unreachable host from costing the full
# read timeout (2 minutes by default) on every attempt.
CONNECT_TIMEOUT_CAP = 15.0

# Transport failures before any response byte: retrying them is safe (nothing was shown yet).
_BEFORE_RESPONSE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def transport_fault(exc: Exception, timeout: float) -> ProviderFault:
    """The fault for a failure before any response: a timeout or a connection problem."""
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderFault("timeout", f"could not connect within {min(timeout, CONNECT_TIMEOUT_CAP):g} s")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderFault("timeout", f"no answer within {timeout:g} s")
    reason = "the server closed the connection without answering"
    if isinstance(exc, httpx.ConnectError):
        reason = f"connection failed ({_root_cause(exc)})"
    return ProviderFault("connection", reason)


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc)
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text or type(exc).__name__


class OpenAIStream:
    """Streams chat completions from one OpenAI-compatible endpoint; holds no key (headers come per call)."""

    def __init__(self, *, num_retries: int = 2, sleep: Callable[[float], None] = time.sleep,
                 client_factory: Callable[[], httpx.Client] | None = None) -> None:
        self.num_retries = num_retries
        self.attempts = 0  # of the last call: for tests and the process table
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._client_factory = client_factory  # the endpoint's shared client (pool.py), which this never closes

    @property
    def client(self) -> httpx.Client:
        if self._client_factory is not None:
            return self._client_factory()
        # One client per backend: its keep-alive pool saves a TCP (and TLS) handshake on every cell.
        if self._client is None:
            self._client = httpx.Client(limits=httpx.Limits(max_connections=8, max_keepalive_connections=4))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def stream(self, url: str, body: dict[str, Any], headers: dict[str, str], timeout: float,
               limits: Limits | None = None) -> Iterator[Delta]:
        """Text deltas, then one final Delta with usage and finish_reason. Raises ProviderFault or BrokenStream;
        KeyboardInterrupt passes through and closes the connection. ``limits``: the caps on what is read, by
        default those for the body's answer-token cap (limits.py)."""
        if limits is None:
            limits = limits_for(body.get("max_completion_tokens") or body.get("max_tokens"))
        meter = Meter(limits)
        response, pause = self._open(url, body, headers, timeout)
        cost = reported_cost(response.headers)  # a LiteLLM proxy's own figure, when it sends one
        try:
            if response.headers.get("content-type", "").startswith("application/json"):
                deltas = self._whole(response, meter)  # a server that ignored "stream": one JSON completion
            else:
                deltas = self._events(response, pause, meter)
            for delta in deltas:
                if delta.usage is not None and cost is not None:
                    delta.usage.cost = cost
                yield delta
        finally:
            response.close()

    # -- before the first byte: retries --------------------------------------------------------------------
    def _open(
        self, url: str, body: dict[str, Any], headers: dict[str, str], timeout: float
    ) -> tuple[httpx.Response, float]:
        """The response once its headers arrived, and the longest pause its stream may take."""
        client = self.client
        # ASCII escapes: a lone surrogate pasted into a prompt stays valid JSON instead of failing to encode.
        content = json.dumps(body).encode("ascii")
        headers = {**headers, "Content-Type": "application/json", "Accept": "text/event-stream"}
        budget = Budget(timeout)
        self.attempts = 0
        while True:
            self.attempts += 1
            retry_headers: Mapping[str, str] | None = None
            left = budget.left()
            # What is left of the budget bounds this attempt's wait, and then each pause of its stream (on the
            # first attempt, the whole timeout).
            request = client.build_request(
                "POST", url, content=content, headers=headers,
                timeout=httpx.Timeout(left, connect=min(left, CONNECT_TIMEOUT_CAP)),
            )
            try:
                response = client.send(request, stream=True)
            except _BEFORE_RESPONSE as exc:
                error = transport_fault(exc, timeout)
            else:
                if response.status_code < 400:
                    return response, left
                try:
                    data = head(response, ERROR_BODY_BYTES)  # its message is in the first lines
                except httpx.HTTPError:
                    data = b""
                finally:
                    response.close()
                error = status_fault(response.status_code, data, response.headers)
                if response.status_code not in RETRY_STATUSES:
                    raise error
                retry_headers = response.headers
            delay = next_retry(self.attempts - 1, self.num_retries, budget, retry_headers)
            if delay is None:
                error.num_retries = self.attempts - 1  # type: ignore[attr-defined]
                raise error
            self._sleep(delay)

    # -- the hot loop ----------------------------------------------------------------------------------------
    def _events(self, response: httpx.Response, timeout: float, meter: Meter) -> Iterator[Delta]:
        """Parse SSE ``data:`` lines; one Delta per network read, so a burst costs one yield, not hundreds."""
        usage: Usage | None = None
        finish: str | None = None
        calls: ToolCallAssembler | None = None  # created on the first tool_calls fragment
        done = False
        pending: list[bytes] = []  # the reads of a line whose newline has not come yet
        waiting = 0  # their bytes
        line_cap = meter.limits.line_bytes
        loads = json.loads
        blocks = response.iter_bytes()
        try:
            for block in blocks:
                meter.read(len(block))
                if b"\n" not in block:
                    pending.append(block)
                    waiting += len(block)
                    meter.line(waiting, "a line")
                    continue
                if pending:
                    pending.append(block)
                    block = b"".join(pending)
                lines = block.split(b"\n")
                tail = lines.pop()
                pending, waiting = ([tail], len(tail)) if tail else ([], 0)
                texts: list[str] = []
                try:
                    for line in lines:
                        if line[:5] != b"data:":
                            continue  # blank separators, ": keep-alive" comments, event:/id: fields
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            done = True
                            break
                        if len(payload) > line_cap:
                            meter.line(len(payload), "a line")
                        try:
                            chunk = loads(payload)
                        except ValueError:
                            raise BrokenStream("malformed", "sent a chunk that is not valid JSON") from None
                        except RecursionError:
                            raise BrokenStream("malformed", "sent a chunk nested too deeply to parse") from None
                        if not isinstance(chunk, dict):
                            raise BrokenStream("malformed", "sent a chunk that is not a JSON object")
                        if chunk.get("error"):
                            raise self._stream_error(chunk["error"], response)
                        choices = chunk.get("choices")
                        if choices:
                            choice = choices[0]
                            delta = choice.get("delta")
                            text = delta.get("content") if delta else None
                            if text:
                                if not isinstance(text, str):
                                    raise TypeError("content is not text")
                                texts.append(meter.text(text))
                                if meter.full:
                                    raise meter.over_answer()
                            if delta and delta.get("tool_calls"):
                                if calls is None:
                                    calls = ToolCallAssembler(meter.limits.calls)
                                added = calls.add(delta["tool_calls"])
                                meter.arguments(added, calls.largest, calls.count)
                            finish = choice.get("finish_reason") or finish
                        if chunk.get("usage"):
                            usage = _usage(chunk["usage"])
                except Exception as exc:
                    if texts:  # what arrived before the bad line is part of the partial answer too
                        yield Delta(text="".join(texts))
                    if isinstance(exc, AttributeError | TypeError | IndexError | ValueError | KeyError):
                        # JSON, but the wrong shape
                        raise BrokenStream("malformed", "sent a chunk that is not a chat completion chunk") from None
                    raise
                if texts:
                    yield Delta(text="".join(texts))
                if done:
                    finish_body(blocks)  # the body's end after [DONE]: the connection is then kept alive
                    break
        except httpx.TimeoutException:
            raise BrokenStream("stalled", f"stopped sending for {timeout:g} s in the middle of the answer") from None
        except (httpx.RemoteProtocolError, httpx.NetworkError):
            raise BrokenStream("cut", "closed the connection in the middle of the answer") from None
        if not done and finish is None:  # a clean end after a finish_reason is fine; silence before it is not
            raise BrokenStream("cut", "ended the stream before the answer was complete")
        yield Delta(usage=usage or Usage(exact=False), finish_reason=_finish(finish),
                    tool_calls=check_calls(calls.calls()) or None if calls else None)

    def _whole(self, response: httpx.Response, meter: Meter) -> Iterator[Delta]:
        """One JSON completion, read up to the line cap (it is one line of JSON), checked before any is shown."""
        data = head(response, meter.limits.line_bytes + 1)
        meter.line(len(data), "a JSON completion")
        calls = ToolCallAssembler(meter.limits.calls)
        try:
            whole = bounded_loads(data)
            choice = whole["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            if not isinstance(text, str):
                raise TypeError("content is not text")
            added = calls.add([{**call, "index": n} for n, call in enumerate(message.get("tool_calls") or [])])
            usage = _usage(whole["usage"]) if whole.get("usage") else Usage(exact=False)
            finish = _finish(choice.get("finish_reason"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise BrokenStream("malformed", "answered with JSON that is not a chat completion") from None
        kept = meter.text(text)
        if kept:
            yield Delta(text=kept)
        if meter.full:
            raise meter.over_answer()
        meter.arguments(added, calls.largest, calls.count)
        yield Delta(usage=usage, finish_reason=finish, tool_calls=check_calls(calls.calls()) or None)

    def _stream_error(self, error: Any, response: httpx.Response) -> Exception:
        """An error event inside a 200 stream (vLLM and LiteLLM proxies send these): same types as a status."""
        try:
            body = json.dumps({"error": error}).encode()
        except (ValueError, RecursionError):  # nested past the encoder's depth: its words are lost anyway
            body = b'{"error": "an error event the kernel could not read"}'
        code = error.get("code") if isinstance(error, dict) else None
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() and len(str(code)) == 3 else 500
        return status_fault(status, body, response.headers)


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage(exact=False)
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not all(isinstance(n, int) and 0 <= n < 2**53 for n in (prompt or 0, completion or 0)):
        return Usage(exact=False)  # counts that are not counts: estimated instead, the answer stands
    return Usage(prompt or 0, completion or 0, exact=True)


def _finish(reason: Any) -> str:
    """The finish_reason as text: a server's own word, cut to a word's length (it reaches the footer and %ps)."""
    return reason[:40] if isinstance(reason, str) and reason else "stop"

