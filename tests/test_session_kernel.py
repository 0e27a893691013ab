"""Sessions that survive, through real kernel processes: restart, SIGKILL mid-stream, two kernels on one store,
snapshots, and no credential ever reaching the store or an export.

Each kernel gets $LLMOS_STORE (a temporary file) and $JPY_SESSION_NAME (a fake notebook path), as
jupyter_server sets it; models are served by the loopback OpenAI-compatible server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos_kernel.store import Store
from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer
from tests.support.waits import wait_until


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def kernel_env(tmp_path: Path, notebook: str = "work/analysis.ipynb", **extra: str) -> dict[str, str]:
    return {**os.environ, "LLMOS_STORE": str(tmp_path / "store.db"),
            "JPY_SESSION_NAME": str(tmp_path / notebook), **extra}


@contextlib.contextmanager
def kernel_with(env: dict[str, str]) -> Iterator[KernelSession]:
    session = KernelSession(env=env)
    try:
        yield session
    finally:
        session.close()


def ok(run: Run) -> Run:
    assert run.status == "ok", run.error_text + run.stderr
    return run


def use_server(kernel: KernelSession, server: OpenAIServer, extra: str = "") -> None:
    ok(kernel.run(f"%model openai/x --api-base {server.url} --window 16000 {extra}"))


def ask(kernel: KernelSession, prompt: str, cell_id: str) -> Run:
    return ok(kernel.run(f"%%prompt --max-tokens 8\n{prompt}", cell_id=cell_id))


def context(kernel: KernelSession) -> dict:
    return json.loads(ok(kernel.run("%context --json")).stdout)


# Process-local, by design: the undo history, and the last request the provider may still have cached.
EPHEMERAL = ("can_undo", "cache_prefix_tokens")


def memory_map(kernel: KernelSession) -> dict:
    """%memory --json: every segment, resident and swapped, with its tokens and state."""
    snap = json.loads(ok(kernel.run("%memory --json")).stdout)
    return {key: value for key, value in snap.items() if key not in EPHEMERAL}


def processes(kernel: KernelSession) -> list:
    return kernel.eval("[(p.cell, p.cell_id, p.model, p.status, p.tokens_in, p.tokens_out) "
                       "for p in get_ipython().kernel.runtime.processes]")


def restart(kernel: KernelSession) -> None:
    kernel.km.restart_kernel(now=False)
    kernel.kc.wait_for_ready(timeout=60)


def test_restart_restores_memory_model_and_process_table(tmp_path, server):
    env = kernel_env(tmp_path)
    with kernel_with(env) as k:
        use_server(k, server)
        ok(k.run("%system You answer in one short line."))
        for i, topic in enumerate(["paging", "swap files", "page faults"]):
            ask(k, f"Explain {topic}.", f"cell-{i}")
        ok(k.run("%evict cell-1"))  # one turn in swap, so swap must survive too
        before, memory_before, procs = context(k), memory_map(k), processes(k)
        assert [row["state"] for row in memory_before["segments"]].count("swapped") == 1
        assert len(procs) == 3

        restart(k)
        # Restored lazily: nothing is built (no tokenizer or model loaded) until the memory is used.
        assert k.eval("get_ipython().kernel.runtime.loaded_memory is None") is True
        assert f"--api-base {server.url}" in ok(k.run("%model")).stdout
        assert context(k) == before
        assert memory_map(k) == memory_before
        assert processes(k) == procs
        shown = ok(k.run("%session")).stdout
        assert env["JPY_SESSION_NAME"] in shown and str(tmp_path / "store.db") in shown and "cells: 3" in shown

        # The restored conversation is what the model receives next.
        ask(k, "And thrashing?", "cell-9")
        sent = server.requests[-1]["body"]["messages"]
        assert sent[:-1] == before["messages"] and sent[-1]["content"] == "And thrashing?"

        # %session new starts fresh (and stays fresh after a restart); the old session is kept.
        ok(k.run("%session new"))
        fresh = context(k)
        assert [m["role"] for m in fresh["messages"]] == ["system"]
        restart(k)
        assert context(k)["messages"] == fresh["messages"] and processes(k) == []
        listing = ok(k.run("%sessions")).stdout.strip().splitlines()
        assert len(listing) == 2 and listing[0].startswith("*") and "(until " in listing[1]


@pytest.mark.slow
def test_restart_restores_memory_on_the_embedded_model(tmp_path):
    env = kernel_env(tmp_path, "embedded.ipynb")
    with kernel_with(env) as k:
        for i in range(2):
            ask(k, f"Say hello {i}.", f"e{i}")
        before, memory_before = context(k), memory_map(k)
        assert before["exact"] is True and len(before["messages"]) == 5  # llama.cpp's own tokenizer
        restart(k)
        assert ok(k.run("%model")).stdout.startswith("model: smollm2")
        assert context(k) == before and memory_map(k) == memory_before


def wait_for_stream(kernel: KernelSession, msg_id: str, text: str, timeout: float = 30) -> None:
    """Block until the cell's answer is visibly streaming (an update carrying `text`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kernel.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id or msg["msg_type"] != "update_display_data":
            continue
        if text in msg["content"]["data"].get("text/markdown", ""):
            return
    raise TimeoutError("the answer never started streaming")


