"""The hot loop for OpenAI-compatible chat streams: one reused httpx.Client, ``data:`` lines and json.loads.

Why not ``litellm.completion(stream=True)`` here: it builds pydantic objects for every chunk. Measured on a
loopback server, 5,000 chunks took 7.9 s through litellm, 1.2 s through the openai SDK and 0.18 s with plain
httpx parsing, so litellm capped a cell at ~630 chunks/s. litellm still does everything outside this loop
(provider, api_base and key resolution, parameter mapping, prices) and provides the exception *types*: an HTTP
error here becomes the litellm exception litellm itself would raise, so ``provider_errors.explain`` treats
both paths alike.

Retries follow one rule: only faults that happened before any byte of the answer (connection refused or
dropped, timeouts waiting for the response, 429/500/502/503/504) are retried, with exponential backoff or the
server's Retry-After; never 4xx, and never once the stream has started (the user already sees its text).
The cell's timeout is one budget for the wait before the first byte, retries and backoff included, so
``--timeout 2`` gives up after about 2 s, not after three attempts of 2 s each; once text flows, it bounds
each pause in the stream (a retry's stream gets what was left of the budget).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from .base import Delta, Usage
from .litellm_loader import get_litellm
from .provider_errors import RETRY_STATUSES, BrokenStream, Budget, next_retry

# litellm providers that speak the OpenAI chat wire format: OpenAI itself, vLLM, LiteLLM proxies, and any
# OpenAI-compatible server given with --api-base (Ollama's /v1, llama.cpp's server, LM Studio, ...).
OPENAI_COMPATIBLE = frozenset({"openai", "hosted_vllm", "litellm_proxy", "openai_like"})

# Connecting should take well under a second; a generous cap keeps an unreachable host from costing the full
# read timeout (2 minutes by default) on every attempt.
CONNECT_TIMEOUT_CAP = 15.0

# Transport failures before any response byte: retrying them is safe (nothing was shown yet).
_BEFORE_RESPONSE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _error_fields(body: bytes) -> tuple[str, str]:
    """(message, code) from an OpenAI-style error body, or the body text when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:500], ""
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or json.dumps(error)[:500]
        return str(message), str(error.get("code") or error.get("type") or "")
    return str(error)[:500], ""


def status_error(status: int, body: bytes, response: httpx.Response, model: str, provider: str) -> Exception:
    """The litellm exception litellm would raise for this HTTP status and error body."""
    litellm = get_litellm()
    message, code = _error_fields(body)
    kw: dict[str, Any] = {"message": message, "model": model, "llm_provider": provider}
    if status == 400 or status == 413:
        is_context = _context_check()
        if code == "context_length_exceeded" or is_context(message):
            return litellm.ContextWindowExceededError(response=response, **kw)
        return litellm.BadRequestError(response=response, **kw)
    by_status = {
        401: litellm.AuthenticationError,
        403: litellm.PermissionDeniedError,
        404: litellm.NotFoundError,
        422: litellm.UnprocessableEntityError,
        429: litellm.RateLimitError,
        500: litellm.InternalServerError,
        502: litellm.BadGatewayError,
        503: litellm.ServiceUnavailableError,
    }
    if status in by_status:
        return by_status[status](response=response, **kw)
    if status in (408, 504):
        return litellm.Timeout(headers=dict(response.headers), exception_status_code=status, **kw)
    if status >= 500:
        return litellm.InternalServerError(response=response, **kw)
    return litellm.APIError(status_code=status, request=response.request, **kw)


def _context_check() -> Callable[[str], bool]:
    """litellm's own "is this a context-window error" test, which knows many providers' wordings."""
    try:
        from litellm.litellm_core_utils.exception_mapping_utils import ExceptionCheckers

        return ExceptionCheckers.is_error_str_context_window_exceeded
    except (ImportError, AttributeError):  # moved in another litellm version: fall back to OpenAI's wording
        return lambda text: "maximum context length" in text.lower()


def transport_error(exc: Exception, model: str, provider: str, timeout: float) -> Exception:
    """The litellm exception for a failure before any response: a timeout or a connection problem."""
    litellm = get_litellm()
    if isinstance(exc, httpx.ConnectTimeout):
        waited = min(timeout, CONNECT_TIMEOUT_CAP)
        return litellm.Timeout(f"could not connect within {waited:g} s", model=model, llm_provider=provider)
    if isinstance(exc, httpx.TimeoutException):
        return litellm.Timeout(f"no answer within {timeout:g} s", model=model, llm_provider=provider)
    reason = "the server closed the connection without answering"
    if isinstance(exc, httpx.ConnectError):
        reason = f"connection failed ({_root_cause(exc)})"
    return litellm.APIConnectionError(reason, llm_provider=provider, model=model)


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc)
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text or type(exc).__name__


