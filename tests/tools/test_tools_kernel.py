"""Syscalls through a real kernel: the loopback server plays a model that calls tools (streamed and not,
single and parallel); the kernel runs them under the access policy and sends the results back."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession
from tests.support.waits import wait_for_iopub, wait_until

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebook")
    (root / "notes.txt").write_text("The launch code is 0000.\n")
    (root / "data").mkdir()
    (root / "data" / "table.csv").write_text("a,b\n1,2\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("private")
    os.symlink(outside / "secret.txt", root / "link.txt")
    return root


def start(server, folder, *lines: str) -> KernelSession:
    session = KernelSession(cwd=str(folder))
    for line in (f"%alias fast openai/fast --api-base {server.url} --window 16000", "%model fast", *lines):
        run = session.run(line)
        assert run.status == "ok", run.error_text
    return session


@pytest.fixture(scope="module")
def k(server, folder):
    # python allowed from the start: each test must pass alone or in any order, not only after the first one.
    session = start(server, folder, "%tools on", "%tools approval stdin", "%tools allow python")
    yield session
    session.close()


def bodies(server, since: int) -> list[dict]:
    return [r["body"] for r in server.requests[since:]]


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m.get("role") == "tool"]


def answer_meta(run) -> dict:
    final = run.final_display()
    assert final is not None, run.all_text()
    return final["metadata"]["llmos"]


def test_python_tool_runs_in_the_user_namespace_and_its_result_reaches_the_next_request(k, server):
    assert k.run("%tools allow python").status == "ok"
    before = len(server.requests)
    calls = server.queue_tool_calls([{"name": "python", "arguments": {"code": "x = 6 * 7\nprint('hi')\nx"}}])
    server.queue_reply("The answer is 42.")
    run = k.run("Compute six times seven with Python.")
    assert run.status == "ok", run.error_text
    assert k.eval("x") == 42  # it ran in the notebook's namespace
    first, second = bodies(server, before)
    assert "python" in [t["function"]["name"] for t in first["tools"]]
    assistant = [m for m in second["messages"] if m.get("tool_calls")][-1]
    assert assistant["tool_calls"][0]["id"] == calls[0]["id"]
    (result,) = tool_messages(second)
    assert result["tool_call_id"] == calls[0]["id"] and result["content"] == "hi\n42"
    meta = answer_meta(run)
    ran = json.dumps({"code": "x = 6 * 7\nprint('hi')\nx"})
    assert meta["tools"][0] | {"latency_s": 0, "approval_wait_s": 0} == {
        "id": calls[0]["id"], "tool": "python", "arguments": ran,
        "sha256": hashlib.sha256(ran.encode()).hexdigest(), "decision": "allow", "approved": "rule", "status": "ok",
        "latency_s": 0, "approval_wait_s": 0, "truncated": False}
    shown = run.final_display()["data"]
    assert "llmos-tool-step" in shown["text/markdown"] and "The answer is 42." in shown["text/markdown"]
    ps = k.run("%ps").stdout
    assert "python (tool)" in ps and "ok" in ps.splitlines()[-1]
    assert "python" not in k.run("%cost").stdout  # a tool call is not a model call
    memory = k.run("%memory").stdout
    assert "tool" in memory  # the call and its result are a segment of kind tool


def test_parallel_calls_in_one_json_completion(k, server):
    assert k.run("%tools trust").status == "ok"  # untainted whatever ran before: python must not ask
    before = len(server.requests)
    calls = server.queue_tool_calls([{"name": "python", "arguments": {"code": "1 + 1"}},
                                     {"name": "python", "arguments": {"code": "2 + 2"}}], as_json=True)
    server.queue_reply("2 and 4")
    run = k.run("Two sums at once.")
    assert run.status == "ok", run.error_text
    results = tool_messages(bodies(server, before)[1])
    assert [(m["tool_call_id"], m["content"]) for m in results] == [(calls[0]["id"], "2"), (calls[1]["id"], "4")]
    assert [t["status"] for t in answer_meta(run)["tools"]] == ["ok", "ok"]


def test_parallel_streamed_calls_are_assembled(k, server):
    assert k.run("%tools trust").status == "ok"  # untainted whatever ran before: python must not ask
    before = len(server.requests)
    code = "sum(range(10_000))  # a longer argument, streamed in pieces"
    server.queue_tool_calls([{"name": "python", "arguments": {"code": code}},
                             {"name": "list_files", "arguments": {}}], pieces=7)
    server.queue_reply("done")
    run = k.run("Sum and list.")
    assert run.status == "ok", run.error_text
    results = tool_messages(bodies(server, before)[1])
    assert results[0]["content"] == "49995000"
    assert "notes.txt" in results[1]["content"] and "link.txt" not in results[1]["content"]
    # File names are untrusted content (issue 21): the listing tainted the session until the user trusts it.
    assert "result of fs.list_files" in k.run("%tools").stdout
    assert k.run("%tools trust").status == "ok"


def test_stdin_approval_granted_denied_and_always(server, folder):
    k = start(server, folder, "%tools on", "%tools approval stdin")
    try:
        before = len(server.requests)
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "granted = True"}}])
        server.queue_reply("ok")
        run = k.run_interactive("Set a flag.", stdin=["y"])
        assert run.status == "ok", run.error_text
        assert len(run.prompts) == 1 and "python" in run.prompts[0] and "granted = True" in run.prompts[0]
        assert k.eval("granted") is True and answer_meta(run)["tools"][0]["approved"] == "once"

        server.queue_tool_calls([{"name": "python", "arguments": {"code": "denied = True"}}])
        server.queue_reply("ok")
        run = k.run_interactive("Set another flag.", stdin=["n"])
        assert run.status == "ok", run.error_text
        assert k.eval("'denied' in globals()") is False
        assert tool_messages(server.requests[-1]["body"])[-1]["content"].startswith("refused by the user")
        assert answer_meta(run)["tools"][0]["status"] == "denied"

        server.queue_tool_calls([{"name": "python", "arguments": {"code": "cell = 1"}},
                                 {"name": "python", "arguments": {"code": "cell += 1"}}])
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "cell += 1"}}])
        server.queue_reply("ok")
        run = k.run_interactive("Three calls, one question.", stdin=["c"])
        assert run.status == "ok" and len(run.prompts) == 1 and k.eval("cell") == 3  # "this cell" covers them all
        assert [t["approved"] for t in answer_meta(run)["tools"]] == ["cell", "cell", "cell"]
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "cell = 0"}}])
        server.queue_reply("ok")
        run = k.run_interactive("Next cell.", stdin=["n"])
        assert len(run.prompts) == 1 and k.eval("cell") == 3  # the grant ended with its cell

        server.queue_tool_calls([{"name": "python", "arguments": {"code": "always = 1"}}])
        server.queue_reply("ok")
        run = k.run_interactive("Always.", stdin=["a"])
        assert run.status == "ok" and len(run.prompts) == 1
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "always += 1"}}])
        server.queue_reply("ok")
        run = k.run_interactive("Again.", stdin=[])
        assert run.status == "ok" and run.prompts == []  # "always" stuck: no question this time
        assert k.eval("always") == 2
        assert "allow  python" in k.run("%tools").stdout
        assert len(server.requests) - before == 13
    finally:
        k.close()


def test_headless_runs_deny_with_a_clear_note(server, folder):
    k = start(server, folder, "%tools on")  # approval auto, no widget frontend, no stdin: like nbclient
    try:
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "ran = True"}}])
        server.queue_reply("I could not run it.")
        run = k.run("Run something.")
        assert run.status == "ok", run.error_text
        assert k.eval("'ran' in globals()") is False
        result = tool_messages(server.requests[-1]["body"])[-1]["content"]
        assert "no way to ask the user" in result
        assert answer_meta(run)["tools"][0]["approved"] == "headless"
    finally:
        k.close()


def click(k: KernelSession, description: str):
    """A frontend's widget manager: open the control comm first, then click the button with this label."""
    models: dict[str, dict] = {}
    clicked: list[str] = []

    def on_message(msg: dict) -> None:
        if msg["msg_type"] == "comm_open" and msg["content"].get("target_name") == "jupyter.widget":
            state = msg["content"]["data"].get("state", {})
            models[msg["content"]["comm_id"]] = state
            if state.get("_model_name") == "ButtonModel" and state.get("description") == description and not clicked:
                clicked.append(msg["content"]["comm_id"])
                k.comm_send(msg["content"]["comm_id"], {"method": "custom", "content": {"event": "click"}})

    return on_message, clicked, models


