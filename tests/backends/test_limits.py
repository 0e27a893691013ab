"""The caps on what a server sends (limits.py), on every path that reads one: the httpx SSE stream, its
one-JSON-completion fallback, error bodies, litellm.completion, MCP results and the local text protocol. Each case
is a real loopback server writing the hostile bytes (``queue_raw``); past a cap the reading stops, the connection
is closed (the server sees the hang-up before it wrote everything), the text that fit is kept, and one message
names the cap."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from llmos_kernel.backends.base import CallParams
from llmos_kernel.backends.faults import ProviderFault
from llmos_kernel.backends.limits import (
    DEFAULT_ANSWER_CHARS,
    DEFAULT_ARGUMENT_CHARS,
    MAX_DEPTH,
    MIN_ANSWER_CHARS,
    RESULT_CHARS,
    limits_for,
    nested_deeper,
)
from llmos_kernel.backends.litellm_backend import LiteLLMBackend
from llmos_kernel.backends.openai_stream import OpenAIStream
from llmos_kernel.backends.provider_errors import BrokenStream, StreamCut
from llmos_kernel.backends.tool_protocol import parse_calls

MESSAGES = [{"role": "user", "content": "Hello"}]
MB = 1024 * 1024
PIECE = 64 * 1024


def event(delta: dict, finish: str | None = None) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


ROLE = event({"role": "assistant", "content": ""})
END = event({}, "stop") + b"data: [DONE]\n\n"


def read(server, max_tokens: int | None = 8) -> tuple[str, list, BaseException | None]:
    """What the fast path yields for one request: (text kept, tool calls, the error it ended with)."""
    body = {"model": "test", "messages": MESSAGES, "stream": True}
    if max_tokens:
        body["max_tokens"] = max_tokens
    texts, calls = [], []
    try:
        for delta in OpenAIStream(sleep=lambda s: None).stream(f"{server.url}/chat/completions", body, {}, 30.0):
            texts.append(delta.text)
            calls += delta.tool_calls or []
    except (BrokenStream, ProviderFault) as exc:
        return "".join(texts), calls, exc
    return "".join(texts), calls, None


def assert_hung_up(raw) -> None:
    """The client stopped reading and closed the connection before the server wrote the whole reply."""
    assert raw.ended.wait(30)
    assert raw.hung_up and raw.written < raw.size, (raw.written, raw.size)


# -- the rule ------------------------------------------------------------------------------------------------

def test_the_answer_cap_follows_max_tokens_within_the_configured_ceiling():
    assert limits_for(8, {}).answer_chars == MIN_ANSWER_CHARS
    assert limits_for(10_000, {}).answer_chars == 320_000
    assert limits_for(None, {}).answer_chars == DEFAULT_ANSWER_CHARS
    assert limits_for(10**9, {}).answer_chars == DEFAULT_ANSWER_CHARS  # never above the ceiling
    assert limits_for(None, {}).argument_chars == DEFAULT_ARGUMENT_CHARS
    assert limits_for(8, {}).argument_chars == MIN_ANSWER_CHARS  # arguments are answer tokens too
    env = {"LLMOS_MAX_ANSWER_CHARS": "1000000", "LLMOS_MAX_ARGUMENT_CHARS": "5000"}
    assert limits_for(None, env).answer_chars == 1_000_000 and limits_for(None, env).argument_chars == 5000
    bad = {"LLMOS_MAX_ANSWER_CHARS": "lots", "LLMOS_MAX_ARGUMENT_CHARS": "-1"}
    assert limits_for(None, bad) == limits_for(None, {})  # a mistyped setting never lifts the cap
    limits = limits_for(8, {})
    assert limits.line_bytes < limits.body_bytes < 4 * MB


def test_nesting_is_read_from_brackets_outside_strings():
    assert nested_deeper("[" * 200_000 + "]" * 200_000)
    assert nested_deeper("[" * (MAX_DEPTH + 1))  # not even valid JSON
    assert not nested_deeper("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert not nested_deeper(json.dumps({"code": "[" * 1000, "rows": [[1, 2]] * 1000}))


# -- the SSE path ------------------------------------------------------------------------------------------------

def test_a_64_mb_answer_to_max_tokens_8_keeps_what_fits_and_hangs_up(server):
    raw = server.queue_raw(event({"content": "x" * PIECE}), head=ROLE, repeat=1024, tail=END)
    text, _, error = read(server, max_tokens=8)
    assert isinstance(error, BrokenStream) and error.kind == "oversized"
    assert "65,536 characters" in str(error) and "--max-tokens 8" in str(error)
    assert text == "x" * MIN_ANSWER_CHARS
    assert_hung_up(raw)


def test_a_24_mb_tool_argument_is_cut_and_no_call_is_returned(server):
    head = ROLE + event({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                         "function": {"name": "python", "arguments": ""}}]})
    piece = event({"tool_calls": [{"index": 0, "function": {"arguments": "a" * PIECE}}]})
    raw = server.queue_raw(piece, head=head, repeat=384, tail=event({}, "tool_calls") + b"data: [DONE]\n\n")
    _, calls, error = read(server, max_tokens=None)
    assert isinstance(error, BrokenStream) and error.kind == "oversized"
    assert "tool call arguments longer than 1,048,576 characters" in str(error) and calls == []
    assert_hung_up(raw)


def test_a_line_without_an_end_is_not_buffered_for_ever(server):
    raw = server.queue_raw(b"x" * PIECE, head=ROLE + b'data: {"choices": [{"delta": {"content": "', repeat=640,
                           tail=b'"}}]}\n\n' + END)
    text, _, error = read(server, max_tokens=8)
    assert isinstance(error, BrokenStream) and error.kind == "oversized" and "a line longer than" in str(error)
    assert text == ""
    assert_hung_up(raw)


def test_a_flood_that_carries_no_text_still_ends(server):
    raw = server.queue_raw(b": keep-alive\n" * 5000, head=ROLE, repeat=640, tail=END)
    text, _, error = read(server, max_tokens=8)
    assert isinstance(error, BrokenStream) and error.kind == "oversized" and "bytes" not in str(error)
    assert "MiB for an answer capped at 65,536 characters" in str(error) and text == ""
    assert_hung_up(raw)


def test_a_huge_non_streamed_completion_is_refused_unread(server):
    head = b'{"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "'
    raw = server.queue_raw(b"y" * PIECE, head=head, repeat=1024, tail=b'"}}]}', content_type="application/json",
                           framing="length")
    text, _, error = read(server, max_tokens=8)
    assert isinstance(error, BrokenStream) and error.kind == "oversized"
    assert "a JSON completion longer than" in str(error) and text == ""
    assert_hung_up(raw)


def test_a_non_streamed_completion_past_the_answer_cap_keeps_what_fits(server):
    completion = {"choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": "z" * 100_000}}]}
    server.queue_raw(json.dumps(completion).encode(), content_type="application/json", framing="length")
    text, _, error = read(server, max_tokens=8)
    assert isinstance(error, BrokenStream) and error.kind == "oversized" and text == "z" * MIN_ANSWER_CHARS


@pytest.mark.parametrize("nested", ["[" * 200_000 + "]" * 200_000, "[" * 200_000])
def test_a_chunk_nested_200000_deep_is_malformed_not_a_recursion_error(server, nested):
    server.queue_raw(ROLE + event({"content": "kept "}) + b"data: " + nested.encode() + b"\n\n" + END)
    text, _, error = read(server)
    assert isinstance(error, BrokenStream) and error.kind == "malformed" and text == "kept "


@pytest.mark.parametrize("as_json", [False, True])
def test_tool_arguments_nested_past_the_cap_end_the_answer_with_one_message(server, as_json):
    deep = '{"code": ' + "[" * 200_000 + "]" * 200_000 + "}"
    server.queue_tool_calls([{"name": "python", "arguments": deep}], as_json=as_json)
    _, calls, error = read(server, max_tokens=None)
    assert isinstance(error, BrokenStream) and error.kind == "malformed"
    assert f"nested more than {MAX_DEPTH} levels deep" in str(error) and calls == []
    server.queue_tool_calls([{"name": "python", "arguments": {"rows": [[[1]]]}}], as_json=as_json)
    _, calls, error = read(server, max_tokens=None)
    assert error is None and json.loads(calls[0].arguments) == {"rows": [[[1]]]}  # ordinary nesting passes


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"error": {"message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
                                  b"e" * (20 * MB)])
def test_an_error_body_deep_or_huge_is_one_fault(server, body):
    raw = server.queue_raw(body, status=400, content_type="application/json", framing="length")
    _, _, error = read(server)
    assert isinstance(error, ProviderFault) and error.status == 400 and len(str(error)) <= 600
    assert raw.ended.wait(30)


@pytest.mark.parametrize("junk", [
    b"\x00\xff\xfe binary \x80\x81\n\n" * 100,
    b"data: {\"choices\": [{\"delta\": {\"content\": 12}}]}\n\n",
    b"data: {\"choices\": [{\"delta\": {\"tool_calls\": \"" + b"t" * 100_000 + b"\"}}]}\n\n",
    b"data: {\"choices\": [{\"delta\": {\"tool_calls\": [{\"index\": \"" + b"9" * 5000 + b"\"}]}}]}\n\n",
    b"data: {\"choices\": {\"0\": 1}}\n\n",
    b"data: {\"choices\": [{\"delta\": {}}], \"usage\": {\"prompt_tokens\": \"many\"}}\n\n" + END,
    b"data: {\"choices\": [{\"delta\": {\"content\": \"half",
])
def test_junk_is_one_broken_stream_never_an_exception_of_ours(server, junk):
    server.queue_raw(ROLE + junk)
    _, _, error = read(server)
    assert error is None or isinstance(error, BrokenStream)


def test_more_parallel_calls_than_the_cap_are_refused(server):
    fragments = [{"index": i, "id": f"c{i}", "function": {"name": "python", "arguments": "{}"}} for i in range(500)]
    server.queue_raw(ROLE + event({"tool_calls": fragments}) + event({}, "tool_calls") + b"data: [DONE]\n\n")
    _, calls, error = read(server, max_tokens=None)
    assert isinstance(error, BrokenStream) and "more than 128 tool calls" in str(error) and calls == []


# -- the litellm.completion path -------------------------------------------------------------------------------

def litellm_path(server) -> LiteLLMBackend:
    backend = LiteLLMBackend("lm_studio/test", api_base=server.url, sleep=lambda s: None)
    assert not backend.fast_path
    return backend


def stream_litellm(server, params: CallParams) -> tuple[str, list, BaseException | None]:
    texts, calls = [], []
    try:
        for delta in litellm_path(server).stream(MESSAGES, params):
            texts.append(delta.text)
            calls += delta.tool_calls or []
    except StreamCut as exc:
        return "".join(texts), calls, exc
    return "".join(texts), calls, None


def test_litellm_path_caps_the_answer_and_hangs_up(server):
    raw = server.queue_raw(event({"content": "w" * 1000}), head=ROLE, repeat=20_000, tail=END)
    text, _, error = stream_litellm(server, CallParams(max_tokens=8))
    assert error is not None and "longer than 65,536 characters" in str(error) and error.hint
    assert text == "w" * MIN_ANSWER_CHARS
    assert_hung_up(raw)


def test_litellm_path_caps_tool_arguments_as_configured(server, monkeypatch):
    monkeypatch.setenv("LLMOS_MAX_ARGUMENT_CHARS", "5000")
    server.queue_tool_calls([{"name": "python", "arguments": json.dumps({"code": "1" * 8000})}], pieces=8)
    _, calls, error = stream_litellm(server, CallParams())
    assert error is not None and "longer than 5,000 characters" in str(error) and calls == []


def test_litellm_path_refuses_deep_tool_arguments(server):
    server.queue_tool_calls([{"name": "python", "arguments": "[" * 100 + "]" * 100}])
    _, calls, error = stream_litellm(server, CallParams())
    assert error is not None and f"nested more than {MAX_DEPTH} levels" in str(error) and calls == []


# -- the text protocol of local models, and MCP results --------------------------------------------------------

def test_a_local_models_deep_call_is_text_not_a_recursion_error():
    deep = '{"tool": "python", "arguments": {"code": ' + "[" * 200_000 + "]" * 200_000 + "}}"
    assert parse_calls(deep, {"python"}) == []
    assert parse_calls('{"tool": "python", "arguments": {"code": [[1]]}}', {"python"})[0].name == "python"


def test_a_huge_mcp_result_is_cut_before_it_is_kept():
    from llmos_kernel.tools.mcp import MCPManager

    script = Path(__file__).resolve().parents[1] / "support" / "mcp_server.py"
    manager = MCPManager()
    try:
        manager.add("big", command=[sys.executable, str(script)])
        result = manager.call("big", "echo", {"text": "r" * (3 * RESULT_CHARS)})
    finally:
        manager.close()
    assert not result.is_error
    assert result.text.startswith("r" * RESULT_CHARS) and len(result.text) < RESULT_CHARS + 200
    assert "3,145,728 characters" in result.text


# -- the catalogue's GET /models -------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{"body": b"[" * 200_000},
                                {"body": b'{"data": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"},
                                {"body": b" " * PIECE, "repeat": 400}])
def test_a_models_listing_deep_or_huge_is_an_error_line_not_an_exception(server, kw):
    from llmos_kernel import catalogue
    from llmos_kernel.backends.endpoints import route
    from tests.support.openai_server import RawReply

    server.models_raw = raw = RawReply(content_type="application/json", framing="length", **kw)
    listing = catalogue.fetch(route("openai/test", "openai", server.url, None))
    assert listing.error == "its GET /models answer is not an OpenAI model list" and not listing.offers
    assert raw.ended.wait(30) and (raw.size < catalogue.LISTING_BYTES or raw.hung_up)
