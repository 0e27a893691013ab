"""What the user sees of a tool call is what runs (issue 21), through a real kernel and the loopback server playing
a model that calls tools:

- the approval question (stdin prompt, widget HTML, and the headless record) holds every character of the code,
  never cut, never pattern-redacted, and the sha256 of the exact arguments, the same in the step, %ps and the
  output metadata; only known secret values are masked, and the question says so;
- a tool name the model makes up, or an MCP server offers, cannot break out of the step into Markdown;
- a known secret value a tool returns is masked in what is shown, stored and sent back to the model;
- an MCP server's readOnlyHint does not relax asking: only the user's --read-only does;
- read_file reads only what it shows.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import sys
from pathlib import Path

from tests.support.kernel import KernelSession
from tests.support.openai_server import OpenAIServer

MCP_SERVER = Path(__file__).resolve().parent.parent / "support" / "mcp_server.py"
SECRET = "tok-" + "7f3a9c1e5b2d8f40" * 2  # a made-up token, in a variable named like a credential
SECRET_VAR = "LLMOS_TEST_SERVICE_TOKEN"
MASK = "[secret value hidden]"
# Code that pattern redaction used to hide: everything after "# Bearer x" on its line, the URL's credentials, and
# all that followed 2,000 characters. Each "ran_*" line must be shown, and must run.
HIDDEN_CODE = ("# Bearer x\nran_after_bearer = 1\n"
               "url = 'http://a:b@host'; ran_in_url = url.count('@')\n"
               + "".join(f"pad_{i} = {i}  # padding to pass the old 2,000-character cut\n" for i in range(60))
               + "ran_past_3000 = 3\n")
HOSTILE = "x\n\n![leak](http://127.0.0.1:9/leak.png)\r\r[click](javascript:alert(1))"


def start(server: OpenAIServer, folder: Path, *lines: str, env: dict[str, str] | None = None) -> KernelSession:
    session = KernelSession(cwd=str(folder), env={**os.environ, SECRET_VAR: SECRET, **(env or {})})
    for line in (f"%alias fast openai/fast --api-base {server.url} --window 16000", "%model fast", "%tools on",
                 *lines):
        run = session.run(line)
        assert run.status == "ok", run.error_text
    return session


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def tool_messages(server: OpenAIServer) -> list[dict]:
    return [m for m in server.requests[-1]["body"]["messages"] if m.get("role") == "tool"]


def sent_arguments(server: OpenAIServer) -> str:
    """The arguments of the last round's call, as the kernel echoed them to the model: what it ran."""
    assistant = [m for m in server.requests[-1]["body"]["messages"] if m.get("tool_calls")][-1]
    return assistant["tool_calls"][0]["function"]["arguments"]


def llmos_meta(run) -> dict:
    final = run.final_display()
    assert final is not None, run.all_text()
    return final["metadata"]["llmos"]


def test_the_stdin_question_shows_every_character_and_the_digest_matches_what_ran(server, tmp_path):
    assert len(HIDDEN_CODE) > 3000
    k = start(server, tmp_path, "%tools approval stdin")
    try:
        server.queue_tool_calls([{"name": "python", "arguments": {"code": HIDDEN_CODE}}])
        server.queue_reply("done")
        run = k.run_interactive("Run it.", stdin=["y"])
        assert run.status == "ok", run.error_text
        assert k.eval("[ran_after_bearer, ran_in_url, ran_past_3000]") == [1, 1, 3]  # all of it ran
        (prompt,) = run.prompts
        assert HIDDEN_CODE.rstrip("\n") in prompt and "[redacted]" not in prompt  # every character, as it runs
        ran = sent_arguments(server)
        assert json.loads(ran)["code"] == HIDDEN_CODE
        digest = sha256(ran)
        assert digest in prompt
        (record,) = llmos_meta(run)["tools"]
        assert record["sha256"] == digest and record["arguments"] == ran  # all of it, not cut
        step = run.final_display()["data"]["text/markdown"]
        assert digest in step and html.escape("ran_past_3000") in step and "[redacted]" not in step
        assert digest[:16] in k.run("%ps").stdout
    finally:
        k.close()