def test_sigkill_mid_stream_loses_only_the_streaming_cell(tmp_path, server):
    env = kernel_env(tmp_path)
    k = KernelSession(env=env)
    try:
        use_server(k, server)
        for i in range(3):
            ask(k, f"Fact number {i} about memory?", f"done-{i}")
        before, procs = context(k), processes(k)
        # One word, then the server holds the rest (a gate never opened): the kill lands mid-stream on any machine.
        server.queue_fault("stall", after=1, text="slowly " * 60, gate=threading.Event())
        msg_id = k.send("%%prompt --max-tokens 8\nThis answer is cut by a kill.", cell_id="doomed")
        wait_for_stream(k, msg_id, "slowly")
        os.kill(k.km.provisioner.process.pid, signal.SIGKILL)
        wait_until(lambda: not k.alive(), "the killed kernel gone")
    finally:
        k.close()

    with kernel_with(env) as again:
        after = context(again)
        assert after == before
        assert "This answer is cut by a kill." not in json.dumps(after)
        assert processes(again) == procs
        assert "cells: 3" in ok(again.run("%session")).stdout


def test_two_kernels_write_one_store_at_once(tmp_path, server):
    envs = [kernel_env(tmp_path, f"nb{i}.ipynb") for i in range(2)]
    contexts = []
    with kernel_with(envs[0]) as a, kernel_with(envs[1]) as b:
        kernels = [a, b]
        for k in kernels:
            use_server(k, server)
        for n in range(8):
            # Both cells run (and commit) at the same time; the loopback server echoes each prompt.
            ids = [k.send(f"%%prompt --max-tokens 8\nKernel {i} question {n}", cell_id=f"q{n}")
                   for i, k in enumerate(kernels)]
            for k, msg_id in zip(kernels, ids, strict=True):
                ok(k.collect(msg_id))
        contexts = [context(k) for k in kernels]
        # Snapshots and %session new write several tables at once, while the other kernel writes too.
        results: list[Run] = []
        thread = threading.Thread(target=lambda: results.append(a.run("%save checkpoint")))
        thread.start()
        ok(b.run("%save checkpoint"))
        thread.join()
        ok(results[0])
    for env, expected in zip(envs, contexts, strict=True):
        with kernel_with(env) as k:
            restored = context(k)
            assert restored == expected
            assert len([m for m in restored["messages"] if m["role"] == "user"]) == 8
    # Any stored session can be opened by key, here the first kernel's from the second notebook.
    with kernel_with(envs[1]) as k:
        assert "opened session" in ok(k.run(f"%session open {envs[0]['JPY_SESSION_NAME']}")).stdout
        assert context(k) == contexts[0]
        assert k.run("%session open nowhere.ipynb").status == "error"
    with contextlib.closing(sqlite3.connect(tmp_path / "store.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = db.execute("SELECT s.key, count(c.id) FROM sessions s JOIN cells c ON c.session_id = s.id"
                            " GROUP BY s.key ORDER BY s.key").fetchall()
        assert counts == [(envs[0]["JPY_SESSION_NAME"], 8), (envs[1]["JPY_SESSION_NAME"], 8)]


def test_snapshots_round_trip(tmp_path, server):
    env = kernel_env(tmp_path)
    with kernel_with(env) as k:
        use_server(k, server)
        ask(k, "Remember the number 41.", "a")
        ask(k, "And the colour teal.", "b")
        ok(k.run("%evict a"))
        assert "saved snapshot 'before'" in ok(k.run("%save before")).stdout
        saved, saved_map = context(k), memory_map(k)

        ok(k.run("%system Only ever answer in French."))
        ask(k, "Now forget all that.", "c")
        ok(k.run("%forget b"))
        ok(k.run("%recall 41"))
        assert context(k) != saved

        assert "restored snapshot 'before'" in ok(k.run("%restore before")).stdout
        assert context(k) == saved and memory_map(k) == saved_map
        assert "before" in ok(k.run("%restore")).stdout  # lists the snapshots
        missing = k.run("%restore nope")
        assert missing.status == "error" and "no snapshot 'nope'" in missing.error_text
        assert len(processes(k)) == 3  # rolling memory back keeps the record of what ran

        restart(k)  # the restored state is the session's state now
        assert context(k) == saved


def test_no_api_key_reaches_the_store_or_an_export(tmp_path, server):
    keys = {name: f"sk-{name.lower()}-{uuid.uuid4().hex}{uuid.uuid4().hex}"
            for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LLMOS_PROXY_CRED")}
    env = kernel_env(tmp_path, **keys)
    md, js = tmp_path / "out" / "transcript.md", tmp_path / "transcript.json"
    md.parent.mkdir()
    with kernel_with(env) as k:
        # A variable name that does not look like a key: only --api-key-env says it holds one.
        use_server(k, server, "--api-key-env LLMOS_PROXY_CRED")
        ok(k.run("%alias other openai/y --api-key-env OPENAI_API_KEY"))
        ask(k, "What is virtual memory?", "a")
        ok(k.py("import os\nk1 = os.environ['OPENAI_API_KEY']\nk2 = os.environ['LLMOS_PROXY_CRED']"))
        ask(k, "Keep these safe: {k1} and {k2}", "b")  # the server echoes the prompt back, keys and all
        assert server.requests[-1]["has_authorization"]
        assert keys["OPENAI_API_KEY"] in server.requests[-1]["body"]["messages"][-1]["content"]
        ok(k.run("%save with-keys"))
        assert "exported 2 cells" in ok(k.run(f"%export {md}")).stdout
        ok(k.run(f"%export {js}"))
        bad = k.run(f"%export {tmp_path / 'transcript.txt'}")
        assert bad.status == "error" and ".md or .json" in bad.error_text
        files = {p: p.read_bytes() for p in tmp_path.glob("store.db*")}
        assert any(name.name.endswith("-wal") for name in files)  # the WAL is checked while the kernel runs
    files.update({p: p.read_bytes() for p in tmp_path.glob("store.db*")} | {md: md.read_bytes(), js: js.read_bytes()})
    for path, data in files.items():
        for name, key in keys.items():
            assert key.encode() not in data, f"{name} found in {path.name}"
    transcript = json.loads(js.read_text())
    assert [c["status"] for c in transcript["cells"]] == ["ok", "ok"]
    assert transcript["totals"]["tokens_in"] > 0 and "[redacted]" in transcript["cells"][1]["prompt"]
    assert "What is virtual memory?" in md.read_text() and "## In [" in md.read_text()


def test_a_kernel_without_a_notebook_path_gets_a_generated_key_and_config_chooses_the_store(tmp_path):
    # The kernel's own config (as in ~/.ipython/profile_default/ipython_kernel_config.py): c.SessionMagics.store_path
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    configured = tmp_path / "configured" / "sessions.db"
    (profile / "ipython_kernel_config.json").write_text(json.dumps({"SessionMagics": {"store_path": str(configured)}}))
    env = {name: value for name, value in os.environ.items() if name not in ("JPY_SESSION_NAME", "LLMOS_STORE")}
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    with kernel_with(env) as k:
        shown = ok(k.run("%session")).stdout
        assert "session: kernel-" in shown and "generated" in shown and str(configured) in shown
        assert not configured.exists() or Store(configured).sessions() == []  # nothing worth a row yet
        ok(k.run("%system Be brief."))
        key = shown.split()[1]
    assert [info.key for info in Store(configured).sessions()] == [key]
