"""Tools on the embedded model (SmolLM2 on llama.cpp, whose chat template has no tool support): the JSON text
protocol goes into the system prompt, is counted in memory, and the cell works whatever the model answers."""

from __future__ import annotations

import json

import pytest

from llmos_kernel.backends.tool_protocol import system_text
from tests.support.kernel import KernelSession


@pytest.fixture(scope="module")
def k():
    with KernelSession() as session:
        yield session


def test_text_protocol_on_the_embedded_model(k):
    run = k.run("%%prompt --tools memory.* --max-tokens 48\nCall the memory_map tool to see what is in your memory.")
    assert run.status == "ok", run.error_text
    meta = run.final_display()["metadata"]["llmos"]
    assert isinstance(meta["tools"], list)  # the model may call memory_map or just answer: both are fine
    for call in meta["tools"]:
        assert call["tool"].startswith("memory.") and call["status"] in ("ok", "error")
    ctx = json.loads(k.run("%context --json").stdout)
    definitions = k.eval("[t.definition() for t in get_ipython().kernel.runtime.syscalls.registry.matching"
                         "(['memory.*'])]")
    assert ctx["tools"] == system_text(definitions)  # what memory counts is what the system prompt gets
    snap = json.loads(k.run("%memory --json").stdout)
    (region,) = [r for r in snap["regions"] if r["kind"] == "tools"]
    assert region["tokens"] > 50 and snap["exact"] is True  # llama.cpp's own tokenizer: exact
    assert "memory.map" in k.run("%ps").stdout or meta["tools"] == []


def test_tools_are_opt_in_and_off_leaves_requests_unchanged(k):
    run = k.run("%%prompt --max-tokens 8\nSay hi.")
    assert run.status == "ok", run.error_text
    assert "tools" not in run.final_display()["metadata"]["llmos"]
    assert "tools" not in json.loads(k.run("%context --json").stdout)
