"""%%prompt --map through a real kernel on the loopback server: lists and DataFrames, concurrency the server
sees, failures among good items, retries, an interrupt and a resume, the whole-batch budget, the progress bar."""

from __future__ import annotations

import json
import os
import threading

import pytest

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer
from tests.support.waits import wait_until
from tests.test_prompt_programs import server  # noqa: F401 - the loopback server, one per test module


@pytest.fixture(scope="module")
def k(server, tmp_path_factory):
    store = tmp_path_factory.mktemp("batch") / "store.db"
    session = KernelSession(env={**os.environ, "LLMOS_STORE": str(store)})
    run = session.run(f"%alias fast openai/fast --api-base {server.url} --window 16000\n"
                      f"%alias mini openai/gpt-4o-mini --api-base {server.url}\n%model fast")
    assert run.status == "ok", run.error_text
    yield session
    session.close()


@pytest.fixture(autouse=True)
def clean(server):
    server.reset()
    server.default_delay = 0.0
    yield
    server.default_delay = 0.0


def ok(run: Run) -> Run:
    assert run.status == "ok", run.all_text()
    return run


def user_prompts(server: OpenAIServer) -> list[str]:
    return [r["body"]["messages"][-1]["content"] for r in server.requests]


def test_map_over_a_list_binds_answers_in_order_and_leaves_one_line_of_memory(k, server):
    ok(k.py("fruits = ['apple', 'kiwi', 'plum']"))
    turns = len(json.loads(k.run("%context --json").stdout)["messages"])
    run = ok(k.run("%%prompt --map fruits --as colours\nWhat colour is {item}?"))
    assert sorted(user_prompts(server)) == ["What colour is apple?", "What colour is kiwi?", "What colour is plum?"]
    assert all([m["role"] for m in r["body"]["messages"]] == ["system", "user"] for r in server.requests)
    # the loopback server echoes each prompt: every answer lands at its own item, whatever order they finished in
    assert k.eval("colours") == ["Echo: What colour is apple?", "Echo: What colour is kiwi?",
                                 "Echo: What colour is plum?"]
    assert "3 items of fruits: 3 done (0 replayed), 0 failed" in run.stdout
    messages = json.loads(k.run("%context --json").stdout)["messages"]
    assert len(messages) == turns + 2  # one turn: the template and the summary line, not three answers
    assert "3 items of fruits" in messages[-1]["content"]
    ps = k.run("%ps").stdout
    assert ps.count("map 3 items") == 1 and "Echo" not in ps


def test_the_progress_bar_counts_up_and_a_text_summary_stays_for_static_exports(k, server):
    ok(k.py("xs = list(range(5))"))
    run = ok(k.run("%%prompt --map xs --concurrency 2\nSay {item}."))
    opens = [m["content"] for m in run.of_type("comm_open")
             if m["content"]["data"]["state"].get("_model_name") == "IntProgressModel"]
    assert len(opens) == 1 and opens[0]["data"]["state"]["max"] == 5
    bar = opens[0]["comm_id"]
    values = [m["content"]["data"]["state"]["value"] for m in run.of_type("comm_msg")
              if m["content"]["comm_id"] == bar and "value" in m["content"]["data"].get("state", {})]
    assert values and values[-1] == 5 and values == sorted(values)
    labels = [m["content"]["data"]["state"]["value"] for m in run.of_type("comm_msg")
              if "value" in m["content"]["data"].get("state", {})
              and isinstance(m["content"]["data"]["state"]["value"], str)]
    assert labels and labels[-1].startswith("5/5 · 5 done · 0 failed · 0 left")
    assert "5 items of xs: 5 done" in run.stdout  # what a saved notebook without widget state shows


def test_map_over_a_dataframe_fills_columns_and_aligns_failures_as_missing(k, server):
    ok(k.py("import pandas as pd\n"
            "df = pd.DataFrame({'name': ['Ann', 'Bo', 'Cy'], 'text': ['great', 'awful', 'fine']}, index=[10, 20, 30])"))
    server.queue_reply("positive")
    server.queue_fault("404")  # can never succeed: not retried
    run = ok(k.run("%%prompt --map df --concurrency 1 --as labels\n{name} wrote: {text}"))
    assert user_prompts(server) == ["Ann wrote: great", "Bo wrote: awful", "Cy wrote: fine"]
    assert k.eval("list(labels.index)") == [10, 20, 30]
    assert k.eval("labels[10]") == "positive" and k.eval("bool(labels.isna()[20])")
    assert k.eval("labels[30]") == "Echo: Cy wrote: fine"
    assert "2 done (0 replayed), 1 failed" in run.stdout and "failed 20 after 1 attempt:" in run.stdout
    ok(k.py("df['label'] = labels"))  # binds as a column
    assert k.eval("int(df['label'].notna().sum())") == 2


