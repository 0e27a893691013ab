"""A LiteLLM proxy's own answers, byte for byte as litellm 1.82.6 sends them, through the real httpx stream path.

The three-tier tests (tests/proxy) meet most of these from the real proxy; a spent budget needs the proxy's
database, so its exact error body is replayed here instead.
"""

from __future__ import annotations

import json

import httpx
import pytest

from llmos_kernel.backends.endpoints import Route
from llmos_kernel.backends.faults import ProviderFault, error_fields
from llmos_kernel.backends.openai_stream import OpenAIStream
from llmos_kernel.backends.provider_errors import explain
from llmos_kernel.backends.proxy_faults import BudgetExhausted, RateLimited, reported_cost
from llmos_kernel.errors import KeyRejected, ProviderError

URL = "http://127.0.0.1:4000/v1/chat/completions"
ROUTE = Route(URL, "TEAM_KEY", "litellm_proxy", own_endpoint=False)
MODEL = "litellm_proxy/team-smol"


def proxy(status: int, payload: dict | bytes, headers: dict[str, str] | None = None) -> tuple[OpenAIStream, list]:
    """A stream whose every request gets this answer; returns it and the list of its sleeps (its retries)."""
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        kind = "text/event-stream" if status == 200 else "application/json"
        return httpx.Response(status, headers={"content-type": kind, **(headers or {})}, content=content)

    slept: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAIStream(num_retries=2, sleep=slept.append, client_factory=lambda: client), slept


def failure(status: int, error: dict, headers: dict[str, str] | None = None) -> tuple[Exception, OpenAIStream, list]:
    stream, slept = proxy(status, {"error": error}, headers)
    with pytest.raises(ProviderFault) as info:
        list(stream.stream(URL, {"model": "team-smol"}, {}, 30.0))
    return explain(info.value, MODEL, route=ROUTE), stream, slept


def test_no_db_connection_means_the_key_was_not_accepted():
    error, stream, _ = failure(400, {"message": "No connected db.", "type": "no_db_connection", "param": None,
                                     "code": "400"})
    assert isinstance(error, KeyRejected)
    assert "did not accept the key in TEAM_KEY" in str(error) and "master key" in str(error)
    assert stream.attempts == 1  # a 4xx is never retried


@pytest.mark.parametrize("kind", ["expired_key", "token_not_found_in_db"])
def test_expired_or_unknown_virtual_keys_are_not_accepted(kind):
    error, _, _ = failure(401, {"message": "Authentication Error", "type": kind, "param": None, "code": "401"})
    assert isinstance(error, KeyRejected) and kind in str(error)


def test_a_spent_budget_is_one_message_and_not_retried():
    error, stream, _ = failure(400, {"message": "Budget has been exceeded! Current cost: 0.052, Max budget: 0.05",
                                     "type": "budget_exceeded", "param": None, "code": "400"})
    assert isinstance(error, BudgetExhausted) and error.title == "Budget exhausted"
    assert "budget is spent" in str(error) and "Max budget: 0.05" in str(error)
    assert stream.attempts == 1


def test_the_rpm_limit_is_retried_with_backoff_then_named():
    body = {"message": "litellm.RateLimitError: Model rate limit exceeded. RPM limit=2, current usage=3. Received "
                       "Model Group=team-smol-limited\nAvailable Model Group Fallbacks=None",
            "type": "throttling_error", "param": None, "code": "429"}
    error, stream, slept = failure(429, body, {"llm_provider-retry-after": "60", "x-litellm-call-id": "c1"})
    assert stream.attempts == 3 and len(slept) == 2 and max(slept) < 2  # our backoff, not the proxy's 60 s
    assert isinstance(error, RateLimited)
    text = error.render()
    assert "limits team-smol-limited to 2 requests a minute (RPM limit)" in text and "retried 2 times" in text
    assert "suggests waiting 60 s" in text


def test_a_model_behind_the_proxy_that_is_down():
    body = {"message": "litellm.InternalServerError: InternalServerError: OpenAIException - Connection error.. "
                       "Received Model Group=team-smol", "type": None, "param": None, "code": "500"}
    error, stream, _ = failure(500, body, {"x-litellm-call-id": "c2"})
    assert stream.attempts == 3
    assert isinstance(error, ProviderError) and "cannot reach the model behind litellm_proxy/team-smol" in str(error)


def test_the_proxys_cost_header_becomes_the_usage_cost():
    events = (b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
              b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
              b'"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n')
    stream, _ = proxy(200, events, {"x-litellm-response-cost": "0.0123"})
    assert list(stream.stream(URL, {}, {}, 5.0))[-1].usage.cost == 0.0123
    stream, _ = proxy(200, events, {"x-litellm-response-cost-original": "0.0"})  # a stream's headers: no cost
    assert list(stream.stream(URL, {}, {}, 5.0))[-1].usage.cost is None
    assert reported_cost({"x-litellm-response-cost": "n/a"}) is None


def test_error_codes_keep_their_meaning():
    assert error_fields(b'{"error":{"message":"m","type":"invalid_request_error","code":"invalid_api_key"}}') == (
        "m", "invalid_api_key")
    assert error_fields(b'{"error":{"message":"m","type":"budget_exceeded","code":"400"}}') == ("m", "budget_exceeded")
    assert error_fields(b'{"error":{"message":"m","type":null,"code":"500"}}') == ("m", "500")
