"""Map litellm's exception types to one clear message: what failed, for which model, what to do.

Both streaming paths (litellm.completion and the httpx fast path in openai_stream) raise litellm's exception
types, so this is the one place that turns a provider fault into words, and that decides what is worth a retry.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Mapping

from ..errors import MissingAPIKey, ModelNotFound, ProviderError, UserFacingError
from ..redact import is_secret, redact, secret_values  # noqa: F401  (re-exported)
from .litellm_loader import get_litellm

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


def short_detail(exc: BaseException, limit: int = 300) -> str:
    """The provider's own words for an error, one line, without litellm's prefixes and without keys."""
    text = str(getattr(exc, "message", "") or exc)
    text = _PREFIXES.sub("", text.strip()).replace("litellm.", "").split("\n")[0].strip()
    return redact(text[:limit])


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
    litellm = get_litellm()
    if isinstance(exc, litellm.ContextWindowExceededError | litellm.BadRequestError):
        return False
    transient = (litellm.RateLimitError, litellm.InternalServerError, litellm.ServiceUnavailableError,
                 litellm.BadGatewayError, litellm.APIConnectionError, litellm.Timeout)
    if isinstance(exc, transient):
        return True
    return isinstance(exc, litellm.APIError) and getattr(exc, "status_code", None) in RETRY_STATUSES


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
}


def explain(exc: Exception, model: str, *, api_base: str | None = None) -> UserFacingError:
    litellm = get_litellm()
    where = f" at {api_base}" if api_base else ""
    detail = short_detail(exc)
    if isinstance(exc, BrokenStream):
        return StreamCut(f"{model}{where} {detail}", model=model, hint=_BROKEN_HINTS.get(exc.kind))
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ContextTooLong(f"{model} rejected the request as too long: {detail}", model=model,
                              hint="Evict or compact memory (%memory, %compact), or lower %window.")
    if isinstance(exc, litellm.AuthenticationError):
        return MissingAPIKey(f"{model}{where} rejected the API key (401)", model=model,
                             hint="Check the key in the provider's environment variable; it is never shown here.")
    if isinstance(exc, litellm.PermissionDeniedError):
        return ProviderError(f"{model}{where} denied access (403): {detail}", model=model,
                             hint="The key has no access to this model.")
    if isinstance(exc, litellm.NotFoundError):
        return ModelNotFound(f"{model}{where} was not found by the provider (404): {detail}", model=model,
                             hint="Check the model name (%models lists what is set up).")
    if isinstance(exc, litellm.RateLimitError):
        return ProviderError(f"{model}{where} is rate limited (429) and retries ran out: {detail}", model=model,
                             hint="Wait a moment and run the cell again, or switch model with %model.")
    if isinstance(exc, litellm.Timeout):
        return ProviderError(f"{model}{where} did not answer in time: {detail}", model=model,
                             hint="Run the cell again, or raise the timeout (%%prompt --timeout S).")
    if isinstance(exc, litellm.APIConnectionError):
        return ProviderError(f"could not talk to {model}{where}: {detail}", model=model,
                             hint="Check the network or the server address (--api-base), then run again.")
    if isinstance(exc, litellm.ServiceUnavailableError | litellm.InternalServerError | litellm.BadGatewayError):
        return ProviderError(f"{model}{where} had a server error and retries ran out: {detail}", model=model,
                             hint="The provider is having trouble; run again later or switch model.")
    if isinstance(exc, litellm.BadRequestError):
        return ProviderError(f"{model}{where} rejected the request (400): {detail}", model=model,
                             hint="Check the cell's options (temperature, max tokens) for this model.")
    if isinstance(exc, UserFacingError):
        return exc
    return ProviderError(f"{model}{where} failed: {type(exc).__name__}: {detail}", model=model)
