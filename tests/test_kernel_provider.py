"""Remote models through litellm, against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from tests.support.openai_server import OpenAIServer


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def use_server(kernel, server, name="test-model", extra=""):
    run = kernel.run(f"%model openai/{name} --api-base {server.url} --window 16000 {extra}")
    assert run.status == "ok", run.error_text
    return run


def test_streams_history_and_rerun(kernel, server):
    use_server(kernel, server)
    server.queue_reply("Paris is the capital of France.", chunks=6)
    first = kernel.run("What is the capital of France?", cell_id="a")
    assert first.status == "ok", first.error_text
    assert len(first.of_type("update_display_data")) >= 2
    final = first.final_display()
    assert final["data"]["text/markdown"].startswith("Paris is the capital of France.")
    meta = final["metadata"]["llmos"]
    assert meta["model"] == "openai/test-model" and meta["tokens_in"] > 0 and meta["tokens_out"] > 0

    server.queue_reply("About two million people.")
    second = kernel.run("And its population?", cell_id="b")
    assert second.status == "ok", second.error_text
    sent = server.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "What is the capital of France?"
    assert sent[2]["content"] == "Paris is the capital of France."
    assert server.requests[-1]["body"]["stream"] is True

    # re-running cell "a" replaces its turn: the next request carries it once
    server.queue_reply("Paris.")
    assert kernel.run("What is the capital of France?", cell_id="a").status == "ok"
    server.queue_reply("Done.")
    assert kernel.run("Thanks.", cell_id="c").status == "ok"
    contents = [m["content"] for m in server.requests[-1]["body"]["messages"]]
    assert contents.count("What is the capital of France?") == 1
    assert "Paris is the capital of France." not in contents and "Paris." in contents


def test_401_is_one_clear_message_and_commits_nothing(kernel, server):
    use_server(kernel, server)
    server.queue_reply("First answer.")
    assert kernel.run("Hello", cell_id="h").status == "ok"
    server.queue_fault("401")
    run = kernel.run("This will fail", cell_id="f")
    assert run.status == "error"
    assert len(run.errors) == 1
    text = run.error_text
    assert "401" in text and "openai/test-model" in text and "key" in text.lower()
    assert "Traceback" not in text and "site-packages" not in text and "llmos_kernel/" not in text
    assert kernel.alive()
    server.queue_reply("ok")
    assert kernel.run("Next", cell_id="n").status == "ok"
    contents = [m["content"] for m in server.requests[-1]["body"]["messages"]]
    assert "This will fail" not in contents and "Hello" in contents


def test_unknown_model_and_missing_key(kernel):
    run = kernel.run("%model definitely-not-a-model-name")
    assert run.status == "error" and len(run.errors) == 1
    assert "definitely-not-a-model-name" in run.error_text and "Traceback" not in run.error_text
    run = kernel.run("%model gpt-4o")  # no OPENAI_API_KEY in the test environment
    assert run.status == "error" and len(run.errors) == 1
    assert "OPENAI_API_KEY" in run.error_text
    assert kernel.run("%model").stdout.strip() == "model: smollm2"  # unchanged after the failures


def test_interrupt_mid_stream_keeps_partial(kernel, server):
    use_server(kernel, server)
    server.queue_reply(" ".join(f"word{i}" for i in range(200)), chunk_delay=0.05)
    msg_id = kernel.send("Tell me a long story.", cell_id="long")
    assert server.wait_for_attempts(1, timeout=60)
    time.sleep(1.0)  # let some chunks arrive
    kernel.km.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=60)
    assert run.status == "error"
    assert run.reply["content"]["ename"] == "CellInterrupted"
    assert len(run.errors) == 1 and "partial answer" in run.error_text
    final = run.final_display()
    assert final["metadata"]["llmos"]["status"] == "interrupted"
    partial = final["data"]["text/plain"]
    assert partial.startswith("word0") and "word199" not in partial
    assert kernel.alive()
    server.queue_reply("Fine.")
    after = kernel.run("Next question", cell_id="next")
    assert after.status == "ok", after.error_text
    last = server.requests[-1]["body"]["messages"]
    # the partial turn is kept but marked, never passed off as a whole answer
    assistant = [m["content"] for m in last if m["role"] == "assistant"]
    assert assistant and assistant[-1].startswith("word0") and "interrupted" in assistant[-1]
