"""Tests for the OpenAI-compatible fault-injecting test server (tests/support/openai_server.py).

They talk to it over real loopback HTTP with httpx, the openai SDK and litellm, because the point of the
server is that those clients cannot tell it from the real API.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.openai_server import FAULTS, OpenAIServer, estimate_prompt_tokens, split_words
from tests.support.waits import wait_until

# Every test here is about loopback timing; one that exceeds this is a hang worth failing loudly.
pytestmark = pytest.mark.timeout(60)

SERVER_SCRIPT = Path(__file__).with_name("openai_server.py")
AUTH = {"Authorization": "Bearer sk-test"}
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def chat_body(stream: bool = False, messages: list[dict[str, Any]] | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {"model": "test", "messages": messages or MESSAGES, **extra}
    if stream:
        body["stream"] = True
    return body


def read_sse(response: httpx.Response) -> list[str]:
    """The payloads of the ``data:`` lines of an SSE response, as a plain client would read them."""
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def stream_chat(client: httpx.Client, url: str, **extra: Any) -> tuple[httpx.Response, list[str]]:
    with client.stream("POST", f"{url}/chat/completions", json=chat_body(True, **extra), headers=AUTH) as r:
        return r, read_sse(r)


def contents(payloads: list[str]) -> list[str]:
    out = []
    for p in payloads:
        if p == "[DONE]":
            continue
        for choice in json.loads(p)["choices"]:
            if choice["delta"].get("content"):
                out.append(choice["delta"]["content"])
    return out


# --------------------------------------------------------------------------- normal replies


def test_stream_has_openai_chunk_format(server: OpenAIServer, client: httpx.Client) -> None:
    assert server.queue_reply("Hello there world") == "Hello there world"
    r, payloads = stream_chat(client, server.url)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["transfer-encoding"] == "chunked"
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    for c in chunks:
        assert c["object"] == "chat.completion.chunk"
        assert isinstance(c["created"], int)
        assert c["model"] == "test"
        assert "usage" not in c  # only present when stream_options.include_usage asks for it
        assert [ch["index"] for ch in c["choices"]] == [0]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert contents(payloads) == ["Hello", " there", " world"]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, None, "stop"]
    assert chunks[-1]["choices"][0]["delta"] == {}


def test_stream_usage_chunk_when_requested(server: OpenAIServer, client: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},  # 14 chars
        {"role": "user", "content": [{"type": "text", "text": "Say hello please"}]},  # 16 chars
    ]
    # 30 chars // 4 + 3 per message
    assert estimate_prompt_tokens(messages) == 7 + 6
    server.queue_reply("Hi there!")
    _, payloads = stream_chat(client, server.url, messages=messages, stream_options={"include_usage": True})
    assert payloads[-1] == "[DONE]"
    usage_chunk = json.loads(payloads[-2])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 13, "completion_tokens": 3, "total_tokens": 16}
    final = json.loads(payloads[-3])
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["usage"] is None  # like the real API: usage null on every chunk but the last


def test_queued_usage_overrides_estimate(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_reply("ok", usage={"prompt_tokens": 1000, "completion_tokens": 7})
    server.queue_reply("ok", usage={"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 99})
    _, payloads = stream_chat(client, server.url, stream_options={"include_usage": True})
    assert json.loads(payloads[-2])["usage"] == {
        "prompt_tokens": 1000,
        "completion_tokens": 7,
        "total_tokens": 1007,
    }
    r = client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert r.json()["usage"]["total_tokens"] == 99


def test_non_stream_completion(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_reply("Plain answer.", finish_reason="length")
    r = client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content)
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "test"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "Plain answer.", "refusal": None}
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_default_reply_echoes_last_user_message(server: OpenAIServer, client: httpx.Client) -> None:
    long = "x" * 30 + "0123456789" + "TAIL-NOT-ECHOED"
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": long},
    ]
    r = client.post(f"{server.url}/chat/completions", json=chat_body(messages=messages), headers=AUTH)
    assert r.json()["choices"][0]["message"]["content"] == "Echo: " + long[:40]
    _, payloads = stream_chat(client, server.url, messages=messages)
    assert "".join(contents(payloads)) == "Echo: " + long[:40]


def test_chunks_splits_text_evenly(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_reply("abcdefghij", chunks=3)
    _, payloads = stream_chat(client, server.url)
    assert contents(payloads) == ["abcd", "efg", "hij"]


def test_split_words_round_trips() -> None:
    for text in ["", "one", "  lead and trail  ", "a\nb\n\nc", "tab\there"]:
        assert "".join(split_words(text)) == text
    assert split_words("Hi there") == ["Hi", " there"]


def test_bulk_mode_streams_5000_chunks_fast(server: OpenAIServer, client: httpx.Client) -> None:
    expected = server.queue_reply(n_chunks=5000)
    # Bulk mode must ignore it: one honoured delay trips the client's 10 s read timeout (no clock in the test).
    server.chunk_delay = 3600.0
    _, payloads = stream_chat(client, server.url)
    pieces = contents(payloads)
    assert len(pieces) == 5000
    assert "".join(pieces) == expected
    assert payloads[-1] == "[DONE]"


def test_chunk_delay_and_reply_delay(server: OpenAIServer, client: httpx.Client) -> None:
    server.chunk_delay = 0.1
    server.queue_reply("a b c", delay=0.3)  # role + 3 words + stop + [DONE]: 5 gaps after the first
    start = time.monotonic()
    with client.stream("POST", f"{server.url}/chat/completions", json=chat_body(True), headers=AUTH) as r:
        headers_at = time.monotonic() - start
        payloads = read_sse(r)
    total = time.monotonic() - start
    assert headers_at >= 0.3
    assert total >= 0.3 + 5 * 0.1
    assert contents(payloads) == ["a", " b", " c"]


# --------------------------------------------------------------------------- HTTP error faults


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("fault", "status", "type_", "code"),
    [
        ("429", 429, "rate_limit_exceeded", "rate_limit_exceeded"),
        ("500", 500, "server_error", None),
        ("503", 503, "server_error", None),
        ("401", 401, "invalid_request_error", "invalid_api_key"),
        ("404", 404, "invalid_request_error", "model_not_found"),
        ("context_length", 400, "invalid_request_error", "context_length_exceeded"),
    ],
)
def test_http_error_faults(
    server: OpenAIServer,
    client: httpx.Client,
    fault: str,
    status: int,
    type_: str,
    code: str | None,
    stream: bool,
) -> None:
    server.queue_fault(fault)
    r = client.post(f"{server.url}/chat/completions", json=chat_body(stream), headers=AUTH)
    assert r.status_code == status
    # Errors are plain JSON even for stream requests, as with the real API.
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert err["type"] == type_
    assert err["code"] == code
    assert err["message"]
    if fault == "429":
        assert r.headers["retry-after"] == "0"
    else:
        assert "retry-after" not in r.headers
    if fault == "404":
        assert err["message"].startswith("The model `test` does not exist")
    if fault == "context_length":
        assert re.match(
            r"This model's maximum context length is 8192 tokens\. However, your messages resulted in "
            r"8193 tokens\.",
            err["message"],
        )
    assert server.attempts == 1
    assert server.requests[0]["outcome"] == fault
    # The fault was consumed: the next request gets the default reply.
    r2 = client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert r2.status_code == 200
    assert server.attempts == 2


def test_fault_kwargs(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_fault("429", retry_after=2, retry_after_ms=1500)
    server.queue_fault("404", model="gpt-9")
    server.queue_fault("context_length", limit=100, tokens=250)
    server.queue_fault("500", message="boom", should_retry=False)
    url = f"{server.url}/chat/completions"
    r = client.post(url, json=chat_body(), headers=AUTH)
    assert (r.headers["retry-after"], r.headers["retry-after-ms"]) == ("2", "1500")
    r = client.post(url, json=chat_body(), headers=AUTH)
    assert r.json()["error"]["message"].startswith("The model `gpt-9` does not exist")
    r = client.post(url, json=chat_body(), headers=AUTH)
    assert (
        "maximum context length is 100 tokens. However, your messages resulted in 250 tokens"
        in (r.json()["error"]["message"])
    )
    r = client.post(url, json=chat_body(), headers=AUTH)
    assert r.json()["error"]["message"] == "boom"
    assert r.headers["x-should-retry"] == "false"


def test_unknown_fault_is_rejected(server: OpenAIServer) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        server.queue_fault("teapot")
    with pytest.raises(ValueError, match="unknown fault"):
        server.set_fault_always("418")
    assert server.pending() == 0
    assert set(FAULTS) == {
        "429", "500", "503", "401", "404", "context_length", "hang", "stall", "cut", "malformed", "refuse"
    }  # fmt: skip


# --------------------------------------------------------------------------- connection-level faults


def test_hang_times_out_client(server: OpenAIServer) -> None:
    server.queue_fault("hang")
    with httpx.Client(timeout=httpx.Timeout(5, read=0.3)) as c, pytest.raises(httpx.ReadTimeout):
        c.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)  # a hang has no end of its own
    assert server.attempts == 1
    assert server.requests[0]["outcome"] == "hang"


def test_hang_with_seconds_answers_late(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_fault("hang", seconds=0.5, text="late")
    start = time.monotonic()
    r = client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert time.monotonic() - start >= 0.5
    assert r.json()["choices"][0]["message"]["content"] == "late"


def test_stall_pauses_mid_stream_then_resumes(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_fault("stall", seconds=0.6, after=1, text="one two three")
    arrivals: list[tuple[float, str]] = []
    start = time.monotonic()
    with client.stream("POST", f"{server.url}/chat/completions", json=chat_body(True), headers=AUTH) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic() - start, line[6:]))
    payloads = [p for _, p in arrivals]
    assert contents(payloads) == ["one", " two", " three"]
    assert payloads[-1] == "[DONE]"
    # " two" only after the stall (a lower bound: load only lengthens it); test_stall_holds_until_its_gate shows
    # that "one" leaves before it.
    assert arrivals[2][0] - arrivals[1][0] >= 0.5
    assert server.requests[0]["outcome"] == "stall"


def test_stall_holds_until_its_gate(server: OpenAIServer) -> None:
    gate, reached = threading.Event(), threading.Event()
    server.queue_fault("stall", after=1, text="one two three", gate=gate, reached=reached)
    host, port = server.url.removeprefix("http://").removesuffix("/v1").split(":")
    body = json.dumps(chat_body(True)).encode()
    # A raw socket, so the test sees exactly what the server has sent and when nothing more is coming.
    with socket.create_connection((host, int(port)), timeout=30) as sock:  # 30 s: the guard of every read
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer sk-test\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        before = b""
        while b'"content":"one"' not in before:
            before += sock.recv(65536)
        assert reached.wait(30)  # the server says it is holding
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):  # nothing more while the gate is shut (a server that does not hold
            sock.recv(65536)               # sends " two" at once; a slow one can only make this pass, not fail)
        gate.set()
        sock.settimeout(30)
        after = b""
        while b"[DONE]" not in after:
            after += sock.recv(65536)
    assert b'"content":" two"' not in before and b'"content":" two"' in after and b'"content":" three"' in after


def test_stall_without_seconds_trips_read_timeout(server: OpenAIServer) -> None:
    server.queue_fault("stall", after=2, text="alpha beta gamma delta")
    got: list[str] = []
    with (
        # read: long enough for the first chunks to arrive on a loaded machine; the stall itself never ends
        httpx.Client(timeout=httpx.Timeout(5, read=2.0)) as c,
        pytest.raises(httpx.ReadTimeout),
        c.stream("POST", f"{server.url}/chat/completions", json=chat_body(True), headers=AUTH) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data: "):
                got.append(line[6:])
    assert contents(got) == ["alpha", " beta"]


def test_cut_stream_raises_protocol_error(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_fault("cut", after=2, text="alpha beta gamma delta")
    got: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", f"{server.url}/chat/completions", json=chat_body(True), headers=AUTH) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data: "):
                got.append(line[6:])
    assert contents(got) == ["alpha", " beta"]
    assert "[DONE]" not in got
    assert server.requests[0]["outcome"] == "cut"
    # The same client recovers on a fresh connection.
    r2 = client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert r2.status_code == 200


def test_cut_non_stream_raises_protocol_error(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_fault("cut")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert server.attempts == 1


def test_malformed_stream_has_one_bad_line(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_fault("malformed", after=1, text="one two three")
    _, payloads = stream_chat(client, server.url)
    bad = []
    for p in payloads[:-1]:
        try:
            json.loads(p)
        except ValueError:
            bad.append(p)
    assert len(bad) == 1
    assert payloads.index(bad[0]) == 2  # after the role chunk and one content chunk
    assert payloads[-1] == "[DONE]"
    good = [p for p in payloads if p not in bad]
    assert contents(good) == ["one", " two", " three"]


def test_malformed_non_stream_body_is_not_json(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_fault("malformed")
    r = client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_refuse_closes_without_response(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_fault("refuse")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert server.attempts == 1
    assert server.requests[0]["outcome"] == "refuse"
    assert server.requests[0]["body"] == chat_body()
    r = client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
    assert r.status_code == 200


# --------------------------------------------------------------------------- queue, attempts, recording


def test_queue_is_fifo_across_replies_and_faults(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_reply("first")
    server.queue_fault("500")
    server.queue_reply("second")
    url = f"{server.url}/chat/completions"
    results = []
    for _ in range(4):
        r = client.post(url, json=chat_body(), headers=AUTH)
        results.append(
            r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.status_code
        )
    assert results == ["first", 500, "second", "Echo: hi"]
    assert server.attempts == 4
    assert [e["outcome"] for e in server.requests] == ["reply", "500", "reply", "reply"]


def test_set_fault_always_until_cleared(server: OpenAIServer, client: httpx.Client) -> None:
    server.queue_reply("kept for later")
    server.set_fault_always("503")
    url = f"{server.url}/chat/completions"
    assert [client.post(url, json=chat_body(), headers=AUTH).status_code for _ in range(3)] == [503] * 3
    assert server.pending() == 1
    server.set_fault_always(None)
    r = client.post(url, json=chat_body(), headers=AUTH)
    assert r.json()["choices"][0]["message"]["content"] == "kept for later"
    assert server.attempts == 4


def test_request_recording_redacts_authorization(server: OpenAIServer, client: httpx.Client) -> None:
    body = chat_body(temperature=0.2)
    client.post(f"{server.url}/chat/completions", json=body, headers={**AUTH, "X-Trace": "abc"})
    client.post(f"{server.url}/chat/completions", json=body)
    first, second = server.requests
    assert first["path"] == "/v1/chat/completions"
    assert first["method"] == "POST"
    assert first["body"] == body
    assert first["headers"]["authorization"] == "Bearer ***"
    assert first["headers"]["x-trace"] == "abc"
    assert first["has_authorization"] is True
    assert "sk-test" not in json.dumps(server.requests)
    assert second["has_authorization"] is False
    assert "authorization" not in second["headers"]
    # Non-chat traffic is not a chat attempt.
    client.get(f"{server.url}/models")
    assert server.attempts == 2 and len(server.requests) == 2


def test_invalid_json_body_is_400_and_recorded(server: OpenAIServer, client: httpx.Client) -> None:
    r = client.post(
        f"{server.url}/chat/completions",
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = client.post(f"{server.url}/chat/completions", json={"model": "test"}, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "messages"
    assert server.attempts == 2
    assert server.requests[0]["body"] is None and server.requests[0]["raw"] == "{not json"
    assert [e["outcome"] for e in server.requests] == ["bad_request", "bad_request"]


def test_require_key(client: httpx.Client) -> None:
    with OpenAIServer(require_key="sk-good") as srv:
        srv.queue_reply("secret ok")
        url = f"{srv.url}/chat/completions"
        r = client.post(url, json=chat_body())
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert "didn't provide an API key" in r.json()["error"]["message"]
        r = client.post(url, json=chat_body(), headers={"Authorization": "Bearer sk-wrong-key-123"})
        assert r.status_code == 401
        assert "sk-wrong-key-123" not in r.text  # masked like the real API
        r = client.post(url, json=chat_body(), headers={"Authorization": "Bearer sk-good"})
        assert r.status_code == 200
        # The queued reply waited for the first authorised request.
        assert r.json()["choices"][0]["message"]["content"] == "secret ok"
        assert srv.attempts == 3
        assert [e["outcome"] for e in srv.requests] == ["unauthorized", "unauthorized", "reply"]


def test_models_endpoint(server: OpenAIServer, client: httpx.Client) -> None:
    data = client.get(f"{server.url}/models", headers=AUTH).json()
    assert data["object"] == "list"
    ids = [m["id"] for m in data["data"]]
    assert "test" in ids and len(ids) >= 3
    assert client.get(f"{server.url}/models/test").json()["id"] == "test"
    assert client.get(f"{server.url}/models/nope").status_code == 404
    assert client.get(f"{server.url}/nowhere").status_code == 404


def test_keep_alive_connection_is_reused(server: OpenAIServer, client: httpx.Client) -> None:
    # The openai SDK pools connections: a streamed response must leave the connection reusable.
    ports = set()
    for i in range(3):
        with client.stream("POST", f"{server.url}/chat/completions", json=chat_body(True), headers=AUTH) as r:
            read_sse(r)
            ports.add(r.extensions["network_stream"].get_extra_info("client_addr")[1])
        r = client.post(f"{server.url}/chat/completions", json=chat_body(), headers=AUTH)
        assert r.status_code == 200, i
        ports.add(r.extensions["network_stream"].get_extra_info("client_addr")[1])
    assert len(ports) == 1


# --------------------------------------------------------------------------- HTTP control


def test_raw_replies_write_any_bytes_and_say_what_was_written(server: OpenAIServer, client: httpx.Client) -> None:
    url = f"{server.url}/chat/completions"
    raw = server.queue_raw(b"\x00\xffjunk", head=b"<", tail=b">", repeat=3, status=502, content_type="text/html",
                           framing="length")
    r = client.post(url, json=chat_body(), headers=AUTH)
    assert r.status_code == 502 and r.headers["content-type"] == "text/html"
    # the client can hold the last byte before the server thread has counted it: wait for the server's own "done"
    assert r.content == b"<" + b"\x00\xffjunk" * 3 + b">" and raw.ended.wait(30)
    assert raw.written == raw.size and not raw.hung_up
    endless = server.queue_raw(b"data: tick\n\n", repeat=None)
    with client.stream("POST", url, json=chat_body(stream=True), headers=AUTH) as response:
        first = next(response.iter_bytes())
    assert first.startswith(b"data: tick") and endless.ended.wait(30) and endless.hung_up
    root = server.url.removesuffix("/v1")  # over HTTP, bytes travel as latin-1 text
    assert client.post(f"{root}/_control", json={"queue_raw": {"body": "\u00ff\u0000", "framing": "close"}}).is_success
    assert client.post(url, json=chat_body(), headers=AUTH).content == b"\xff\x00"
    assert server.requests[-1]["outcome"] == "raw"
    with pytest.raises(ValueError):
        server.queue_raw(b"", repeat=None)


def test_http_control_endpoints(server: OpenAIServer, client: httpx.Client) -> None:
    root = server.url.removesuffix("/v1")
    r = client.post(
        f"{root}/_control",
        json={
            "queue_reply": [{"text": "scripted one", "chunks": 2}, "scripted two"],
            "queue_fault": {"fault": "429", "retry_after": 3},
        },
    )
    assert r.status_code == 200 and r.json()["pending"] == 3
    url = f"{server.url}/chat/completions"
    _, payloads = stream_chat(client, server.url)
    assert contents(payloads) == ["script", "ed one"]
    assert client.post(url, json=chat_body(), headers=AUTH).json()["choices"][0]["message"]["content"] == (
        "scripted two"
    )
    r = client.post(url, json=chat_body(), headers=AUTH)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert client.get(f"{root}/_attempts").json() == {"attempts": 3}
    recorded = client.get(f"{root}/_requests").json()
    assert [e["outcome"] for e in recorded] == ["reply", "reply", "429"]
    assert recorded[0]["headers"]["authorization"] == "Bearer ***"

    assert client.post(f"{root}/_control", json={"set_fault_always": "500"}).status_code == 200
    assert client.post(url, json=chat_body(), headers=AUTH).status_code == 500
    assert client.post(f"{root}/_control", json={"reset": True, "queue_reply": "fresh"}).status_code == 200
    assert client.get(f"{root}/_attempts").json() == {"attempts": 0}
    assert client.get(f"{root}/_requests").json() == []
    assert client.post(url, json=chat_body(), headers=AUTH).json()["choices"][0]["message"]["content"] == (
        "fresh"
    )

    for bad in ({"queue_fault": {"fault": "teapot"}}, {"bogus": 1}, [1, 2]):
        r = client.post(f"{root}/_control", json=bad)
        assert r.status_code == 400, bad
        assert "error" in r.json()
    assert server.pending() == 0


# --------------------------------------------------------------------------- lifecycle


def test_url_requires_start() -> None:
    srv = OpenAIServer()
    with pytest.raises(RuntimeError):
        _ = srv.url
    srv.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", srv.url)
    finally:
        srv.stop()


def test_stop_returns_promptly_during_hang_and_stall() -> None:
    srv = OpenAIServer().start()
    hanging, stalled = threading.Event(), threading.Event()
    srv.queue_fault("hang", reached=hanging)
    srv.queue_fault("stall", after=1, reached=stalled)
    errors: list[BaseException] = []

    def call(stream: bool) -> None:
        try:
            with httpx.Client(timeout=30) as c:
                if stream:
                    with c.stream("POST", f"{srv.url}/chat/completions", json=chat_body(True)) as r:
                        read_sse(r)
                else:
                    c.post(f"{srv.url}/chat/completions", json=chat_body())
        except BaseException as exc:  # recorded: the client must see an error, not a reply
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(s,), daemon=True) for s in (False, True)]
    threads[0].start()
    assert srv.wait_for_attempts(1)
    threads[1].start()
    assert hanging.wait(30) and stalled.wait(30)  # both held now (the stall after its first chunks)
    srv.stop()  # neither ends by itself: a stop() that waited for them would hang (the module's 60 s guard)
    for t in threads:
        t.join(5)
        assert not t.is_alive(), "client still waiting after stop(): connections were not closed"
    assert len(errors) == 2
    assert all(isinstance(e, httpx.TransportError) for e in errors), errors


def test_stop_releases_idle_and_blocked_connections() -> None:
    srv = OpenAIServer().start()
    host, port = srv.url.removeprefix("http://").removesuffix("/v1").split(":")
    with httpx.Client(timeout=10) as idle:
        # A pooled keep-alive connection whose handler now waits for a next request that never comes.
        assert idle.post(f"{srv.url}/chat/completions", json=chat_body()).status_code == 200
        endless = srv.queue_raw(b"x" * 65536, repeat=None)  # the handler blocks once socket buffers are full
        body = json.dumps(chat_body(True)).encode()
        with socket.create_connection((host, int(port))) as stuck:
            stuck.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            # Writing has begun, and the reader never reads: the endless writer is blocked or soon will be.
            wait_until(lambda: endless.written > 0, "the endless reply being written")
            assert srv.open_connections() == 2
            srv.stop()  # not blocked by the stuck writer (else the module's 60 s guard fails the test)
            wait_until(lambda: srv.open_connections() == 0, "every connection closed after stop()")


def test_subprocess_mode_prints_url_and_serves(tmp_path: Path) -> None:
    # Run from an unrelated directory with no PYTHONPATH: the script must not depend on the project.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", first), first
        root = first.removesuffix("/v1")
        with httpx.Client(timeout=10) as c:
            assert c.post(f"{root}/_control", json={"queue_reply": {"text": "from afar"}}).status_code == 200
            r = c.post(f"{first}/chat/completions", json=chat_body(), headers=AUTH)
            assert r.json()["choices"][0]["message"]["content"] == "from afar"
            assert c.get(f"{root}/_attempts").json() == {"attempts": 1}
    finally:
        proc.terminate()
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read() if proc.stderr else ""


# --------------------------------------------------------------------------- real clients


def test_openai_sdk_stream_retry_and_errors(server: OpenAIServer) -> None:
    import openai

    client = openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=2, timeout=10)
    server.queue_fault("429")
    server.queue_reply("SDK streamed reply")
    stream = client.chat.completions.create(
        model="test", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "SDK streamed reply"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 3
    assert server.attempts == 2  # the 429 was retried by the SDK
    assert server.requests[1]["headers"].get("x-stainless-retry-count") == "1"

    server.queue_reply("non-stream")
    resp = client.chat.completions.create(model="test", messages=MESSAGES)
    assert resp.choices[0].message.content == "non-stream"
    assert resp.usage is not None and resp.usage.total_tokens == 3 + 3

    server.queue_fault("context_length")
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="test", messages=MESSAGES)
    assert info.value.code == "context_length_exceeded"

    server.queue_fault("404", model="test")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="test", messages=MESSAGES)

    no_retry = openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=10)
    server.queue_fault("cut")
    with pytest.raises((openai.APIConnectionError, httpx.RemoteProtocolError)):
        list(no_retry.chat.completions.create(model="test", messages=MESSAGES, stream=True))


def test_litellm_streams_from_server(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    expected = server.queue_reply("litellm sees every word")
    response = litellm.completion(
        model="openai/test",
        api_base=server.url,
        api_key="sk-test",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        timeout=10,
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in response if chunk.choices]
    assert "".join(pieces) == expected
    assert [p for p in pieces if p] == split_words(expected)
    assert server.attempts == 1
    req = server.requests[0]
    assert req["body"]["model"] == "test"
    assert req["body"]["stream"] is True
    assert req["body"]["messages"] == [{"role": "user", "content": "stream please"}]
    assert req["headers"]["authorization"] == "Bearer ***"
