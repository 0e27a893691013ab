"""What a server or a model sends, thrown at ONE real kernel through the loopback server: floods, lines with no
end, binary, truncated JSON, wrong content types, huge tool-call deltas, tool names with line breaks and Markdown,
arguments nested 200,000 deep or megabytes long. Seeded, so a failure reproduces; bounded in count.

After every case: the cell ended in one clear message or an answer (never a traceback of ``llmos_kernel/``),
the kernel is alive and answers ``%ps``, and its memory (RSS, from /proc) stays within a fixed bound over its
baseline. The caps themselves are in llmos_kernel/backends/limits.py; tests/backends/test_limits.py checks each
path byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer

SEED = 20261203
CASES = 120
RSS_BOUND_MB = 300  # over the baseline, after any case
INTERNALS = ("Traceback", "llmos_kernel/", "site-packages")
KB = 1024
MB = 1024 * KB

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the kernel's RSS from /proc")


def event(delta: dict, finish: str | None = None) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


ROLE = event({"role": "assistant", "content": ""})
END = event({}, "stop") + b"data: [DONE]\n\n"
TOOL_END = event({}, "tool_calls") + b"data: [DONE]\n\n"


def rss_mb(kernel: KernelSession) -> float:
    pid = kernel.km.provisioner.process.pid  # type: ignore[union-attr]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def kernel(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebook")
    (folder / "notes.txt").write_text("a note\n")
    session = KernelSession(cwd=str(folder))
    # "viallm": the same server through litellm.completion (deepseek is not on the httpx fast path, and litellm's
    # model map says it calls tools)
    setup = [f"%model openai/fuzz --api-base {server.url} --window 100000",
             f"%alias viallm deepseek/deepseek-chat --api-base {server.url} --window 100000", "%tools on",
             "%%python\ndef checked(n: int, tags: list[str], nested: dict) -> str:\n"
             "    '''A user tool whose arguments pydantic validates.'''\n    return f'{n} {len(tags)}'",
             "%tool add checked --read-only", "%tools allow user.checked"]
    try:
        for line in setup:
            run = session.run(line)
            assert run.status == "ok", run.error_text
        yield session
    finally:
        session.close()


def shown(run: Run) -> str:
    content = run.reply["content"]
    return "\n".join([run.error_text, run.stderr, *content.get("traceback", [])])


def check(kernel: KernelSession, run: Run, where: str) -> None:
    content = run.reply["content"]
    assert content["status"] in ("ok", "error"), where
    text = shown(run)
    for bad in INTERNALS:
        assert bad not in text, f"{where}\n{text[:3000]}"
    if content["status"] == "error":
        assert len(run.errors) == 1, f"{where}\n{text[:3000]}"
        assert (content.get("evalue") or "").strip(), where
    assert kernel.alive(), where
    ps = kernel.run("%ps")
    assert ps.status == "ok", f"{where}: %ps failed after it\n{ps.error_text[:2000]}"


def answer_meta(run: Run) -> dict:
    final = run.final_display()
    assert final is not None, run.all_text()[:2000]
    return final["metadata"]["llmos"]


# -- the findings, one by one ------------------------------------------------------------------------------------

def test_a_64_mb_answer_to_max_tokens_8_is_cut_with_one_message(kernel, server):
    server.reset()
    before = rss_mb(kernel)
    raw = server.queue_raw(event({"content": "flood " * 10_000}), head=ROLE, repeat=1100, tail=END)
    run = kernel.run("%%prompt --max-tokens 8 --no-history\nSay hi.", timeout=120)
    assert run.status == "error" and len(run.errors) == 1
    assert "longer than 65,536 characters" in run.error_text and "--max-tokens 8" in run.error_text
    assert answer_meta(run)["status"] == "cut"  # the part that fit is shown, marked
    assert raw.ended.wait(30) and raw.hung_up  # the kernel stopped reading and closed the connection
    assert rss_mb(kernel) - before < RSS_BOUND_MB
    check(kernel, run, "64 MB answer")


def test_tool_arguments_nested_200000_deep_are_one_message(kernel, server):
    server.reset()
    deep = '{"code": ' + "[" * 200_000 + "]" * 200_000 + "}"
    server.queue_tool_calls([{"name": "python", "arguments": deep}])
    server.queue_reply("never asked for")
    run = kernel.run("Run this.", timeout=120)
    assert run.status == "error" and "nested more than 64 levels deep" in run.error_text
    check(kernel, run, "deep arguments")
    assert server.pending() == 1  # no tool ran, so the model was not asked again


def test_an_interrupt_during_an_endless_stream_ends_the_cell_with_the_partial_answer(kernel, server):
    server.reset()
    raw = server.queue_raw(event({"content": "tick "}), head=ROLE, repeat=None, chunk_delay=0.01)
    msg_id = kernel.send("%%prompt --no-history\nCount for ever.")
    while True:  # the answer has started: its text is in the cell
        msg = kernel.kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") == msg_id and "tick" in str(msg["content"].get("data", {})):
            break
    kernel.km.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=60)
    assert run.status == "error" and "interrupted" in run.error_text
    meta = answer_meta(run)
    assert meta["status"] == "interrupted" and meta["tokens_out"] > 0
    assert raw.ended.wait(30) and raw.hung_up  # the connection was closed, the server stopped writing
    check(kernel, run, "interrupted endless stream")


# -- the fuzz ------------------------------------------------------------------------------------------------------

def random_text(rng: random.Random, n: int) -> str:
    return "".join(chr(rng.choice([rng.randrange(32, 0x3000), rng.randrange(0x1F300, 0x1F6FF), 10, 0x202E]))
                   for _ in range(n))


def tool_names(rng: random.Random) -> list[str]:
    return ["python", "read_file", "list_files", "recall", "remember", "memory_map", "checked", "load_tools",
            "", "\n\n", "checked\n\n# Heading", "![x](http://127.0.0.1:9/leak.png)\n\n[click](http://x)",
            "<script>alert(1)</script>", "mcp.none.tool", "a" * 100_000, random_text(rng, 30),
            "\u202echecked", "chécked", "python" + "\x00"]


def arguments(rng: random.Random) -> str:
    depth = rng.choice([65, 999, 5_000, 200_000])
    choices: list[Callable[[], str]] = [
        lambda: '{"code": ' + "[" * depth + "]" * depth + "}",
        lambda: "{" * depth,
        lambda: '{"nested": ' + '{"a": ' * depth + "1" + "}" * depth + ', "n": 1, "tags": []}',
        lambda: json.dumps({"n": 1, "tags": ["a"], "nested": json.loads('{"a": ' * 60 + "1" + "}" * 60)}),
        lambda: json.dumps({"code": "x" * rng.choice([100_000, 2 * MB])}),
        lambda: json.dumps({"n": "one", "tags": 5, "nested": []}),
        lambda: json.dumps({"n": 10**rng.randrange(1, 400), "tags": [None, {}], "nested": {"x": [1] * 1000}}),
        lambda: '{"n": ' + "9" * 5000 + "}",
        lambda: '{"n": NaN, "tags": [Infinity], "nested": {}}',
        lambda: '{"path": "\\ud800", "query": "\\udfff"}',
        lambda: rng.choice(["[]", '"text"', "123", "null", "true", "{", "{'a': 1}", "", "}{", "[1,]"]),
        lambda: bytes(rng.randrange(256) for _ in range(200)).decode("latin-1"),
        lambda: '{"n": 1, "n": "2", "tags": [], "nested": {}}',  # a repeated key
        lambda: json.dumps({"names": ["python", 5, None, ["x"]]}),
    ]
    return rng.choice(choices)()


def bodies(rng: random.Random) -> list[tuple[str, dict]]:
    """(what, queue_raw keyword arguments)"""
    junk = bytes(rng.randrange(256) for _ in range(rng.choice([10, 5000, 200_000])))
    completion = json.dumps({"choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": "whole " * 2000}}]}).encode()
    many = [{"index": i, "id": f"c{i}", "function": {"name": "checked", "arguments": "{}"}} for i in range(300)]
    return [
        ("empty body", {"body": b""}),
        ("binary", {"body": junk}),
        ("binary as JSON", {"body": junk, "content_type": "application/json", "framing": "length"}),
        ("invalid SSE", {"body": ROLE + b"data: {not json}\n\n" + END}),
        ("carriage returns only", {"body": ROLE.replace(b"\n", b"\r") * 3000}),
        ("huge line", {"head": ROLE + b"data: ", "body": b"x" * (64 * KB), "repeat": rng.choice([16, 480])}),
        ("truncated JSON", {"body": completion[: len(completion) // 2], "content_type": "application/json",
                            "framing": "length"}),
        ("JSON as SSE", {"body": completion}),
        ("SSE as JSON", {"body": ROLE + END, "content_type": "application/json", "framing": "length"}),
        ("HTML", {"body": b"<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"}),
        ("octet-stream", {"body": junk, "content_type": "application/octet-stream", "framing": "close"}),
        ("64 MB answer", {"head": ROLE, "body": event({"content": "y" * (64 * KB)}), "repeat": 1024, "tail": END}),
        ("whole answer in one chunk", {"body": ROLE + event({"content": "z" * (5 * MB)}) + END}),
        ("keep-alive flood", {"head": ROLE, "body": b": ping\n" * 8000, "repeat": 400, "tail": END}),
        ("huge tool delta", {"head": ROLE + event({"tool_calls": [{"index": 0, "id": "c", "function": {
            "name": "checked", "arguments": ""}}]}), "body": event({"tool_calls": [{"index": 0, "function": {
                "arguments": "a" * (64 * KB)}}]}), "repeat": rng.choice([8, 400]), "tail": TOOL_END}),
        ("huge tool name", {"body": ROLE + event({"tool_calls": [{"index": 0, "function": {
            "name": "n" * (3 * MB), "arguments": "{}"}}]}) + TOOL_END}),
        ("many parallel calls", {"body": ROLE + event({"tool_calls": many}) + TOOL_END}),
        ("deep chunk", {"body": ROLE + b"data: " + b"[" * 200_000 + b"\n\n" + END}),
        ("deep error event", {"body": ROLE + b'data: {"error": {"message": ' + b"[" * 100_000 + b"]" * 100_000
                              + b', "code": 400}}\n\n'}),
        ("error status, deep body", {"body": b"{" * 100_000, "status": 400, "content_type": "application/json",
                                     "framing": "length"}),
        ("error status, huge body", {"body": b"e" * (64 * KB), "repeat": 300, "status": 404,
                                     "content_type": "text/plain"}),
        ("redirect", {"body": b"moved", "status": 302, "content_type": "text/plain"}),
        ("wrong shapes", {"body": ROLE + event({"content": ["a", "b"]}) + b'data: {"choices": {"0": 1}}\n\n'}),
        ("bad usage", {"body": ROLE + event({"content": "ok"}) + b'data: {"choices": [], "usage": '
                       b'{"prompt_tokens": "lots", "completion_tokens": 1e999}}\n\n' + END}),
        ("stream cut in a string", {"body": ROLE + b'data: {"choices": [{"delta": {"content": "half'}),
    ]


def cases(rng: random.Random) -> Iterator[tuple[str, Callable[[OpenAIServer], None], str]]:
    """(what, how the server is scripted, the cell): every body and a few names first, then random mixtures."""
    names = tool_names(rng)

    def tool_case() -> tuple[str, Callable[[OpenAIServer], None]]:
        name, args = rng.choice(names), arguments(rng)

        def script(srv: OpenAIServer) -> None:
            srv.queue_tool_calls([{"name": name, "arguments": args}], as_json=rng.random() < 0.3,
                                 pieces=rng.choice([1, 3, 40]))
            srv.queue_reply("done")

        return f"tool {name[:30]!r}({args[:60]!r})", script

    def body_case(what: str, kw: dict) -> tuple[str, Callable[[OpenAIServer], None]]:
        return f"body: {what}", lambda srv: srv.queue_raw(**kw)

    scripted = [body_case(what, kw) for what, kw in bodies(rng)]
    scripted += [tool_case() for _ in range(len(names))]
    rng.shuffle(scripted)
    while True:
        what, script = scripted.pop() if scripted else (
            body_case(*rng.choice(bodies(rng))) if rng.random() < 0.4 else tool_case())
        tokens = rng.choice(["", "--max-tokens 8 ", "--max-tokens 64 ", "--max-tokens 4096 "])
        # litellm parses the bytes itself: its path caps chunks, text and arguments, but a flood of comment lines or
        # one endless line is read by litellm's parser until the server stops (limits.py), so those go the fast path
        bounded = what.removeprefix("body: ") not in ("keep-alive flood", "huge line")
        path = "--model viallm " if bounded and rng.random() < 0.15 else ""
        # --no-history: what is under test is the reading of answers; memory has its own tests
        yield what, script, f"%%prompt {path}{tokens}--no-history\nDo the thing."


def test_hostile_servers_and_models_never_break_the_kernel(kernel, server):
    rng = random.Random(SEED)
    server.reset()
    for path in ("", "--model viallm "):  # litellm is imported by its first cell: before the baseline
        warm = kernel.run(f"%%prompt {path}--no-history\nWarm up.")
        assert warm.status == "ok", warm.error_text
    baseline = rss_mb(kernel)
    outcomes: dict[str, int] = {}
    for _, (what, script, cell) in zip(range(CASES), cases(rng), strict=False):
        server.reset()
        script(server)
        run = kernel.run(cell, timeout=120)
        where = f"{what} with {cell.splitlines()[0]!r}"
        check(kernel, run, where)
        grown = rss_mb(kernel) - baseline
        assert grown < RSS_BOUND_MB, f"{where}: the kernel grew by {grown:.0f} MB"
        outcomes[run.status] = outcomes.get(run.status, 0) + 1
    server.reset()
    after = kernel.run("%%prompt --no-history\nStill fine?")
    assert after.status == "ok", after.error_text
    assert outcomes.get("error", 0) > CASES // 4 and outcomes.get("ok", 0) > 5, outcomes
