"""Every model call on the one send path, through real kernels on the loopback server (which counts requests):
%%compare, a compaction and %%prompt --map are replayed, refused in ``only`` mode without a recording, checked
against budgets before sending and listed in %ps, like a prompt cell; a tool-using cell replays with its tool
results, so the cell after it replays too."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer


@pytest.fixture(scope="module")
def server():
    with OpenAIServer() as srv:
        yield srv


def kernel_on(server: OpenAIServer, store: Path, *setup: str, **env: str) -> KernelSession:
    session = KernelSession(env={**os.environ, "LLMOS_STORE": str(store), **env})
    lines = [f"%alias fast openai/fast --api-base {server.url} --window 16000",
             f"%alias slow openai/slow --api-base {server.url} --window 16000", "%model fast", *setup]
    run = session.run("\n".join(lines))
    assert run.status == "ok", run.error_text
    return session


def ok(run: Run) -> Run:
    assert run.status == "ok", run.all_text()
    return run


def refused(run: Run, *phrases: str) -> None:
    """One clear error saying why, naming what was not sent; no traceback of ours."""
    assert run.status == "error" and len(run.errors) == 1, run.all_text()
    for phrase in phrases:
        assert phrase in run.error_text, run.error_text
    assert "Traceback" not in run.error_text


TURNS = [(f"t{i}", f"Tell me fact number {i} about rivers. " + "More words here. " * 10) for i in range(3)]
COMPARE = "%%compare fast slow --no-history\nName a colour."
MAP = "%%prompt --map things --as said\nSay {item}."


def conversation(k: KernelSession) -> None:
    """Three turns of history: enough for %compact to summarize the oldest (it keeps the newest two)."""
    for cell_id, text in TURNS:
        ok(k.run(text, cell_id=cell_id))
    ok(k.py("things = ['red', 'blue']"))


def test_only_mode_without_recordings_sends_nothing_for_compare_compaction_and_map(server, tmp_path):
    k = kernel_on(server, tmp_path / "store.db")
    try:
        conversation(k)  # live (replay off): the prompt cells are recorded, nothing else is
        ok(k.run("%replay only"))
        before = server.attempts
        refused(k.run(COMPARE), "Not recorded", "2 of 2 models' requests have no recording", "nothing was sent")
        refused(k.run("%compact"), "Not recorded", "this compaction", "has no recording", "Nothing was sent")
        refused(k.run(MAP), "Not recorded", "2 of 2 items of things have no recording")
        assert server.attempts == before  # the loopback server saw none of them
        assert "(compacting)" not in k.run("%ps").stdout
    finally:
        k.close()


def test_recorded_compare_compaction_and_map_replay_with_no_request_and_show_in_ps(server, tmp_path):
    store = tmp_path / "store.db"
    cells = [COMPARE, "%compact", MAP]
    first = kernel_on(server, store, "%replay on")
    try:
        conversation(first)
        before = server.attempts
        live = [ok(first.run(cell)) for cell in cells]
        assert server.attempts == before + 2 + 1 + 2  # two columns, one summary, two items: all were sent
    finally:
        first.close()
    again = kernel_on(server, store, LLMOS_REPLAY="only")  # CI mode, from the environment
    try:
        assert "replay: only" in again.run("%replay").stdout
        before = server.attempts
        conversation(again)
        runs = [ok(again.run(cell)) for cell in cells]
        assert server.attempts == before  # everything replayed: the server saw nothing
        columns = runs[0].of_type("display_data", "update_display_data")[-1]["content"]
        shown = columns["metadata"]["llmos"]["compare"]
        recorded = live[0].of_type("display_data", "update_display_data")[-1]["content"]["metadata"]["llmos"]
        assert [m["digest"] for m in shown] == [m["digest"] for m in recorded["compare"]]
        assert all(m["replayed"] and m["cost_usd"] == 0 for m in shown)
        assert columns["data"]["text/plain"].count("replayed (nothing sent)") == 2
        assert "replayed" in runs[1].all_text() and "compacted 1 segments" in runs[1].stdout
        assert "2 done (2 replayed)" in runs[2].stdout and again.eval("said") == first_said(live[2])
        ps = again.run("%ps").stdout
        assert "openai/fast (compare)" in ps and "openai/slow (compare)" in ps
        assert "(compacting)" in ps and "(map 2 items)" in ps
    finally:
        again.close()


def first_said(run: Run) -> list[str]:
    """The --map answers the live run bound (the loopback server echoes each item's prompt)."""
    assert "2 done (0 replayed)" in run.stdout, run.stdout
    return ["Echo: Say red.", "Echo: Say blue."]


def test_budgets_refuse_compare_compaction_and_map_before_sending(server, tmp_path):
    k = KernelSession(env={**os.environ, "LLMOS_STORE": str(tmp_path / "store.db")})
    try:
        setup = (f"%alias mini openai/gpt-4o-mini --api-base {server.url}\n"
                 f"%alias big openai/gpt-4o --api-base {server.url}\n%model mini")
        ok(k.run(setup))
        conversation(k)
        ok(k.run("%budget 0.000001"))
        before = server.attempts
        refused(k.run("%%compare mini big --no-history\nName a colour."), "Over budget",
                "this comparison of 2 models may cost up to", "Nothing was sent")
        refused(k.run("%compact"), "Over budget", "this compaction of 1 segment may cost up to")
        refused(k.run("%%prompt --map things --max-tokens 200\nSay {item}."), "Over budget",
                "this batch of 2 items may cost up to")
        assert server.attempts == before
        ps = k.run("%ps").stdout
        assert "(compare)" not in ps and "(compacting)" not in ps and "(map" not in ps  # nothing ran
        ok(k.run("%budget off"))
        ok(k.run("%%compare mini big --no-history\nName a colour."))
        assert server.attempts == before + 2
    finally:
        k.close()


TOOLS = ["%tools on", "%tools approval stdin", "%tools allow python"]


def tool_cells(k: KernelSession, server: OpenAIServer, live: bool) -> tuple[Run, Run]:
    if live:
        server.queue_tool_calls([{"name": "python", "arguments": {"code": "6 * 7"}}])
        server.queue_reply("It is 42.")
    used = ok(k.run("Compute six times seven with Python.", cell_id="tool-cell"))
    follow = ok(k.run("And what is that plus one?", cell_id="follow-up"))
    return used, follow


def test_a_replayed_tool_cell_restores_its_tool_results_so_the_next_cell_replays(server, tmp_path):
    store = tmp_path / "store.db"
    first = kernel_on(server, store, "%replay on", *TOOLS)
    try:
        before = server.attempts
        used, follow = tool_cells(first, server, live=True)
        assert server.attempts == before + 3  # the call, the answer with its result, the follow-up
        live_digest = follow.final_display()["metadata"]["llmos"]["digest"]
        live_memory = json.loads(first.run("%context --json").stdout)["messages"]
    finally:
        first.close()
    again = kernel_on(server, store, "%replay only", *TOOLS)
    try:
        before = server.attempts
        used, follow = tool_cells(again, server, live=False)
        assert server.attempts == before  # both replayed: the tool cell and the one after it
        meta = follow.final_display()["metadata"]["llmos"]
        assert meta["replayed"] and meta["digest"] == live_digest
        assert used.final_display()["metadata"]["llmos"]["replayed"]
        memory = json.loads(again.run("%context --json").stdout)["messages"]
        assert memory == live_memory  # the same tool segment, so the same messages
        assert "python (tool)" not in again.run("%ps").stdout  # replayed, not run again
    finally:
        again.close()
