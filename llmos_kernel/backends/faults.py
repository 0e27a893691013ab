"""Provider faults in neutral terms: what went wrong (a ``kind``), from an HTTP status or a transport failure.

The httpx fast path raises ``ProviderFault`` rather than litellm's exception types: building those means
importing litellm (3-4 s), which the fast path exists to avoid, on the very path where a user waits for an
answer. ``kind_of`` reads litellm's types too (the litellm.completion path raises them), without importing
litellm: an exception can only be one of its types once litellm is loaded. So provider_errors words both paths
alike, and the retry rule is one rule.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

# The kinds, and which of them are worth a retry before any text arrived.
TRANSIENT = frozenset({"rate_limit", "server", "timeout", "connection"})
_BY_STATUS = {400: "bad_request", 401: "auth", 403: "permission", 404: "not_found", 408: "timeout",
              413: "bad_request", 422: "bad_request", 429: "rate_limit", 504: "timeout"}

# How providers word "the request is longer than the context window": litellm's own list
# (ExceptionCheckers.is_error_str_context_window_exceeded), plus llama.cpp's server.
_CONTEXT_WORDS = (
    "exceed context limit",
    "maximum context length",
    "model's maximum context limit",
    "is longer than the model's context length",
    "input tokens exceed the configured limit",
    "`inputs` tokens + `max_new_tokens` must be",
    "exceeds the maximum number of tokens allowed",
    "exceeds the available context size",
)


class ProviderFault(Exception):
    """A provider answered with an error status, or could not be reached; ``kind`` says which fault it is:
    auth, permission, not_found, context, bad_request, rate_limit, server, timeout, connection or other."""

    def __init__(self, kind: str, message: str, *, status: int | None = None, code: str = "",
                 headers: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.status = status
        self.code = code
        self.headers = dict(headers) if headers else None  # Retry-After lives here
        self.message = message
        super().__init__(message)


def is_context_error(message: str, code: str = "") -> bool:
    if code == "context_length_exceeded":
        return True
    text = message.lower()
    if "string_above_max_length" in text or ("invalid 'user'" in text and "string too long" in text):
        return False  # a parameter that is too long, not the prompt (litellm makes the same exception)
    return any(words in text for words in _CONTEXT_WORDS) or ("current length is" in text and "while limit is" in text)


def kind_for_status(status: int, message: str = "", code: str = "") -> str:
    if status in (400, 413) and is_context_error(message, code):
        return "context"
    return _BY_STATUS.get(status) or ("server" if status >= 500 else "other")


def error_fields(body: bytes) -> tuple[str, str]:
    """(message, code) from an OpenAI-style error body, or the body text when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth (a hostile body)
        return body[:2000].decode("utf-8", "replace").strip()[:500], ""
    try:
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or json.dumps(error)[:500]
            code = str(error.get("code") or "")[:100]
            # A LiteLLM proxy's code is the status again ("400"); its type names the fault (no_db_connection, ...).
            return str(message), str(code if code and not code.isdigit() else error.get("type") or code)[:100]
        return str(error)[:500], ""
    except RecursionError:  # a message nested too deeply to print
        return "an error whose message is nested too deeply to show", ""


def status_fault(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> ProviderFault:
    """The fault for an HTTP error status and its (OpenAI-style) error body."""
    message, code = error_fields(body)
    return ProviderFault(kind_for_status(status, message, code), message, status=status, code=code,
                         headers=headers)


def _litellm_kinds(litellm: Any) -> tuple[tuple[type, str], ...]:
    # Order matters: ContextWindowExceededError is a BadRequestError.
    return (
        (litellm.ContextWindowExceededError, "context"),
        (litellm.BadRequestError, "bad_request"),
        (litellm.AuthenticationError, "auth"),
        (litellm.PermissionDeniedError, "permission"),
        (litellm.NotFoundError, "not_found"),
        (litellm.UnprocessableEntityError, "bad_request"),
        (litellm.RateLimitError, "rate_limit"),
        (litellm.Timeout, "timeout"),
        (litellm.APIConnectionError, "connection"),
        (litellm.ServiceUnavailableError, "server"),
        (litellm.InternalServerError, "server"),
        (litellm.BadGatewayError, "server"),
    )


def kind_of(exc: BaseException) -> str | None:
    """The fault kind of a ProviderFault or of one of litellm's exceptions; None for anything else."""
    if isinstance(exc, ProviderFault):
        return exc.kind
    litellm = sys.modules.get("litellm")  # never imported here: unloaded, it cannot have raised anything
    if litellm is None or not hasattr(litellm, "APIError"):
        return None
    for cls, kind in _litellm_kinds(litellm):
        if isinstance(exc, cls):
            return kind
    if isinstance(exc, litellm.APIError):
        status = getattr(exc, "status_code", None)
        return kind_for_status(status, str(exc)) if isinstance(status, int) else "other"
    return None


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None) if isinstance(exc, ProviderFault) else getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None
