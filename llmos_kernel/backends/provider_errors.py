"""Turn a provider fault into one clear message: what failed, for which model, what to do.

Both streaming paths end here: the httpx fast path raises faults.ProviderFault, the litellm.completion path
litellm's exception types; ``faults.kind_of`` reads both, so a fault is worded and retried the same way
whichever path met it, and nothing here imports litellm.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Mapping

from ..errors import KeyRejected, MissingAPIKey, ModelNotFound, ProviderError, UserFacingError
from ..redact import redact, secret_values
from .endpoints import KEY_HINT, PROVIDERS, Route
from .faults import TRANSIENT, kind_of, status_of
from .proxy_faults import explain_proxy

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5  # seconds before the first retry; doubles each time
BACKOFF_CAP = 8.0
# A Retry-After longer than this is not waited for: a cell blocked for minutes looks like a hang, and the
# message tells the user to run again later instead.
MAX_RETRY_AFTER = 60.0
# The cell's timeout is one budget across attempts; a retry with less than this left is not worth sending.
MIN_ATTEMPT = 0.5

# litellm's message prefixes ("litellm.RateLimitError: RateLimitError: OpenAIException - "): noise to a user.
_PREFIXES = re.compile(r"^(?:(?:litellm\.)?[A-Za-z]*(?:Error|Exception|Timeout)\s*[:\-]\s*)+")


def short_detail(exc: BaseException, limit: int = 300, key_vars: tuple[str, ...] = ()) -> str:
    """The provider's own words for an error, one line, without litellm's prefixes and without keys."""
    text = str(getattr(exc, "message", "") or exc)
    text = _PREFIXES.sub("", text.strip()).replace("litellm.", "").split("\n")[0].strip()
    return redact(text[:limit], secret_values(extra_names=key_vars))


class BrokenStream(Exception):
    """The answer started streaming and then broke: ``kind`` is "cut", "stalled" or "malformed"."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        super().__init__(detail)


class ContextTooLong(ProviderError):
    """The provider says the request exceeds its context window; the runtime shrinks the plan and retries."""

    title = "Context too long"


class StreamCut(ProviderError):
    """The answer broke off mid-stream (cut, stalled or mangled); the runtime keeps the partial text visible."""

    title = "Stream broken"


def is_transient(exc: BaseException) -> bool:
    """Worth retrying (before any text arrived): rate limits, server errors, timeouts, dropped connections."""
    return kind_of(exc) in TRANSIENT


# OpenAI, vLLM and most OpenAI-compatible servers: "maximum context length is N tokens"; Anthropic: "> N maximum".
_LIMIT = re.compile(r"(?:maximum context length|context limit|context window)\D{0,20}?(\d[\d,]*)\s*tokens"
                    r"|tokens\s*>\s*(\d[\d,]*)\s*maximum", re.I)
_ASKED = re.compile(r"(?:resulted in|you requested|requested|prompt has|prompt is)\D{0,12}?(\d[\d,]*)\s*tokens",
                    re.I)


def fitted_window(message: str, window: int) -> int:
    """A window that should fit, after a provider said a request planned for ``window`` was too long.

    The provider's limit when it names one ("maximum context length is N tokens"); smaller still when it also
    says by how much we overshot (our token count was then an underestimate); without numbers, a quarter less.
    """

    def number(pattern: re.Pattern[str]) -> int | None:
        found = pattern.search(message)
        digits = next((g for g in found.groups() if g), None) if found else None
        return int(digits.replace(",", "")) if digits else None

    limit, asked = number(_LIMIT), number(_ASKED)
    candidates = [limit] if limit else []
    if limit and asked and asked > limit:
        candidates.append(window - (asked - limit))
    fitted = min(candidates, default=window)
    return fitted if 0 < fitted < window else window * 3 // 4


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, Retry-After seconds or HTTP date), if it said."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    try:
        if lower.get("retry-after-ms"):
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
        value = lower.get("retry-after")
        if not value:
            return None
        if value.replace(".", "", 1).isdigit():
            return float(value)
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError, OverflowError):
        return None  # unreadable: fall back to our own backoff


def backoff_delay(attempt: int, headers: Mapping[str, str] | None = None) -> float | None:
    """Seconds before retry number ``attempt + 1``; None when the server asked for a wait too long to block."""
    asked = retry_after(headers)
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER else None
    # Jitter spreads out the retries of several kernels that hit the same rate limit at once.
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.8, 1.0)


