"""provider_errors: the words a user sees, what is retried and how long we wait, and where keys are hidden."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from llmos_kernel.backends import provider_errors as pe
from llmos_kernel.backends.endpoints import Route
from llmos_kernel.backends.faults import ProviderFault, kind_of, status_fault
from llmos_kernel.errors import KeyRejected, ModelNotFound, ProviderError
from llmos_kernel.redact import redact


def test_redact_hides_key_shapes_masked_echoes_and_environment_secrets(monkeypatch):
    monkeypatch.setenv("ODD_PROVIDER_API_KEY", "q7Wz-odd-shaped-secret-99")
    text = ("Incorrect API key provided: sk-abc***************wxyz. raw sk-live-0123456789abcdef, "
            "AIzaSyA1234567890abcdef, Authorization: Bearer tok_123, env q7Wz-odd-shaped-secret-99")
    clean = redact(text)
    for secret in ("wxyz", "0123456789abcdef", "AIzaSy", "tok_123", "q7Wz-odd"):
        assert secret not in clean
    assert "Incorrect API key provided" in clean


@pytest.mark.parametrize(
    ("message", "window", "expected"),
    [
        ("This model's maximum context length is 1500 tokens. However, your messages resulted in 2600 tokens.",
         16000, 1500),
        ("This model's maximum context length is 8,192 tokens. However, you requested 9,000 tokens (8000 in the "
         "messages, 1000 in the completion).", 8192, 7384),  # our count was low: shrink by the overshoot too
        ("prompt is too long: 210000 tokens > 200000 maximum", 200000, 190000),
        ("Input is too long for this model.", 16000, 12000),  # no numbers: a quarter less
        ("maximum context length is 32000 tokens", 16000, 12000),  # a limit above ours: ours was the problem
    ],
)
def test_fitted_window(message, window, expected):
    assert pe.fitted_window(message, window) == expected


def test_retry_after_forms():
    assert pe.retry_after({"Retry-After": "3"}) == 3.0
    assert pe.retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= pe.retry_after({"retry-after": date}) <= 31
    assert pe.retry_after({"retry-after": "soon"}) is None
    assert pe.retry_after(None) is None


def test_backoff_grows_is_capped_and_refuses_long_waits():
    delays = [pe.backoff_delay(n) for n in range(8)]
    assert 0.4 <= delays[0] <= 0.5 and 0.8 <= delays[1] <= 1.0 and delays[7] <= pe.BACKOFF_CAP
    assert pe.backoff_delay(0, {"retry-after": "2"}) == 2.0
    assert pe.backoff_delay(0, {"retry-after": "3600"}) is None


def error_body(message: str, code: str | None = None) -> bytes:
    return httpx.Response(200, json={"error": {"message": message, "code": code}}).content


@pytest.mark.parametrize(
    ("status", "message", "code", "user_error", "words", "transient"),
    [
        (401, "Incorrect API key provided: sk-abc****wxyz", "invalid_api_key", KeyRejected, "401", False),
        (403, "no access", None, ProviderError, "403", False),
        (404, "The model `x` does not exist", "model_not_found", ModelNotFound, "404", False),
        (400, "maximum context length is 10 tokens", "context_length_exceeded", pe.ContextTooLong, "too long",
         False),
        (400, "temperature out of range", None, ProviderError, "400", False),
        (429, "slow down", None, ProviderError, "429", True),
        (500, "oops", None, ProviderError, "server error", True),
        (502, "bad gateway", None, ProviderError, "server error", True),
        (503, "overloaded", None, ProviderError, "server error", True),
        (504, "gateway timeout", None, ProviderError, "in time", True),
    ],
)
def test_status_errors_become_one_clear_message(status, message, code, user_error, words, transient):
    exc = status_fault(status, error_body(message, code))
    assert pe.is_transient(exc) is transient
    shown = pe.explain(exc, "openai/x")
    assert type(shown) is user_error
    rendered = shown.render()
    assert "openai/x" in rendered and words in rendered and shown.hint
    assert "litellm." not in rendered and "Error:" not in rendered.split(": ", 1)[1]
    assert "wxyz" not in rendered and "sk-abc" not in rendered


def test_broken_streams_explain_what_happened():
    for kind in ("cut", "stalled", "malformed"):
        shown = pe.explain(pe.BrokenStream(kind, "closed the connection"), "openai/x", api_base="http://h/v1")
        assert isinstance(shown, pe.StreamCut) and "http://h/v1" in str(shown) and shown.hint


def test_next_retry_stops_at_the_limit_and_at_the_budget():
    assert pe.next_retry(0, 2, None) is not None and pe.next_retry(2, 2, None) is None
    assert pe.next_retry(0, 2, pe.Budget(10.0)) is not None
    assert pe.next_retry(0, 2, pe.Budget(0.9)) is None  # 0.4-0.5 s of backoff leaves under MIN_ATTEMPT
    assert pe.next_retry(0, 2, pe.Budget(10.0), {"retry-after": "30"}) is None  # the wait outlasts the budget
    budget = pe.Budget(0.2)
    assert budget.left() == pytest.approx(0.2, abs=0.05)  # a first attempt gets the whole timeout


def litellm_errors():
    """One of litellm's own exception types per fault, built as its exception mapping builds them."""
    import litellm

    kw = {"message": "words from the provider", "model": "openai/x", "llm_provider": "openai"}
    request = httpx.Request("POST", "http://h/v1/chat/completions")

    def response(status: int) -> httpx.Response:
        return httpx.Response(status, request=request)

    return [
        (401, litellm.AuthenticationError(response=response(401), **kw)),
        (403, litellm.PermissionDeniedError(response=response(403), **kw)),
        (404, litellm.NotFoundError(response=response(404), **kw)),
        (400, litellm.BadRequestError(response=response(400), **kw)),
        (429, litellm.RateLimitError(response=response(429), **kw)),
        (500, litellm.InternalServerError(response=response(500), **kw)),
        (503, litellm.ServiceUnavailableError(response=response(503), **kw)),
        (504, litellm.Timeout(**kw)),
        (None, litellm.APIConnectionError(**kw)),
    ]