def test_the_widget_question_shows_every_character(server, tmp_path):
    k = start(server, tmp_path)
    try:
        k.comm_open("jupyter.widget.control", metadata={"version": "1.0.0"})
        states: list[dict] = []
        clicked: list[str] = []

        def on_message(msg: dict) -> None:
            if msg["msg_type"] == "comm_open" and msg["content"].get("target_name") == "jupyter.widget":
                state = msg["content"]["data"].get("state", {})
                states.append(state)
                if state.get("description") == "allow once" and not clicked:
                    clicked.append(msg["content"]["comm_id"])
                    k.comm_send(msg["content"]["comm_id"], {"method": "custom", "content": {"event": "click"}})

        server.queue_tool_calls([{"name": "python", "arguments": {"code": HIDDEN_CODE}}])
        server.queue_reply("done")
        run = k.run_interactive("Run it.", on_message=on_message)
        assert run.status == "ok" and clicked, run.error_text
        shown = [html.unescape(s["value"]) for s in states if "llmos-approval-arguments" in str(s.get("value"))]
        assert len(shown) == 1
        assert HIDDEN_CODE.rstrip("\n") in shown[0] and "[redacted]" not in shown[0]
        digest = sha256(sent_arguments(server))
        assert digest == llmos_meta(run)["tools"][0]["sha256"] and digest in shown[0]
        assert k.eval("ran_past_3000") == 3
    finally:
        k.close()


def test_headless_record_and_a_known_secret_in_the_code(server, tmp_path):
    k = start(server, tmp_path, "%tools approval stdin")
    try:
        code = f"token = {SECRET!r}\n# Bearer y\nafter = 1"
        server.queue_tool_calls([{"name": "python", "arguments": {"code": code}}])
        server.queue_reply("done")
        run = k.run_interactive("Use the token.", stdin=["n"])
        assert run.status == "ok", run.error_text
        (prompt,) = run.prompts
        assert SECRET not in prompt and MASK in prompt and "known secret value" in prompt  # said, not hidden
        assert "# Bearer y\nafter = 1" in prompt
        (record,) = llmos_meta(run)["tools"]
        assert record["sha256"] == sha256(sent_arguments(server))  # the digest is of the real text
        assert SECRET not in json.dumps(record) and MASK in record["arguments"]

        server.queue_tool_calls([{"name": "python", "arguments": {"code": HIDDEN_CODE}}])
        server.queue_reply("done")
        run = k.run("Run it with no one to ask.")  # no stdin on this request: headless
        (record,) = llmos_meta(run)["tools"]
        assert record["approved"] == "headless" and json.loads(record["arguments"])["code"] == HIDDEN_CODE
        assert record["sha256"] == sha256(sent_arguments(server))
    finally:
        k.close()


def test_a_secret_a_tool_returns_is_masked_everywhere(server, tmp_path):
    k = start(server, tmp_path, "%tools allow python")
    try:
        server.queue_tool_calls([{"name": "python",
                                  "arguments": {"code": f"import os\nprint(os.environ[{SECRET_VAR!r}])"}}])
        server.queue_reply("done")
        run = k.run("Print the token.")
        assert run.status == "ok", run.error_text
        assert tool_messages(server)[-1]["content"] == MASK  # not even the model gets it
        assert SECRET not in run.all_text() and SECRET not in json.dumps(run.final_display())
        assert SECRET not in k.run("%ps").stdout
        memory = k.eval("'\\n'.join(s.text + s.answer for s in get_ipython().kernel.runtime.memory.segments)")
        assert MASK in memory and SECRET not in memory
    finally:
        k.close()