class Budget:
    """The cell's timeout as one budget across attempts: --timeout 2 gives up after about 2 s, not after three
    attempts of 2 s each."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def left(self) -> float:
        """Seconds this attempt may wait: the whole timeout on the first, what remains on a retry."""
        return max(self.deadline - time.monotonic(), min(self.timeout, MIN_ATTEMPT))

    def allows(self, delay: float) -> bool:
        return time.monotonic() + delay + MIN_ATTEMPT <= self.deadline


def next_retry(
    attempt: int, num_retries: int, budget: Budget | None, headers: Mapping[str, str] | None = None
) -> float | None:
    """Seconds to wait before retry number ``attempt + 1``, or None when there is none: the retries are used up,
    the server asked for too long a wait, or the budget has no room for another attempt."""
    if attempt >= num_retries:
        return None
    delay = backoff_delay(attempt, headers)
    if delay is None or (budget is not None and not budget.allows(delay)):
        return None
    return delay


def retry_headers(exc: BaseException) -> Mapping[str, str] | None:
    """The response headers an exception carries (for Retry-After), whichever attribute litellm used."""
    for attr in ("litellm_response_headers", "headers"):
        headers = getattr(exc, attr, None)
        if isinstance(headers, Mapping) and headers:
            return headers
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if headers else None


_BROKEN_HINTS = {
    "cut": "The partial answer is shown but not kept in memory; run the cell again.",
    "stalled": "The partial answer is shown but not kept in memory; run the cell again, or raise the timeout "
    "(%%prompt --timeout S).",
    "malformed": "The server or a proxy in between mangled the stream; run the cell again.",
    # limits.py: the caps, and the environment variables that set them
    "oversized": "The part that fits is shown but not kept in memory. The caps count characters: --max-tokens N "
    "lowers the answer's to 32 x N (at least 64 Ki); LLMOS_MAX_ANSWER_CHARS and LLMOS_MAX_ARGUMENT_CHARS in the "
    "kernel's environment set the ceilings.",
}


def explain(exc: Exception, model: str, *, api_base: str | None = None, route: Route | None = None
            ) -> UserFacingError:
    """One clear message for ``exc``; ``route`` says where the request went and with which key (for a 401)."""
    if isinstance(exc, UserFacingError):
        return exc
    where = f" at {redact(api_base)}" if api_base else ""  # never a user:password from the URL
    detail = short_detail(exc, key_vars=(route.key_var,) if route and route.key_var else ())
    if isinstance(exc, BrokenStream):
        return StreamCut(f"{model}{where} {detail}", model=model, hint=_BROKEN_HINTS.get(exc.kind))
    proxied = explain_proxy(exc, model, route, detail)  # a LiteLLM proxy's own error types (proxy_faults.py)
    if proxied is not None:
        return proxied
    kind = kind_of(exc)
    status = status_of(exc)
    if kind == "auth":
        return _unauthorized(model, route)
    if kind == "context":
        return ContextTooLong(f"{model} rejected the request as too long: {detail}", model=model,
                              hint="Evict or compact memory (%memory, %compact), or lower %window.")
    if kind in _KIND_WORDS:
        cls, words, hint = _KIND_WORDS[kind]
        return cls(words.format(model=model, where=where, detail=detail, status=status or 400), model=model,
                   hint=hint)
    code = f" ({status})" if status else ""
    return ProviderError(f"{model}{where} failed{code}: {type(exc).__name__}: {detail}", model=model)


_KIND_WORDS: dict[str, tuple[type[UserFacingError], str, str]] = {
    "permission": (ProviderError, "{model}{where} denied access (403): {detail}",
                   "The key has no access to this model."),
    "not_found": (ModelNotFound, "{model}{where} was not found by the provider (404): {detail}",
                  "Check the model name (%models lists what is set up)."),
    "rate_limit": (ProviderError, "{model}{where} is rate limited (429) and retries ran out: {detail}",
                   "Wait a moment and run the cell again, or switch model with %model."),
    "timeout": (ProviderError, "{model}{where} did not answer in time: {detail}",
                "Run the cell again, or raise the timeout (%%prompt --timeout S)."),
    "connection": (ProviderError, "cannot reach {model}{where}: {detail}",
                   "Check the network or the server address (--api-base), then run again."),
    "server": (ProviderError, "{model}{where} had a server error and retries ran out: {detail}",
               "The provider is having trouble; run again later or switch model."),
    "bad_request": (ProviderError, "{model}{where} rejected the request ({status}): {detail}",
                    "Check the cell's options (temperature, max tokens) for this model."),
}


def _unauthorized(model: str, route: Route | None) -> UserFacingError:
    """401: say whose key was rejected and by whom, or that none was sent and how to send one; never the key."""
    if route is None:
        return KeyRejected(f"{model} was refused: the provider rejected the API key (401)", model=model,
                           hint="Check the key in the provider's environment variable; it is never shown here.")
    who = route.who
    if route.key_var is None:
        own_var = PROVIDERS[route.provider].key_var if route.own_endpoint and route.provider in PROVIDERS else None
        hint = KEY_HINT.format(var=own_var) if own_var else (
            "A server given with --api-base gets a key only when you name the variable that holds it: "
            f"%model {model} --api-base URL --api-key-env VAR")
        return MissingAPIKey(f"{who} asked {model} for an API key (401), and none was sent", model=model, hint=hint)
    return KeyRejected(f"{who} rejected the key in {route.key_var} for {model} (401)", model=model,
                       hint=f"Check the value of {route.key_var} (it is never shown here), and that it is "
                            f"meant for {who}.")
