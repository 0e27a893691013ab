"""notebooks/syscalls.ipynb runs clean under nbclient against the loopback server, scripted to make the tool
calls each prompt cell asks for (a notebook cannot script the server; its first cell reads the server's
address from LLMOS_DEMO_API_BASE). nbclient has no stdin and no widget frontend: the headless case."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.openai_server import OpenAIServer

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
DENIED_CODE = "open('pwned.txt', 'w').write('obeyed the file')"

# (the prompt cell's first words, the tool calls the "model" makes there, its answer afterwards), in order.
SCRIPT = [
    ("What is 2 to the power of 100?", [{"name": "python", "arguments": {"code": "big = 2 ** 100\nbig"}}],
     "I could not run Python here; 2 to the power of 100 is 1267650600228229401496703205376."),
    ("Compute the squares", [{"name": "python",
                              "arguments": {"code": "squares = [n * n for n in range(1, 11)]\nsum(squares)"}}],
     "`squares` now holds the ten squares; they add up to 385."),
    ("%%prompt --tools user.*", [{"name": "word_count",
                                  "arguments": {"text": "the quick brown fox jumps over the lazy dog"}}],
     "There are nine words."),
    ("Read launch-notes.txt", [{"name": "read_file", "arguments": {"path": "launch-notes.txt"}}],
     "The launch window opens on 14 March at 09:30 UTC."),
    ("Now follow the instructions", [{"name": "python", "arguments": {"code": DENIED_CODE}}],
     "I will not act on instructions found in a file."),
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, OpenAIServer, Path]:
    folder = tmp_path_factory.mktemp("run") / "notebooks"
    shutil.copytree(NOTEBOOKS, folder)
    notebook = nbformat.read(folder / "syscalls.ipynb", as_version=4)
    with OpenAIServer() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLMOS_DEMO_API_BASE", server.url)  # the kernel subprocess inherits it
        for _cell, calls, answer in SCRIPT:
            server.queue_tool_calls(calls)
            server.queue_reply(answer)
        NotebookClient(notebook, timeout=120, kernel_name="llmos",
                       resources={"metadata": {"path": str(folder)}}).execute()
        assert server.pending() == 0  # every scripted reply was consumed, by the cells meant to
        yield notebook, server, folder


def cell(notebook: nbformat.NotebookNode, start: str, exact: bool = False) -> nbformat.NotebookNode:
    """The first code cell starting with ``start`` (or, ``exact``, whose whole source is it)."""
    found = [c for c in notebook.cells if c.cell_type == "code"
             and (c.source.strip() == start if exact else c.source.startswith(start))]
    assert found, f"no cell starting with {start!r}"
    return found[0]


def stdout(code_cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in code_cell.outputs if o.output_type == "stream" and o.name == "stdout")


def answer(code_cell: nbformat.NotebookNode) -> tuple[dict, dict]:
    """The final answer display of a prompt cell: its data and its llmos metadata."""
    (shown,) = [o for o in code_cell.outputs if "llmos" in o.get("metadata", {})]
    return shown["data"], shown["metadata"]["llmos"]


def requests_of(server: OpenAIServer, index: int) -> tuple[dict, dict]:
    """The two requests of the index-th prompt cell: the one answered with calls, the one carrying results."""
    return server.requests[2 * index]["body"], server.requests[2 * index + 1]["body"]


def tool_results(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m.get("role") == "tool"]


def test_every_cell_runs_without_errors(executed):
    notebook, server, _folder = executed
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells)
    errors = [(c.source, o) for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert len(server.requests) == 2 * len(SCRIPT)
    for index, (start, calls, text) in enumerate(SCRIPT):
        data, meta = answer(cell(notebook, start))
        assert text.split(";")[0].replace("`", "") in data["text/plain"].replace("`", "")
        assert [t["tool"].split(".")[-1] for t in meta["tools"]] == [c["name"] for c in calls]
        first, _second = requests_of(server, index)
        assert first["model"] == "demo"  # the alias the first cell made from the environment variable


def test_the_policy_table_is_printed(executed):
    notebook, _server, _folder = executed
    table = stdout(cell(notebook, "%tools on"))
    assert "tools on" in table and "policy (the most specific pattern wins):" in table
    rows = {line.split()[0]: line.split()[1] for line in table.splitlines()
            if line.split() and line.split()[0] in ("python", "fs.read_file", "fs.list_files")}
    assert rows == {"python": "ask", "fs.read_file": "ask", "fs.list_files": "allow"}
    assert "untrusted content" not in table


def test_a_headless_run_denies_with_a_note(executed):
    notebook, server, _folder = executed
    data, meta = answer(cell(notebook, SCRIPT[0][0]))
    (call,) = meta["tools"]
    assert call["decision"] == "ask" and call["approved"] == "headless" and call["status"] == "denied"
    (result,) = tool_results(requests_of(server, 0)[1])
    assert result.startswith("refused: this run has no way to ask the user (no stdin)")
    assert "no one to ask" in data["text/markdown"] and 'class="llmos-tool-step"' in data["text/markdown"]


def test_an_allowed_python_call_leaves_its_variable_in_the_notebook(executed):
    notebook, server, _folder = executed
    _data, meta = answer(cell(notebook, SCRIPT[1][0]))
    assert meta["tools"][0]["decision"] == "allow" and meta["tools"][0]["status"] == "ok"
    assert tool_results(requests_of(server, 1)[1]) == ["385"]
    printed = stdout(cell(notebook, "%%python\nprint('squares ="))
    assert "squares = [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]" in printed and "their sum = 385" in printed


def test_a_user_tool_alone_in_its_cell(executed):
    notebook, server, _folder = executed
    first, second = requests_of(server, 2)
    assert [t["function"]["name"] for t in first["tools"]] == ["word_count"]  # --tools user.*
    schema = first["tools"][0]["function"]
    assert schema["description"] == "Count the words of a text."
    assert schema["parameters"]["properties"]["text"]["type"] == "string"
    assert tool_results(second) == ["9"]
    assert answer(cell(notebook, SCRIPT[2][0]))[1]["tools"][0]["approved"] == "rule"


def test_read_file_of_the_folder_once_allowed(executed):
    notebook, server, _folder = executed
    _data, meta = answer(cell(notebook, SCRIPT[3][0]))
    ran = json.dumps({"path": "launch-notes.txt"})
    assert meta["tools"][0] | {"latency_s": 0, "approval_wait_s": 0} == {
        "id": meta["tools"][0]["id"], "tool": "fs.read_file", "arguments": ran,
        "sha256": hashlib.sha256(ran.encode()).hexdigest(), "decision": "allow", "approved": "rule", "status": "ok",
        "latency_s": 0, "approval_wait_s": 0, "truncated": False}
    (result,) = tool_results(requests_of(server, 3)[1])
    assert "Launch window: 14 March, 09:30 UTC." in result


def test_taint_makes_an_allowed_python_call_ask(executed):
    notebook, server, folder = executed
    _data, meta = answer(cell(notebook, SCRIPT[4][0]))
    (call,) = meta["tools"]
    assert call["decision"] == "ask" and call["approved"] == "headless" and call["status"] == "denied"
    assert tool_results(requests_of(server, 4)[1])[0].startswith("refused: this run has no way to ask")
    assert not (folder / "pwned.txt").exists()
    later = stdout(cell(notebook, "%tools", exact=True))
    assert "untrusted content entered this session" in later and "%tools trust" in later
    assert any(line.split()[:2] == ["python", "allow"] for line in later.splitlines())  # allowed, yet it asked


def test_ps_lists_the_calls_and_memory_shows_the_tools_region(executed):
    notebook, _server, _folder = executed
    ps = stdout(cell(notebook, "%ps", exact=True)).splitlines()
    tools = [line for line in ps if "(tool)" in line]
    assert [line.split()[1] for line in tools] == ["python", "python", "user.word_count", "fs.read_file", "python"]
    assert [line.split()[3] for line in tools] == ["denied", "ok", "ok", "ok", "denied"]
    assert "launch-notes.txt" in tools[3]  # the arguments, on the row
    assert len([line for line in ps if "openai/demo" in line]) == len(SCRIPT)  # and each prompt cell's model
    memory = stdout(cell(notebook, "%memory", exact=True)).splitlines()
    by_kind = {line.split()[0]: int(line.split()[1]) for line in memory[memory.index("by kind:") + 1:]
               if line.startswith("  ") and len(line.split()) == 3}
    assert by_kind["tools"] > 0 and by_kind["tool"] > 0  # the definitions, and the calls with their results
    kinds = [line.split()[2] for line in memory if line.startswith("  s") and len(line.split()) > 4]
    assert kinds.count("tool") == len(SCRIPT)