def test_widget_approval_through_comm_messages(server, folder):
    k = start(server, folder, "%tools on")
    try:
        k.comm_open("jupyter.widget.control", metadata={"version": "1.0.0"})
        assert k.eval("__import__('llmos_kernel.tools.approval', fromlist=['x']).frontend_renders_widgets()")
        for label, code, expect in (("allow once", "w1 = 1", "ok"), ("deny", "w2 = 1", "denied"),
                                    ("always allow this tool", "w3 = 1", "ok")):
            server.queue_tool_calls([{"name": "python", "arguments": {"code": code}}])
            server.queue_reply("ok")
            on_message, clicked, models = click(k, label)
            run = k.run_interactive(f"Run {code}.", on_message=on_message)
            assert run.status == "ok", run.error_text
            assert clicked, f"no {label!r} button was shown"
            assert answer_meta(run)["tools"][0]["status"] == expect
            assert any("python" in str(s.get("value", "")) for s in models.values())  # the header names the tool
        assert k.eval("[n in globals() for n in ('w1', 'w2', 'w3')]") == [True, False, True]
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "w4 = 1"}}])
        server.queue_reply("ok")
        on_message, clicked, _ = click(k, "allow once")
        run = k.run_interactive("Once more.", on_message=on_message)
        assert run.status == "ok" and not clicked and k.eval("w4") == 1  # "always" stuck
    finally:
        k.close()


