"""The httpx fast path for OpenAI-compatible servers, against the real loopback server (and httpx's
MockTransport where a byte-exact stream is needed): parsing, usage, retries, timeouts, broken streams."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from llmos_kernel.backends.base import Delta
from llmos_kernel.backends.faults import ProviderFault
from llmos_kernel.backends.openai_stream import OpenAIStream
from llmos_kernel.backends.provider_errors import BrokenStream
from tests.support.openai_server import estimate_prompt_tokens

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]


def body(**extra) -> dict:
    return {"model": "test", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True},
            **extra}


def run(stream: OpenAIStream, url: str, timeout: float = 5.0, headers: dict | None = None) -> list[Delta]:
    return list(stream.stream(f"{url}/chat/completions", body(), headers or {}, timeout))


def text_of(deltas: list[Delta]) -> str:
    return "".join(d.text for d in deltas)


def make(slept: list[float], retries: int = 2) -> OpenAIStream:
    return OpenAIStream(num_retries=retries, sleep=slept.append)


def raises_fault(match: str | None = None):
    """pytest.raises for the fast path's neutral error type; assert_kind then checks which fault it was."""
    return pytest.raises(ProviderFault, match=match)


def assert_kind(info, kind: str, status: int | None = None) -> None:
    assert info.value.kind == kind and (status is None or info.value.status == status), vars(info.value)


def test_streams_text_then_exact_usage(server, slept):
    expected = server.queue_reply("The quick brown fox jumps.", chunks=5)
    deltas = run(make(slept), server.url)
    assert text_of(deltas) == expected
    final = deltas[-1]
    assert final.text == "" and final.finish_reason == "stop"
    assert final.usage.exact and final.usage.prompt_tokens == estimate_prompt_tokens(MESSAGES)
    assert final.usage.completion_tokens > 0
    sent = server.requests[-1]["body"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert server.attempts == 1 and slept == []


def test_a_burst_costs_one_delta_per_network_read(server, slept):
    expected = server.queue_reply(n_chunks=3000)
    deltas = run(make(slept), server.url)
    assert text_of(deltas) == expected
    assert 1 < len(deltas) < 300  # thousands of SSE events, a handful of reads


def test_transient_faults_are_retried_then_succeed(server, slept):
    server.queue_fault("429", retry_after=1)
    server.queue_fault("500")
    expected = server.queue_reply("Recovered.")
    deltas = run(make(slept), server.url)
    assert text_of(deltas) == expected
    assert server.attempts == 3
    assert slept[0] == 1.0  # Retry-After honoured
    assert 0.4 <= slept[1] <= 1.0  # then exponential backoff: 2 x 0.5 s with jitter


def test_retry_after_ms_wins_and_a_long_retry_after_is_not_waited_for(server, slept):
    server.queue_fault("429", retry_after_ms=250)
    server.queue_reply("ok")
    run(make(slept), server.url)
    assert slept == [0.25]
    server.reset()
    server.queue_fault("429", retry_after=3600)
    with raises_fault() as info:
        run(make(slept), server.url)
    assert_kind(info, "rate_limit", 429)
    assert server.attempts == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("429", ("rate_limit", 429)),
        ("500", ("server", 500)),
        ("503", ("server", 503)),
        ("refuse", ("connection", None)),
    ],
)
def test_transient_faults_stop_after_num_retries(server, slept, fault, error):
    server.set_fault_always(fault)
    with raises_fault() as info:
        run(make(slept, retries=2), server.url)
    assert_kind(info, *error)
    assert server.attempts == 3 and len(slept) == 2
    assert slept[1] > slept[0] or fault == "429"  # 429 sends Retry-After: 0, which is honoured


@pytest.mark.parametrize(
    ("fault", "kw", "error"),
    [
        ("401", {}, ("auth", 401)),
        ("404", {}, ("not_found", 404)),
        ("context_length", {"limit": 100}, ("context", 400)),
    ],
)
def test_client_errors_are_never_retried(server, slept, fault, kw, error):
    server.set_fault_always(fault, **kw)
    with raises_fault() as info:
        run(make(slept), server.url)
    assert_kind(info, *error)
    assert server.attempts == 1 and slept == []


def test_a_cut_after_content_is_not_retried(server, slept):
    server.queue_fault("cut", after=2, text="one two three four five")
    received: list[str] = []
    with pytest.raises(BrokenStream) as info:
        for delta in make(slept).stream(f"{server.url}/chat/completions", body(), {}, 5.0):
            received.append(delta.text)
    assert info.value.kind == "cut"
    assert "".join(received).startswith("one")
    assert server.attempts == 1 and slept == []


def test_malformed_chunk(server, slept):
    server.queue_fault("malformed", after=1)
    with pytest.raises(BrokenStream) as info:
        run(make(slept), server.url)
    assert info.value.kind == "malformed" and server.attempts == 1


def test_read_timeout_catches_a_stall_mid_stream(server, slept):
    # No clock: a read timeout that missed the stall would see the whole answer after 30 s, and nothing raised.
    # 2 s, not less: the first chunk must arrive within it even on a loaded machine, or this is a "timeout".
    server.queue_fault("stall", after=1, seconds=30)
    with pytest.raises(BrokenStream) as info:
        run(make(slept), server.url, timeout=2.0)
    assert info.value.kind == "stalled"
    assert server.attempts == 1


