"""A real MCP server (tests/support/mcp_server.py, the mcp SDK over stdio) as a peripheral of a real kernel:
added, listed, called through the access policy, killed, reported, restarted."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession

SERVER = Path(__file__).resolve().parent.parent / "support" / "mcp_server.py"
# add and pid are read-only by the user's word (--read-only); the server's readOnlyHint is not trusted.
ADD_DEMO = f"%mcp add demo --env MCP_TEST_NOTES --read-only add,pid -- {sys.executable} {SERVER}"


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mcp") / "notes.txt"


@pytest.fixture(scope="module")
def k(server, notes):
    session = KernelSession(env={**os.environ, "MCP_TEST_NOTES": str(notes)})
    for line in (f"%alias fast openai/fast --api-base {server.url} --window 16000", "%model fast", "%tools on",
                 "%tools approval stdin"):
        assert session.run(line).status == "ok"
    yield session
    session.close()


@pytest.fixture
def demo(k):
    """The demo server ready, whatever ran before (a test may have killed or removed it): order-independent."""
    if "MCP server demo (stdio): ready" not in k.run("%mcp").stdout:
        run = k.run(ADD_DEMO)  # a name already used replaces the old server
        assert run.status == "ok", run.error_text
    return k


def last_tool_result(server) -> str:
    return [m for m in server.requests[-1]["body"]["messages"] if m.get("role") == "tool"][-1]["content"]


def test_add_list_and_policy(k):
    run = k.run(ADD_DEMO)
    assert run.status == "ok", run.error_text
    assert "MCP server demo (stdio): ready" in run.stdout and "demo.add" in run.stdout
    listing = k.run("%mcp").stdout
    assert "demo" in listing and "ready" in listing and "demo.add" in listing and "read-only" in listing
    tools = k.run("%tools").stdout
    assert "mcp.demo.write_note" in tools and "mcp:demo" in tools
    # a tool no test allows: the default shows whatever ran before (others allow mcp.demo.add and .pid)
    row = next(line for line in tools.splitlines() if line.startswith("mcp.demo.write_note "))
    assert row.split()[1] == "ask"  # MCP tools ask by default


def test_calls_go_through_the_policy(demo, k, server, notes):
    server.queue_tool_calls([{"name": "demo__write_note", "arguments": {"text": "headless"}}])
    server.queue_reply("ok")
    assert k.run("Write a note.").status == "ok"  # no stdin on this request: denied
    assert "no way to ask the user" in last_tool_result(server)
    assert not notes.exists() or "headless" not in notes.read_text()

    server.queue_tool_calls([{"name": "demo__write_note", "arguments": {"text": "approved"}}])
    server.queue_reply("ok")
    run = k.run_interactive("Write a note.", stdin=["y"])
    assert run.status == "ok" and "mcp.demo.write_note" in run.prompts[0]
    assert last_tool_result(server) == "noted" and "approved" in notes.read_text()

    assert k.run("%tools allow mcp.demo.add").status == "ok"
    server.queue_tool_calls([{"name": "demo__add", "arguments": {"a": 2, "b": 3}}])
    server.queue_reply("5")
    run = k.run_interactive("Add.", stdin=[])
    assert run.status == "ok" and run.prompts == [] and last_tool_result(server) == "5"

    server.queue_tool_calls([{"name": "demo__fail", "arguments": {}}])
    server.queue_reply("ok")
    assert k.run_interactive("Fail.", stdin=["y"]).status == "ok"
    assert last_tool_result(server).startswith("error:")


def test_a_killed_server_is_reported_and_restarts(demo, k, server):
    assert k.run("%tools allow mcp.demo.pid").status == "ok"
    assert k.run("%tools allow mcp.demo.add").status == "ok"  # its own rule, not the one test_calls_... left
    server.queue_tool_calls([{"name": "demo__pid", "arguments": {}}])
    server.queue_reply("ok")
    assert k.run("Your pid?").status == "ok"
    pid = int(last_tool_result(server))
    os.kill(pid, signal.SIGKILL)
    server.queue_tool_calls([{"name": "demo__add", "arguments": {"a": 1, "b": 1}}])
    server.queue_reply("the server is gone")
    run = k.run("Add again.")
    assert run.status == "ok" and k.alive()
    result = last_tool_result(server)
    assert result.startswith("error:") and "demo" in result
    listing = k.run("%mcp").stdout
    assert "dead" in listing
    run = k.run("%mcp restart demo")
    assert run.status == "ok" and "ready" in run.stdout
    server.queue_tool_calls([{"name": "demo__add", "arguments": {"a": 1, "b": 1}}])
    server.queue_reply("2")
    assert k.run("Add once more.").status == "ok" and last_tool_result(server) == "2"
    run = k.run("%mcp remove demo")
    assert run.status == "ok" and "mcp:demo" not in k.run("%tools").stdout  # its tools left the registry


def test_bad_mcp_commands_are_one_clear_message(k):
    for line in ("%mcp add broken -- /nonexistent/server", "%mcp restart nothing",
                 "%mcp add x --env NOPE_NOT_SET -- y"):
        run = k.run(line)
        assert run.status == "error" and len(run.errors) == 1, line
        assert "Traceback" not in run.error_text


def test_a_streamable_http_server_through_the_magic(k, server, notes, tmp_path):
    import socket
    import subprocess
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(SERVER), "--http", str(port)],
                               env={**os.environ, "MCP_TEST_NOTES": str(notes)}, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        run = k.run(f"%mcp add web --url http://127.0.0.1:{port}/mcp --read-only add")
        assert run.status == "ok", run.error_text
        assert "MCP server web (http): ready" in run.stdout and "web.add" in run.stdout
        assert k.run("%tools allow mcp.web.add").status == "ok"
        server.queue_tool_calls([{"name": "web__add", "arguments": {"a": 20, "b": 22}}])
        server.queue_reply("42")
        assert k.run("Add over HTTP.").status == "ok" and last_tool_result(server) == "42"
        process.kill()
        process.wait(10)
        server.queue_tool_calls([{"name": "web__add", "arguments": {"a": 1, "b": 1}}])
        server.queue_reply("gone")
        assert k.run("Again.").status == "ok" and k.alive()
        assert last_tool_result(server).startswith("error:")
        assert "dead" in k.run("%mcp").stdout
    finally:
        process.kill()
        k.run("%mcp remove web")
