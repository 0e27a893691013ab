"""%%compare in a real kernel against the loopback server: the models stream at once, each column on its own."""

from __future__ import annotations

import threading

import pytest

from tests.support.openai_server import OpenAIServer
from tests.support.waits import wait_for_iopub, wait_until


@pytest.fixture
def server():
    with OpenAIServer(chunk_delay=0.05) as srv:
        yield srv


def aliases(kernel, server, *names: str) -> None:
    for name in names:
        run = kernel.run(f"%alias {name} openai/{name} --api-base {server.url} --window 16000")
        assert run.status == "ok", run.error_text


def compare_meta(run) -> list[dict]:
    final = [m for m in run.of_type("display_data", "update_display_data")
             if "compare" in m["content"]["metadata"].get("llmos", {})]
    assert final, run.all_text()
    return final[-1]["content"]["metadata"]["llmos"]["compare"]


def test_models_stream_concurrently(kernel, server):
    aliases(kernel, server, "left", "right")
    together = threading.Event()  # no answer starts until both requests are at the server
    server.model_gates = {"left": together, "right": together}
    server.reset()
    msg_id = kernel.send("%%compare left right --no-history\nName three colours of the rainbow please")
    # one request at a time would never get here (the guard fails the test)
    wait_until(lambda: server.in_flight == 2, "both models' requests in flight at once")
    together.set()
    run = kernel.collect(msg_id)
    server.model_gates = {}
    assert run.status == "ok", run.error_text
    assert server.max_in_flight == 2  # the server saw both requests in flight at once
    meta = compare_meta(run)
    assert [m["model"] for m in meta] == ["openai/left", "openai/right"]
    assert all(m["status"] == "ok" and m["tokens_out"] > 0 for m in meta)
    html = run.of_type("display_data", "update_display_data")[-1]["content"]["data"]["text/html"]
    assert html.count("Echo: Name three colours") == 2
    ps = kernel.run("%ps")  # a row per model in the process table
    assert ps.stdout.count("openai/left") == 1 and ps.stdout.count("openai/right") == 1


def test_each_column_has_its_own_status_while_streaming(kernel, server):
    aliases(kernel, server, "quick", "slow")
    held = threading.Event()  # the slow model answers only once the test has seen the quick one finished
    server.model_gates = {"slow": held}
    msg_id = kernel.send("%%compare quick slow --no-history\nHello there")
    # a live update where the quick column is finished (its answer) while the slow one still waits
    seen = wait_for_iopub(kernel, msg_id, lambda m: m["msg_type"] == "update_display_data" and all(
        part in str(m["content"]["data"].get("text/plain", "")) for part in ("slow · waiting", "Echo: Hello there")),
        "the quick answer shown beside the slow column still waiting")
    held.set()
    run = kernel.collect(msg_id)
    server.model_gates = {}
    assert run.status == "ok", run.error_text
    assert seen


def test_one_failing_model_keeps_the_others_answer(kernel, server):
    aliases(kernel, server, "good")
    run = kernel.run("%alias broken openai/broken --api-base http://127.0.0.1:9/v1")
    assert run.status == "ok"
    run = kernel.run("%%compare good broken --no-history\nHello")
    assert run.status == "ok", run.error_text
    meta = {m["model"]: m["status"] for m in compare_meta(run)}
    assert meta == {"openai/good": "ok", "openai/broken": "error"}
    text = run.of_type("display_data", "update_display_data")[-1]["content"]["data"]["text/plain"]
    assert "cannot reach" in text and "Echo: Hello" in text
    assert kernel.alive()


def test_interrupt_stops_every_column(kernel, server):
    aliases(kernel, server, "one", "two")
    server.chunk_delay = 0.5
    server.queue_reply(" ".join(["word"] * 200))
    server.queue_reply(" ".join(["word"] * 200))
    interrupted: list[bool] = []

    def interrupt_once_words_show(msg: dict) -> None:
        # Structural, not timed: interrupt once the display shows text from both columns.
        data = msg["content"].get("data", {}) if msg["msg_type"] == "update_display_data" else {}
        text = str(data.get("text/plain", ""))
        if not interrupted and all(part.count("word") for part in text.split("---")) and "---" in text:
            interrupted.append(True)
            kernel.km.interrupt_kernel()

    run = kernel.run_interactive("%%compare one two --no-history\nTalk for a long time",
                                 on_message=interrupt_once_words_show, timeout=60)
    assert interrupted and server.attempts >= 2
    assert run.status == "error" and "Interrupted" in run.error_text
    assert {m["status"] for m in compare_meta(run)} == {"interrupted"}
    final = run.of_type("display_data", "update_display_data")[-1]["content"]["data"]["text/plain"]
    assert 0 < final.count("word") < 100  # both stopped early: the whole answers are 2 x 200 words
    server.chunk_delay = 0.0
    assert kernel.run("%%python\nprint('alive')").stdout.strip() == "alive"