def test_a_broken_stream_is_retried_for_that_item_only(k, server):
    ok(k.py("words = ['one', 'two']"))
    server.queue_fault("cut", text="a partial answer that breaks")
    run = ok(k.run("%%prompt --map words --concurrency 1 --as out\nRepeat {item}."))
    assert server.attempts == 3 and k.eval("out") == ["Echo: Repeat one.", "Echo: Repeat two."]
    assert "0 failed" in run.stdout
    server.reset()
    server.set_fault_always("500")
    run = ok(k.run("%%prompt --map words --concurrency 2 --retries 0 --as out\nRepeat {item}."))
    server.set_fault_always(None)
    assert k.eval("out") == [None, None] and "0 done (0 replayed), 2 failed" in run.stdout


def test_concurrency_is_what_the_server_sees(k, server):
    ok(k.py("many = [f'q{i}' for i in range(8)]"))
    # Every answer is held until four requests are at the server at once: --concurrency 4 must get there (or the
    # guard fails), and a fifth would show in max_in_flight.
    together = threading.Event()
    for _ in range(8):
        server.queue_fault("hang", gate=together)
    msg_id = k.send("%%prompt --map many --concurrency 4\nAnswer {item}.")
    wait_until(lambda: server.in_flight >= 4, "four requests at the server at once")
    together.set()
    ok(k.collect(msg_id))
    assert server.attempts == 8 and server.max_in_flight == 4
    server.reset()
    server.default_delay = 0.3  # answers take a while, so a batch that ignored --concurrency 1 would overlap
    ok(k.run("%%prompt --map many --concurrency 1\nAnswer again {item}."))
    assert server.attempts == 8 and server.max_in_flight == 1


def test_the_whole_batch_is_estimated_and_checked_before_the_first_item(k, server):
    ok(k.py("topics = ['rivers', 'lakes', 'seas']"))
    run = ok(k.run("%%prompt --map topics --model mini --dry-run --max-tokens 200\nAn essay on {item}."))
    assert "3 items of topics" in run.stdout and "3 requests" in run.stdout and "up to 200 tokens each" in run.stdout
    run = k.run("%%prompt --map topics --model mini --budget 0.0001 --max-tokens 200\nAn essay on {item}.")
    assert run.status == "error" and "this batch of 3 items may cost up to" in run.error_text
    assert "Traceback" not in run.error_text and server.attempts == 0
    run = k.run("%%prompt --map nothing_here\nx {item}")
    assert run.status == "error" and "'nothing_here' is not defined" in run.error_text
    run = k.run("%%prompt --map topics\nx {missing}")
    assert run.status == "error" and "item 0" in run.error_text and server.attempts == 0


def test_an_interrupt_keeps_what_finished_and_a_rerun_with_replay_resumes(k, server):
    ok(k.run("%replay on"))
    ok(k.py("jobs = [f'job{i}' for i in range(6)]"))
    held = threading.Event()
    for _ in range(4):
        server.queue_fault("hang", seconds=0)  # answered at once (an echo)
    for _ in range(2):
        server.queue_fault("hang", gate=held)  # the last two are held until after the interrupt
    cell = "%%prompt --map jobs --concurrency 2 --as done\nProcess {item}."
    msg_id = k.send(cell)
    # Two at a time: the sixth request leaves only once four items have finished, and the last two never answer.
    assert server.wait_for_attempts(6, timeout=60)
    k.km.interrupt_kernel()
    run = k.collect(msg_id)
    held.set()  # the kernel has stopped waiting for these; late answers must not count
    assert run.status == "error" and "stopped after" in run.error_text and "Traceback" not in run.error_text
    finished = [x for x in k.eval("done") if x is not None]
    assert len(finished) == 4
    assert "interrupted" in k.run("%ps").stdout
    server.reset()
    run = ok(k.run(cell))
    assert server.attempts == 6 - len(finished)  # the finished items replayed, the rest ran
    assert f"({len(finished)} replayed)" in run.stdout
    assert k.eval("done") == [f"Echo: Process job{i}." for i in range(6)]
    ok(k.run("%replay only"))
    run = k.run("%%prompt --map jobs --concurrency 2\nSomething new for {item}.")
    assert run.status == "error" and "6 of 6 items of jobs have no recording" in run.error_text
    ok(k.run("%replay off"))


def test_the_embedded_model_runs_items_one_by_one():
    with KernelSession() as k:
        ok(k.py("two = ['red', 'blue']"))
        run = ok(k.run("%%prompt --map two --concurrency 4 --max-tokens 4 --as said\nSay {item}."))
        assert "one answer at a time: the items run one by one" in run.stdout
        assert "2 done" in run.stdout and len(k.eval("said")) == 2