def test_round_cap(k, server):
    assert k.run("%tools rounds 2").status == "ok"
    before = len(server.requests)
    for n in range(3):
        server.queue_tool_calls([{"name": "python", "arguments": {"code": f"r{n} = {n}"}}])
    run = k.run("Loop forever.")
    assert run.status == "ok", run.error_text
    assert len(server.requests) - before == 3  # two rounds ran; the third call was not
    assert k.eval("'r2' in globals()") is False
    assert "stopped: the model asked for more tools after 2 rounds" in run.final_display()["data"]["text/plain"]
    assert k.run("%tools rounds 10").status == "ok"


def test_interrupt_during_a_tool_call(k, server, tmp_path):
    # Its own preconditions, whatever ran before it: python allowed by a rule, and no taint (a tainted session
    # makes the call ask, and with no stdin it is denied at once, so the cell ends before any interrupt).
    assert k.run("%tools allow python").status == "ok"
    assert k.run("%tools trust").status == "ok"
    started = tmp_path / "tool-started"
    code = f"import pathlib, time\npathlib.Path({str(started)!r}).write_text('1')\ntime.sleep(60)"
    server.queue_tool_calls([{"name": "python", "arguments": {"code": code}}])
    msg_id = k.send("Sleep.", cell_id="interrupt-me")
    wait_until(started.exists, "the python tool's own signal that it is running")
    k.km.interrupt_kernel()
    run = k.collect(msg_id, timeout=30)
    assert run.status == "error" and "Interrupted" in run.error_text and "Traceback" not in run.error_text
    assert k.alive()
    rows = [line for line in k.run("%ps").stdout.splitlines() if "(tool)" in line]
    assert "interrupted" in rows[-1]
    server.queue_reply("still here")
    assert k.run("Are you there?").status == "ok"


def test_a_raising_tool_and_a_huge_result(k, server):
    assert k.py("from llmos_kernel import tool\n"
                "@tool\ndef explode(reason: str) -> str:\n    'Always fails.'\n    raise ValueError(reason)\n"
                "@tool(read_only=True)\ndef huge(n: int) -> str:\n    'A long text.'\n    return 'x' * n\n"
                ).status == "ok"
    assert k.run("%tools allow user.*").status == "ok"
    assert k.run("%tools trust").status == "ok"  # untainted whatever ran before, or explode (side effects) asks
    before = len(server.requests)
    server.queue_tool_calls([{"name": "explode", "arguments": {"reason": "boom"}},
                             {"name": "huge", "arguments": {"n": 1_000_000}}])
    server.queue_reply("ok")
    run = k.run("Try both.")
    assert run.status == "ok", run.error_text
    first, second = bodies(server, before)
    schema = next(t for t in first["tools"] if t["function"]["name"] == "huge")["function"]
    assert schema["parameters"]["properties"]["n"]["type"] == "integer" and schema["description"] == "A long text."
    error, big = tool_messages(second)
    assert error["content"] == "error: ValueError: boom"
    assert len(big["content"]) < 20_000 and "result truncated: 1,000,000 characters" in big["content"]
    assert [t["truncated"] for t in answer_meta(run)["tools"]] == [False, True]


