"""Remote models through litellm, against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer
from tests.support.waits import shows, wait_for_iopub


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
    # Five words, then the server holds the rest until a gate that is never opened: the interrupt is sure to land
    # mid-stream, however slow the machine, and the partial answer is exactly what was sent.
    server.queue_fault("stall", after=5, text=" ".join(f"word{i}" for i in range(200)), gate=threading.Event())
    msg_id = kernel.send("Tell me a long story.", cell_id="long")
    seen = wait_for_iopub(kernel, msg_id, shows("word0"), "the first words of the answer displayed")
    kernel.km.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=60)
    run = Run(run.reply, seen + run.messages)
    assert run.status == "error"
    assert run.reply["content"]["ename"] == "CellInterrupted"
    assert len(run.errors) == 1 and "partial answer" in run.error_text
    final = run.final_display()
    assert final["metadata"]["llmos"]["status"] == "interrupted"
    partial = final["data"]["text/plain"]
    assert partial.startswith("word0") and "word5" not in partial
    assert kernel.alive()
    server.queue_reply("Fine.")
    after = kernel.run("Next question", cell_id="next")
    assert after.status == "ok", after.error_text
    last = server.requests[-1]["body"]["messages"]
    # the partial turn is kept but marked, never passed off as a whole answer
    assistant = [m["content"] for m in last if m["role"] == "assistant"]
    assert assistant and assistant[-1].startswith("word0") and "interrupted" in assistant[-1]


def test_openai_key_stays_with_openai_and_a_named_key_reaches_the_server(server):
    """Issue 13: OPENAI_API_KEY never reaches a custom --api-base; the key named with --api-key-env does."""
    openai_key = "sk-openai-" + uuid.uuid4().hex
    named_key = "team-cred-" + uuid.uuid4().hex
    session = KernelSession(env={**os.environ, "OPENAI_API_KEY": openai_key, "MYKEY": named_key})
    try:
        use_server(session, server)
        server.queue_reply("No key needed here.")
        run = session.run("Hello")
        assert run.status == "ok", run.error_text
        assert server.requests[-1]["has_authorization"] is False  # no header at all: nothing to leak
        # A server that would take OpenAI's key does not get it: it asks, and the cell says none was sent.
        server.require_key = openai_key
        run = session.run("Hello again")
        assert run.status == "error" and server.requests[-1]["outcome"] == "unauthorized"
        assert server.requests[-1]["has_authorization"] is False
        assert "none was sent" in run.error_text and "--api-key-env" in run.error_text
        server.require_key = named_key  # answers only when exactly this key arrives
        use_server(session, server, extra="--api-key-env MYKEY")
        server.queue_reply("Welcome.")
        run = session.run("Hello with a key")
        assert run.status == "ok", run.error_text
        assert server.requests[-1]["outcome"] == "reply" and server.requests[-1]["has_authorization"]
        outputs = " ".join(session.run(code).all_text() for code in ("%model", "%ps", "%models"))
        assert openai_key not in outputs and named_key not in outputs
    finally:
        server.require_key = None
        session.close()


def test_a_rejected_key_says_so_and_by_whom(server):
    """Issue 12: a 401 to a key that was sent is "rejected by HOST", never "missing", and never shows the key."""
    wrong = "sk-wrong-" + uuid.uuid4().hex
    session = KernelSession(env={**os.environ, "MYKEY": wrong})
    try:
        use_server(session, server, extra="--api-key-env MYKEY")
        server.require_key = "sk-the-right-one"
        run = session.run("Let me in", cell_id="in")
        assert run.status == "error" and len(run.errors) == 1
        text = run.error_text
        host = server.url.split("//", 1)[1].split("/", 1)[0]
        assert f"{host} rejected the key in MYKEY" in text and "API key rejected" in text
        assert "Missing" not in text and "Traceback" not in text
        assert wrong not in text and wrong[-4:] not in text  # the server's 401 echoes the key masked: not shown
        server.require_key = None
        server.queue_fault("401")  # the injected fault, with the key sent: the same words
        run = session.run("Once more", cell_id="again")
        assert f"{host} rejected the key in MYKEY" in run.error_text
        assert session.alive()
    finally:
        server.require_key = None
        session.close()


def test_a_remote_answer_never_imports_litellm(kernel, server):
    """Issue 12: an OpenAI-compatible endpoint resolves, streams, prices and counts without litellm."""
    run = use_server(kernel, server)
    assert "window 16,000 tokens" in run.stdout
    server.queue_reply("Fast.")
    answer = kernel.run("Hi")
    assert answer.status == "ok", answer.error_text
    assert answer.final_display()["metadata"]["llmos"]["tokens_out"] > 0
    assert kernel.run("%cost").status == "ok"  # pricing asks the model map, not litellm
    assert kernel.eval("'litellm' in __import__('sys').modules") is False