class OpenAIStream:
    """Streams chat completions from one OpenAI-compatible endpoint; holds no key (headers come per call)."""

    def __init__(
        self, model: str, provider: str, *, num_retries: int = 2, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.model = model  # the name litellm errors carry (what the user typed)
        self.provider = provider
        self.num_retries = num_retries
        self.attempts = 0  # of the last call: for tests and the process table
        self._sleep = sleep
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        # One client per backend: its keep-alive pool saves a TCP (and TLS) handshake on every cell.
        if self._client is None:
            self._client = httpx.Client(limits=httpx.Limits(max_connections=8, max_keepalive_connections=4))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def stream(self, url: str, body: dict[str, Any], headers: dict[str, str], timeout: float) -> Iterator[Delta]:
        """Text deltas, then one final Delta with usage and finish_reason. Raises litellm exceptions or
        BrokenStream; KeyboardInterrupt passes through and closes the connection."""
        response, pause = self._open(url, body, headers, timeout)
        try:
            if response.headers.get("content-type", "").startswith("application/json"):
                yield from self._whole(response)  # a server that ignored "stream": one JSON completion
            else:
                yield from self._events(response, pause)
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
                error = transport_error(exc, self.model, self.provider, timeout)
            else:
                if response.status_code < 400:
                    return response, left
                try:
                    data = response.read()
                except httpx.HTTPError:
                    data = b""
                finally:
                    response.close()
                error = status_error(response.status_code, data, response, self.model, self.provider)
                if response.status_code not in RETRY_STATUSES:
                    raise error
                retry_headers = response.headers
            delay = next_retry(self.attempts - 1, self.num_retries, budget, retry_headers)
            if delay is None:
                error.num_retries = self.attempts - 1  # type: ignore[attr-defined]
                raise error
            self._sleep(delay)

    # -- the hot loop ----------------------------------------------------------------------------------------
    def _events(self, response: httpx.Response, timeout: float) -> Iterator[Delta]:
        """Parse SSE ``data:`` lines; one Delta per network read, so a burst costs one yield, not hundreds."""
        usage: Usage | None = None
        finish: str | None = None
        done = False
        pending = b""
        loads = json.loads
        try:
            for block in response.iter_bytes():
                lines = (pending + block).split(b"\n") if pending else block.split(b"\n")
                pending = lines.pop()
                texts: list[str] = []
                try:
                    for line in lines:
                        if line[:5] != b"data:":
                            continue  # blank separators, ": keep-alive" comments, event:/id: fields
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            done = True
                            break
                        try:
                            chunk = loads(payload)
                        except ValueError:
                            raise BrokenStream("malformed", "sent a chunk that is not valid JSON") from None
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
                                texts.append(text)
                            finish = choice.get("finish_reason") or finish
                        if chunk.get("usage"):
                            usage = _usage(chunk["usage"])
                except Exception as exc:
                    if texts:  # what arrived before the bad line is part of the partial answer too
                        yield Delta(text="".join(texts))
                    if isinstance(exc, AttributeError | TypeError | IndexError):  # JSON, but the wrong shape
                        raise BrokenStream("malformed", "sent a chunk that is not a chat completion chunk") from None
                    raise
                if texts:
                    yield Delta(text="".join(texts))
                if done:
                    break
        except httpx.TimeoutException:
            raise BrokenStream("stalled", f"stopped sending for {timeout:g} s in the middle of the answer") from None
        except (httpx.RemoteProtocolError, httpx.NetworkError):
            raise BrokenStream("cut", "closed the connection in the middle of the answer") from None
        if not done and finish is None:  # a clean end after a finish_reason is fine; silence before it is not
            raise BrokenStream("cut", "ended the stream before the answer was complete")
        yield Delta(usage=usage or Usage(exact=False), finish_reason=finish or "stop")

    def _whole(self, response: httpx.Response) -> Iterator[Delta]:
        try:
            data = json.loads(response.read())
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise BrokenStream("malformed", "answered with JSON that is not a chat completion") from None
        if message.get("content"):
            yield Delta(text=message["content"])
        usage = _usage(data["usage"]) if data.get("usage") else Usage(exact=False)
        yield Delta(usage=usage, finish_reason=data["choices"][0].get("finish_reason") or "stop")

    def _stream_error(self, error: Any, response: httpx.Response) -> Exception:
        """An error event inside a 200 stream (vLLM and LiteLLM proxies send these): same types as a status."""
        body = json.dumps({"error": error}).encode()
        code = error.get("code") if isinstance(error, dict) else None
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() else 500
        return status_error(status, body, response, self.model, self.provider)


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage(exact=False)
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0), exact=True)