@pytest.mark.parametrize("path, refusal", [
    ("../outside/secret.txt", "'..' is refused"),
    ("/etc/passwd", "absolute paths are refused"),
    ("link.txt", "leads outside the notebook's folder"),
    ("blob.bin", "a binary file"),
])
def test_read_file_refuses_escapes(k, server, path, refusal):
    assert k.run("%tools allow fs.read_file").status == "ok"
    server.queue_tool_calls([{"name": "read_file", "arguments": {"path": path}}])
    server.queue_reply("ok")
    assert k.run(f"Read {path}.").status == "ok"
    content = tool_messages(server.requests[-1]["body"])[-1]["content"]
    assert content.startswith("error:") and refusal in content
    assert "private" not in content


def test_taint_forces_approval_after_read_file(server, folder):
    k = start(server, folder, "%tools on", "%tools allow python", "%tools allow fs.read_file")
    try:
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "before = 1"}}])
        server.queue_reply("ok")
        assert k.run("Before reading.").status == "ok" and k.eval("before") == 1  # allowed, no question
        server.queue_tool_calls([{"name": "read_file", "arguments": {"path": "notes.txt"}}])
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "after = 1"}}])
        server.queue_reply("ok")
        run = k.run("Read the notes, then run code.")
        assert run.status == "ok", run.error_text
        read, python = answer_meta(run)["tools"]
        assert read["status"] == "ok" and "launch code" in tool_messages(server.requests[-2]["body"])[-1]["content"]
        assert python["decision"] == "ask" and python["status"] == "denied"  # allowed, but tainted: asked
        assert k.eval("'after' in globals()") is False
        assert "untrusted content entered this session" in k.run("%tools").stdout
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "later = 1"}}])
        server.queue_reply("ok")
        run = k.run("And now?")  # the file's content is still resident: still asked
        assert answer_meta(run)["tools"][0]["status"] == "denied"
    finally:
        k.close()


def test_tool_definitions_are_counted_on_the_map(k, server):
    before = len(server.requests)
    server.queue_reply("ok")
    assert k.run("Hello.").status == "ok"
    sent = server.requests[before]["body"]["tools"]
    snap = json.loads(k.run("%memory --json").stdout)
    tools = [r for r in snap["regions"] if r["kind"] == "tools"]
    assert len(tools) == 1 and tools[0]["tokens"] > 0
    # Counted with the model's tokenizer like any text (this custom server's tokenizer estimates and is
    # calibrated by the server's reported usage, so the count is the memory's, scaled), and part of "used".
    expected = k.eval("(lambda m, raw: (m.tokens_of(m.tools_segment), m._scaled(raw(m.tokenizer)(m.tools_segment.text)"
                      " + m.tokenizer.per_message)))(get_ipython().kernel.runtime.memory,"
                      " __import__('llmos_kernel.memory.tokenizers', fromlist=['x']).raw_counter)")
    assert tools[0]["tokens"] == expected[0] == expected[1]
    text = k.eval("get_ipython().kernel.runtime.memory.tools_segment.text")
    assert json.loads(text) == sent  # what is counted is exactly what was sent
    assert "tools" in k.run("%memory").stdout
    server.queue_reply("ok")
    assert k.run("%%prompt --no-tools\nNo tools here.").status == "ok"
    assert "tools" not in server.requests[-1]["body"]
    snap = json.loads(k.run("%memory --json").stdout)
    assert not [r for r in snap["regions"] if r["kind"] == "tools"]