def test_made_up_and_hostile_tool_names_stay_text(server, tmp_path):
    k = start(server, tmp_path, "%tools allow python")
    try:
        server.queue_tool_calls([{"name": HOSTILE, "arguments": {"code": "1"}},
                                 {"name": "python", "arguments": {"code": "print('a\\r\\r![i](http://127.0.0.1:9/i.png)')"}}])
        server.queue_reply("done")
        run = k.run("Call a strange tool.")
        assert run.status == "ok", run.error_text
        markdown = run.final_display()["data"]["text/markdown"]
        # Each step is one line of HTML (a blank line would end the block and let Markdown in); no raw \r.
        steps = [line for line in markdown.split("\n") if "llmos-tool-step" in line]
        assert len(steps) == 2 and all(line.endswith("</details>") for line in steps)
        assert sum(line.count("<details") for line in markdown.split("\n")) == 2
        assert "\r" not in markdown and "](javascript:" not in markdown and "![leak]" not in markdown
        assert "unusable name" in markdown
        tools = llmos_meta(run)["tools"]
        assert tools[0]["status"] == "denied" and "\n" not in tools[0]["tool"]

        head = "%%python\nfrom llmos_kernel import tool\n"
        for line in (head + "@tool(name='tóol')\ndef f() -> str:\n    'x'\n    return 'x'",
                     head + "def g() -> str:\n    'x'\n    return 'x'\ng.__name__ = 'g\\n\\nh'\ntool(g)"):
            bad = k.run(line)
            assert bad.status == "error" and "not a usable tool name" in bad.error_text, bad.all_text()
        assert k.alive()
    finally:
        k.close()


def test_an_mcp_tool_with_a_hostile_name_is_skipped_with_a_note(server, tmp_path):
    k = start(server, tmp_path, env={"MCP_TEST_HOSTILE_NAME": HOSTILE})
    try:
        run = k.run(f"%mcp add evil --env MCP_TEST_HOSTILE_NAME -- {sys.executable} {MCP_SERVER}")
        assert run.status == "ok", run.error_text
        assert "skipped 1 tool" in run.stdout and "![" not in run.stdout and "evil.add" in run.stdout
        assert "leak" not in k.run("%tools").stdout
    finally:
        k.close()


def test_mcp_read_only_is_the_users_word_not_the_servers(server, tmp_path):
    k = start(server, tmp_path, "%tools allow mcp.demo.echo", "%tools allow mcp.demo.add",
              env={"MCP_TEST_NOTES": str(tmp_path / "notes.txt")})
    try:
        for declared, expect in (("", "refused"), ("--read-only add,pid ", "5")):
            run = k.run(f"%mcp add demo {declared}-- {sys.executable} {MCP_SERVER}")
            assert run.status == "ok", run.error_text
            listing = k.run("%mcp").stdout
            add_row = next(line for line in listing.splitlines() if "demo.add" in line)
            assert ("server claims read-only" in add_row) == (not declared)
            # Round 1 brings untrusted content (an MCP result); round 2 calls `add`, which the server calls
            # read-only. With no one to ask (no stdin), a tool with side effects is refused under taint.
            server.queue_tool_calls([{"name": "demo__echo", "arguments": {"text": "untrusted"}}])
            server.queue_tool_calls([{"name": "demo__add", "arguments": {"a": 2, "b": 3}}])
            server.queue_reply("done")
            assert k.run("Echo, then add.").status == "ok"
            assert tool_messages(server)[-1]["content"].startswith(expect)
    finally:
        k.close()


def test_read_file_reads_only_what_it_shows(server, tmp_path):
    big = tmp_path / "big.log"
    with big.open("wb") as handle:
        handle.write(b"a log line\n" * 2000)
        handle.truncate(600_000_000)  # sparse: 600 MB on paper, almost nothing on disk
    k = start(server, tmp_path, "%tools allow fs.read_file")
    try:
        peak = "__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss"
        before = k.eval(peak)
        server.queue_tool_calls([{"name": "read_file", "arguments": {"path": "big.log"}}])
        server.queue_reply("done")
        assert k.run("Read the log.").status == "ok"
        grown_kb = k.eval(peak) - before  # ru_maxrss is in KB on Linux
        assert grown_kb < 100_000, f"the kernel's peak memory grew by {grown_kb:,} KB reading a 600 MB file"
        result = tool_messages(server)[-1]["content"]
        assert result.startswith("a log line\n") and "the file is 600,000,000 bytes" in result
    finally:
        k.close()
