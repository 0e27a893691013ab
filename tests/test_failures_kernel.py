"""One cleanup path for every failure: whatever a backend raises, %ps, the display and the panel agree, memory is
unchanged, and the kernel keeps answering. Also the calls the kernel makes for itself (compaction) are visible."""

from __future__ import annotations

import json

import pytest

# A kernel on the loopback server, shared by the module (the same fixtures as the prompt-program tests).
from tests.test_prompt_programs import k, server  # noqa: F401

# Replaces the backing backend's stream with one that raises `exc` after `chunks` pieces of text: a library bug,
# a template error, anything that is not one of our UserFacingErrors.
INJECT = """%%python
from llmos_kernel.backends.base import Delta
rt = get_ipython().kernel.runtime
backend = rt.backend
def broken(messages, params, _n={chunks}):
    for i in range(_n):
        yield Delta(text=f"part{{i}} ")
    raise {exc}
backend.stream = broken
"""
RESTORE = "%%python\ndel get_ipython().kernel.runtime.backend.stream"
PANEL_STATE = """%%python
from llmos_kernel.widgets.panel import panel_for
p = panel_for(get_ipython().kernel.runtime)
print("streaming" in p.map.value)
"""


@pytest.mark.parametrize(
    ("exc", "chunks"),
    [("TypeError('template says: roles must alternate')", 0), ("RuntimeError('boom')", 2),
     ("KeyError('choices')", 1), ("ValueError()", 0)],
)
def test_any_backend_exception_ends_the_cell_cleanly(k, server, exc, chunks):
    assert k.run("%panel").status == "ok"  # a live panel that must not be left "streaming"
    server.queue_reply("a remembered answer")
    assert k.run("Remember this.", cell_id="kept").status == "ok"
    before = json.loads(k.run("%memory --json").stdout)
    assert k.run(INJECT.format(exc=exc, chunks=chunks)).status == "ok"
    try:
        run = k.run("This cell fails.", cell_id="failing")
    finally:
        assert k.run(RESTORE).status == "ok"
    assert run.status == "error" and len(run.errors) == 1
    assert "Model failed" in run.error_text and exc.split("(")[0] in run.error_text
    assert "Traceback" not in run.error_text and "File " not in run.error_text
    shown = run.final_display() or run.of_type("display_data", "update_display_data")[-1]["content"]
    text = shown["data"]["text/markdown"]
    assert "waiting" not in text and ("failed" in text or "cut" in text)
    rows = k.run("%ps").stdout.strip().splitlines()
    assert rows[-1].split()[2] == "error" and "running" not in k.run("%ps").stdout
    assert k.run(PANEL_STATE).stdout.strip() == "False"  # the panel is not left "streaming"
    after = json.loads(k.run("%memory --json").stdout)
    assert [s["id"] for s in after["segments"]] == [s["id"] for s in before["segments"]]  # memory unchanged
    server.queue_reply("still here")
    assert k.run("Are you there?").status == "ok"


def test_compaction_is_visible_and_accounted(k, server):
    for i in range(3):
        server.queue_reply(f"answer {i} " * 20)
        assert k.run(f"Question {i} " + "words " * 30).status == "ok"
    server.queue_reply("A short summary of the earlier turns.")
    run = k.run("%compact")
    assert run.status == "ok", run.error_text
    shown = [m["content"]["data"].get("text/markdown", "") for m in run.of_type("display_data", "update_display_data")]
    assert any("compacting" in s for s in shown)  # a status line while the summarizer runs
    assert server.requests[-1]["body"]["messages"][0]["content"].startswith("Summarize this conversation")
    ps = k.run("%ps").stdout
    assert "(compacting)" in ps.splitlines()[-1] and " ok " in ps.splitlines()[-1]
    model = ps.splitlines()[-1].split()[1]
    assert model in k.run("%cost").stdout  # the summarizer's spend is in the session's totals
