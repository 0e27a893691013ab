"""Usage when the server reports none, and the live token rate (issues 12 and 13), through a real kernel.

The loopback OpenAI-compatible server is told to send no usage at all (as servers that ignore
``stream_options.include_usage`` do). The kernel must then estimate with the memory's tokenizer, label the figures
with "~", and never show "0 tokens" beside a visible answer.
"""

from __future__ import annotations

import re
import threading
import uuid

import pytest

from tests.support.kernel import Run
from tests.support.openai_server import OpenAIServer
from tests.test_faults import wait_for_output

RUNTIME = "get_ipython().kernel.runtime"
ANSWER = "Paris is the capital of France and its largest city, on the Seine, with about two million people."


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def use_server(kernel, server) -> None:
    run = kernel.run(f"%model openai/test-model --api-base {server.url} --window 16000")
    assert run.status == "ok", run.error_text


def test_no_usage_from_the_server_is_estimated_and_labelled(kernel, server):
    use_server(kernel, server)
    server.queue_reply(ANSWER, send_usage=False)
    run = kernel.run("What is the capital of France?", cell_id="a")
    assert run.status == "ok", run.error_text
    assert server.requests[-1]["body"]["stream_options"] == {"include_usage": True}  # asked, and got none
    final = run.final_display()
    meta = final["metadata"]["llmos"]
    assert meta["exact"] is False
    # the estimate: the prompt as memory counted it, the answer by the memory's tokenizer
    assert meta["tokens_in"] == meta["planned_tokens"] > 0
    assert meta["tokens_out"] == kernel.eval(f"{RUNTIME}.memory.tokenizer.count({ANSWER!r})") > 10
    footer = re.search(r"~(\d+) in · ~(\d+) out", final["data"]["text/markdown"])
    assert footer and (int(footer[1]), int(footer[2])) == (meta["tokens_in"], meta["tokens_out"])
    ps = kernel.run("%ps").stdout
    assert f"~{meta['tokens_out']}" in ps and "~0" not in ps


def test_an_interrupted_answer_without_usage_counts_what_it_kept(kernel, server):
    use_server(kernel, server)
    words = " ".join(f"word{i}" for i in range(200))
    # Sixty words, spaced so the display follows them, then the server holds the rest (and the usage that comes
    # last) behind a gate never opened: the interrupt lands mid-answer however slow the machine.
    server.queue_fault("stall", after=60, text=words, chunk_delay=0.05, gate=threading.Event())
    msg_id = kernel.send("Tell me a long story.", cell_id=uuid.uuid4().hex)
    seen: list[dict] = []
    shown = ""
    while "word20" not in shown:  # interrupt once twenty-odd words are on screen
        seen += wait_for_output(kernel, msg_id, "update_display_data")
        assert seen[-1]["msg_type"] == "update_display_data", "the answer finished before the interrupt"
        shown = seen[-1]["content"]["data"].get("text/plain", "")
    kernel.km.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=60)
    run = Run(run.reply, seen + run.messages)
    assert run.reply["content"]["status"] == "error" and run.reply["content"]["ename"] == "CellInterrupted"
    kept = int(re.search(r"the partial answer \((\d+) tokens\) is kept", run.error_text)[1])
    final = run.final_display()
    meta = final["metadata"]["llmos"]
    shown = final["data"]["text/plain"]
    assert meta["status"] == "interrupted" and meta["exact"] is False
    assert kept == meta["tokens_out"] == kernel.eval(f"{RUNTIME}.memory.tokenizer.count({shown!r})")
    assert kept >= len(shown.split()) > 20


def test_the_live_rate_counts_tokens_not_network_reads(kernel, server):
    use_server(kernel, server)
    text = " ".join(f"token{i}" for i in range(120))
    server.queue_reply(text, chunks=2, chunk_delay=0.6)  # two reads, each carrying sixty words
    run = kernel.run("Count for me.", cell_id="c")
    assert run.status == "ok", run.error_text
    live = [m["content"]["data"]["text/markdown"] for m in run.of_type("update_display_data")
            if "▶" in m["content"]["data"].get("text/markdown", "")]
    counts = [int(found[1]) for line in live if (found := re.search(r"~(\d+) tokens", line))]
    assert counts, live
    # after the first read alone, the live line counts its sixty words, not one read
    assert counts[0] >= 60
