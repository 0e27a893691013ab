"""The context-window manager in a real kernel on the embedded model, with a window much smaller than the session."""

from __future__ import annotations

import json

from tests.support.openai_server import OpenAIServer

FILLER = ("The archive keeps many ordinary notes about weather, shipping schedules and inventory counts. " * 24).strip()


def context(kernel) -> dict:
    run = kernel.run("%context --json")
    assert run.status == "ok", run.error_text
    return json.loads(run.stdout)


def memory(kernel) -> dict:
    run = kernel.run("%memory --json")
    assert run.status == "ok", run.error_text
    return json.loads(run.stdout)


def test_session_larger_than_window(kernel):
    run = kernel.run("%window 2048")
    assert run.status == "ok" and "2,048" in run.stdout, run.error_text
    for i in range(16):
        cell = f"%%prompt --max-tokens 12 --temperature 0\nNote {i}: the code word of box {i} is zebra{i}qux. {FILLER}"
        run = kernel.run(cell, cell_id=f"fill-{i}")
        assert run.status == "ok", (i, run.error_text)
        meta = run.final_display()["metadata"]["llmos"]
        # exact accounting: what llama.cpp counted is what memory planned (same tokenizer, same template)
        assert meta["tokens_in"] <= 2048 - 512 - 256 + 8
        ctx = context(kernel)
        assert ctx["tokens"] <= ctx["usable"] <= ctx["window"] == 2048
    snap = memory(kernel)
    swapped = [s for s in snap["segments"] if s["state"] == "swapped"]
    resident = [s for s in snap["segments"] if s["state"] == "resident" and s["kind"] == "history"]
    assert swapped and resident, "a session 4x the window must page turns out and keep recent ones"
    total = sum(s["tokens"] for s in snap["segments"] if s["kind"] == "history")
    assert total > 3 * 2048
    # the oldest note was paged out, and %recall brings it back
    assert "zebra0qux" not in json.dumps(context(kernel)["messages"])
    run = kernel.run("%recall zebra0qux")
    assert run.status == "ok" and "recalled" in run.stdout, run.stdout + run.error_text
    assert "zebra0qux" in json.dumps(context(kernel)["messages"])
    run = kernel.run("%%prompt --max-tokens 8\nWhat was the code word of box 0?")
    assert run.status == "ok", run.error_text
    assert context(kernel)["tokens"] <= 2048


def test_refit_between_large_and_small_models(kernel):
    with OpenAIServer() as server:
        assert kernel.run(f"%model openai/big --api-base {server.url} --window 32000").status == "ok"
        for i in range(10):
            server.queue_reply(f"Reply {i}. " + FILLER)
            run = kernel.run(f"Question {i}: {FILLER}", cell_id=f"big-{i}")
            assert run.status == "ok", run.error_text
        big = memory(kernel)
        assert big["window"] == 32000 and big["used"] > 2048 and not any(
            s["state"] == "swapped" for s in big["segments"])
        assert big["exact"] is False  # an unknown server model: counts are estimates, and labelled so
        assert kernel.run("%model smollm2").status == "ok"
        assert kernel.run("%window 2048").status == "ok"
        small = memory(kernel)
        assert small["window"] == 2048 and small["exact"] is True
        assert small["used"] <= small["usable"]
        assert any(s["state"] == "swapped" for s in small["segments"]), "re-fit must page out what no longer fits"
        run = kernel.run("%%prompt --max-tokens 8\nSummarize our talk in five words.")
        assert run.status == "ok", run.error_text
        assert run.final_display()["metadata"]["llmos"]["tokens_in"] <= 2048
        # back to the large window: nothing is lost, the swapped turns can be recalled again
        assert kernel.run(f"%model openai/big --api-base {server.url} --window 32000").status == "ok"
        again = memory(kernel)
        assert again["window"] == 32000
        history = [s for s in again["segments"] if s["kind"] in ("history", "recalled")]
        assert len(history) >= 11


def test_pin_evict_undo_compact(kernel, tmp_path):
    doc = tmp_path / "notes.txt"
    doc.write_text("Project Falcon launches on March 3rd. Budget: 42 units.")
    run = kernel.run(f"%load {doc}")
    assert run.status == "ok" and "pinned" in run.stdout, run.error_text
    for i in range(3):
        assert kernel.run(f"%%prompt --max-tokens 8\nTurn {i}: say ok.", cell_id=f"t{i}").status == "ok"
    contents = json.dumps(context(kernel)["messages"])
    assert "Project Falcon" in contents
    run = kernel.run("%evict t0")
    assert run.status == "ok" and "paged out" in run.stdout, run.error_text
    assert "Turn 0" not in json.dumps(context(kernel)["messages"])
    run = kernel.run("%undo")
    assert run.status == "ok" and "restored 1" in run.stdout
    assert "Turn 0" in json.dumps(context(kernel)["messages"])
    before = memory(kernel)["used"]
    run = kernel.run("%compact --dry-run")
    assert run.status == "ok", run.error_text
    assert memory(kernel)["used"] == before  # a dry run changes nothing
    run = kernel.run("%compact")
    assert run.status == "ok", run.error_text
    snap = memory(kernel)
    assert any(s["kind"] == "summary" for s in snap["segments"] if s["state"] == "resident")
    assert any(s["state"] == "swapped" for s in snap["segments"])
    assert "Project Falcon" in json.dumps(context(kernel)["messages"])  # pinned survives compaction
    assert kernel.run("%undo").status == "ok"
    assert not any(s["kind"] == "summary" for s in memory(kernel)["segments"])
    run = kernel.run("%evict no-such-segment")
    assert run.status == "error" and len(run.errors) == 1 and "Traceback" not in run.error_text
    run = kernel.run("%policy strict")
    assert run.status == "ok" and "strict" in run.stdout
    run = kernel.run("%forget t1")
    assert run.status == "ok"
    assert "Turn 1" not in json.dumps(memory(kernel))