def test_per_cell_patterns_and_many_tools_paged_in(k, server):
    code = "\n".join(f"@tool(read_only=True)\ndef t{i}(q: str) -> str:\n    'Tool number {i}.'\n    return 't{i}:' + q"
                     for i in range(20))
    assert k.py("from llmos_kernel import tool\n" + code).status == "ok"
    try:
        assert k.run("%tools allow user.t*").status == "ok"  # its own rule, not one an earlier test left
        before = len(server.requests)
        server.queue_tool_calls([{"name": "load_tools", "arguments": {"names": ["t17"]}}])
        server.queue_tool_calls([{"name": "t17", "arguments": {"q": "hi"}}])
        server.queue_reply("done")
        run = k.run("%%prompt --tools user.t*\nUse t17.")
        assert run.status == "ok", run.error_text
        first, second, third = bodies(server, before)
        names = [t["function"]["name"] for t in first["tools"]]
        assert "python" not in names and "load_tools" in names and len(names) <= 12
        loader = next(t for t in first["tools"] if t["function"]["name"] == "load_tools")
        assert "t17" in loader["function"]["description"]  # only named, not defined
        assert "t17" in [t["function"]["name"] for t in second["tools"]]  # paged in for the next round
        assert tool_messages(third)[-1]["content"] == "t17:hi"
    finally:
        # Twenty tools page the others out of later requests in this shared kernel: leave none behind.
        assert k.run("\n".join(f"%tool remove t{i}" for i in range(20))).status == "ok"


def test_a_model_that_cannot_call_tools(server, folder):
    k = start(server, folder, "%tools on")
    try:
        before = server.attempts
        run = k.run("%%prompt --model text-completion-openai/gpt-3.5-turbo-instruct\nHello")
        assert run.status == "error" and len(run.errors) == 1
        assert "cannot call tools" in run.error_text and "Traceback" not in run.error_text
        assert server.attempts == before
    finally:
        k.close()


def test_tools_config_only_from_a_trusted_file(server, tmp_path):
    (tmp_path / "llmos.toml").write_text('[tools]\nenabled = true\nallow = ["python"]\n')
    k = KernelSession(cwd=str(tmp_path))
    try:
        listing = k.run("%tools").stdout
        assert "tools: off" in listing and "allow  python" not in listing
        assert "[tools]" in k.run("%config").stdout
    finally:
        k.close()
    env = dict(os.environ, LLMOS_CONFIG=str(tmp_path / "llmos.toml"))  # your own file: trusted
    k = KernelSession(cwd=str(Path.home()), env=env)
    try:
        listing = k.run("%tools").stdout
        assert "tools: on" in listing and "allow  python" in listing
    finally:
        k.close()


def test_bad_tool_magics_give_one_clear_message(k):
    for line in ("%tools maybe", "%tools allow", "%tools rounds 0", "%tool add nothing_here", "%mcp add x"):
        run = k.run(line)
        assert run.status == "error" and len(run.errors) == 1, line
        assert "Traceback" not in run.error_text and "Usage" in run.error_text or "not a function" in run.error_text


def test_interrupt_while_waiting_for_approval(server, folder):
    k = start(server, folder, "%tools on", "%tools approval widget")
    try:
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "never = 1"}}])
        msg_id = k.send("Wait for me.")
        wait_for_iopub(k, msg_id, lambda m: m["msg_type"] == "display_data" and WIDGET in m["content"]["data"],
                       "the approval widget shown (the cell now waits for a click)")
        k.km.interrupt_kernel()
        run = k.collect(msg_id, timeout=30)
        assert run.status == "error" and "Interrupted" in run.error_text
        assert k.eval("'never' in globals()") is False and k.alive()
    finally:
        k.close()


def test_tool_calls_through_litellm(server, folder):
    """A provider only litellm speaks (deepseek: OpenAI-like on the wire) goes through litellm.completion; its
    streamed tool_calls deltas (pydantic objects, not dicts) are assembled the same way."""
    k = start(server, folder, f"%alias lit deepseek/deepseek-chat --api-base {server.url} --window 16000", "%model lit",
              "%tools on", "%tools allow python")
    try:
        assert k.eval("get_ipython().kernel.runtime.backend.describe()['streaming']") == "litellm"
        before = len(server.requests)
        calls = server.queue_tool_calls([{"name": "python", "arguments": {"code": "via = 'litellm'"}},
                                         {"name": "python", "arguments": {"code": "2 ** 10"}}], pieces=4)
        server.queue_reply("done")
        run = k.run("Two calls through litellm.")
        assert run.status == "ok", run.error_text
        first, second = bodies(server, before)
        assert "python" in [t["function"]["name"] for t in first["tools"]]
        results = tool_messages(second)
        assert [(m["tool_call_id"], m["content"]) for m in results] == [
            (calls[0]["id"], "(no output)"), (calls[1]["id"], "1024")]
        assert k.eval("via") == "litellm"
    finally:
        k.close()