def test_litellm_exceptions_are_worded_and_retried_like_the_fast_paths_faults():
    for status, exc in litellm_errors():
        fault = status_fault(status, error_body("words from the provider")) if status else \
            ProviderFault("connection", "words from the provider")
        assert kind_of(exc) == fault.kind, exc
        assert pe.is_transient(exc) is pe.is_transient(fault)
        ours, theirs = pe.explain(fault, "openai/x"), pe.explain(exc, "openai/x")
        assert type(ours) is type(theirs) and str(ours).split(":")[0] == str(theirs).split(":")[0]


def rejected(route: Route | None) -> str:
    shown = pe.explain(status_fault(401, error_body("Incorrect API key provided: sk-ab****wxyz")), "openai/m",
                       api_base="http://user:pw@10.0.0.5:8000/v1", route=route)
    text = shown.render()
    assert "wxyz" not in text and "pw@" not in text
    return f"{type(shown).__name__}: {text}"


def test_a_401_says_whose_key_was_rejected_and_by_whom():
    text = rejected(Route("https://api.openai.com/v1/chat/completions", "OPENAI_API_KEY", "openai", True))
    assert text.startswith("KeyRejected") and "api.openai.com rejected the key in OPENAI_API_KEY" in text
    text = rejected(Route("http://user:pw@10.0.0.5:8000/v1/chat/completions", "MY_CRED", "openai", False))
    assert text.startswith("KeyRejected") and "10.0.0.5:8000 rejected the key in MY_CRED" in text
    assert "Missing" not in text


def test_a_401_without_a_key_says_none_was_sent_and_how_to_name_one():
    text = rejected(Route("http://user:pw@10.0.0.5:8000/v1/chat/completions", None, "openai", False))
    assert text.startswith("MissingAPIKey") and "10.0.0.5:8000 asked openai/m for an API key" in text
    assert "none was sent" in text and "--api-key-env VAR" in text
    text = rejected(Route("", None, "anthropic", True))
    assert text.startswith("MissingAPIKey") and "anthropic asked" in text


def test_the_value_of_a_named_key_variable_is_never_shown(monkeypatch):
    monkeypatch.setenv("TEAM_PROXY_CRED", "plain-looking-value-42")  # a name that does not look secret
    route = Route("http://h/v1/chat/completions", "TEAM_PROXY_CRED", "openai", False)
    exc = status_fault(400, error_body("bad value plain-looking-value-42 in header"))
    text = pe.explain(exc, "openai/m", route=route).render()
    assert "plain-looking-value-42" not in text and "bad value" in text