def test_a_hang_before_the_first_byte_spends_the_whole_timeout_once(server, slept):
    server.set_fault_always("hang", seconds=30)
    started = time.monotonic()
    with raises_fault("no answer within 0.8 s") as info:
        run(make(slept), server.url, timeout=0.8)
    assert_kind(info, "timeout")
    assert time.monotonic() - started >= 0.8  # the whole timeout was spent (a lower bound: load only lengthens it)
    # the timeout is one budget: no retry is left time for (it was three attempts of the timeout each)
    assert server.attempts == 1 and slept == []


@pytest.mark.parametrize(("timeout", "attempts"), [(5.0, 3), (0.9, 1)])
def test_retries_happen_only_within_the_timeout(server, slept, timeout, attempts):
    server.set_fault_always("503")
    with raises_fault() as info:
        run(make(slept), server.url, timeout=timeout)
    assert_kind(info, "server", 503)
    # the first backoff is 0.4-0.5 s and a retry needs 0.5 s of budget: 0.9 s leaves no room for one
    assert server.attempts == attempts and len(slept) == attempts - 1


def test_a_closed_port_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        slept: list[float] = []
        with raises_fault("connection failed") as info:
            run(make(slept), f"http://127.0.0.1:{port}/v1")
        assert_kind(info, "connection")
        assert len(slept) == 2


def test_the_key_travels_in_the_header_and_is_not_kept(server, slept):
    key = "sk-unit-" + "k3y" * 12
    stream = make(slept)
    server.queue_reply("ok")
    run(stream, server.url, headers={"Authorization": f"Bearer {key}"})
    assert server.requests[-1]["has_authorization"]
    assert key not in repr(vars(stream)) and key not in repr(dict(stream.client.headers))


# -- byte-exact streams through httpx's MockTransport ---------------------------------------------------------

def sse(*events: dict | str) -> bytes:
    return b"".join(
        b"data: " + (e.encode() if isinstance(e, str) else json.dumps(e).encode()) + b"\r\n\r\n" for e in events
    )


def chunk(content: str | None = None, finish: str | None = None) -> dict:
    delta = {"content": content} if content is not None else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def mocked(pieces: list[bytes], content_type: str = "text/event-stream", status: int = 200) -> OpenAIStream:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": content_type}, stream=_Pieces(pieces))

    stream = OpenAIStream(sleep=lambda s: None)
    stream._client = httpx.Client(transport=httpx.MockTransport(handler))
    return stream


class _Pieces(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self):
        yield from self.pieces


def test_lines_split_across_reads_crlf_comments_and_multibyte_text():
    raw = b": keep-alive\n\n" + sse(chunk("h\u00e9llo "), chunk("w\u00f6rld \u2713"), chunk(finish="stop"),
                                     {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}, "[DONE]")
    pieces = [raw[i:i + 7] for i in range(0, len(raw), 7)]  # cuts lines and UTF-8 sequences apart
    deltas = list(mocked(pieces).stream("http://mock/v1/chat/completions", body(), {}, 5.0))
    assert text_of(deltas) == "h\u00e9llo w\u00f6rld \u2713"
    assert deltas[-1].usage.prompt_tokens == 7 and deltas[-1].usage.completion_tokens == 3


def test_an_error_event_inside_a_200_stream_is_the_same_fault_as_its_status():
    raw = sse(chunk("partial "), {"error": {"message": "Rate limit hit upstream", "code": 429}})
    with raises_fault("Rate limit hit upstream") as info:
        list(mocked([raw]).stream("http://mock/v1/chat/completions", body(), {}, 5.0))
    assert_kind(info, "rate_limit", 429)


def test_a_server_that_ignores_stream_answers_with_one_json_completion():
    completion = {"choices": [{"message": {"role": "assistant", "content": "Whole answer."},
                               "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
    deltas = list(mocked([json.dumps(completion).encode()], "application/json")
                  .stream("http://mock/v1/chat/completions", body(), {}, 5.0))
    assert text_of(deltas) == "Whole answer." and deltas[-1].usage.completion_tokens == 2


def test_text_before_a_bad_chunk_in_the_same_read_is_kept():
    raw = sse(chunk("kept "), chunk("too "), {"choices": [{"delta": "not an object"}]}, chunk("lost"))
    received: list[str] = []
    with pytest.raises(BrokenStream) as info:
        for delta in mocked([raw]).stream("http://mock/v1/chat/completions", body(), {}, 5.0):
            received.append(delta.text)
    assert "".join(received) == "kept too " and info.value.kind == "malformed"


def test_a_stream_that_ends_without_done_or_finish_is_cut():
    with pytest.raises(BrokenStream) as info:
        list(mocked([sse(chunk("half an "))]).stream("http://mock/v1/chat/completions", body(), {}, 5.0))
    assert info.value.kind == "cut"


# -- speed ---------------------------------------------------------------------------------------------------
