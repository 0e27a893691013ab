"""Issue 22 paging mechanics in a real kernel against the loopback OpenAI-compatible server.

- the recall budget grows with the window (a larger window recalls more when more relevant pages exist);
- a prompt's recall keeps in a copy only the pages relevant now, and one page of a line repeated many times;
- a %load-ed document larger than the window is paged behind a pinned stub instead of blocking every prompt.

What reached the model is read from the requests the server received. Meaning (embed.py) is off in these
kernels (LLMOS_EMBED=0): the mechanics under test do not depend on how pages are ranked, and words alone rank
deterministically and cheaply; tests/test_paging_kernel.py covers recall with meaning on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer, estimate_prompt_tokens
from tests.test_paging_kernel import ok

WINDOW = 2000
FILLER = ("The crates waited by the north dock before dawn while the cranes idled. "
          "A delayed barge drifted past the customs shed and the winch creaked. ")
FACT = ("Lena Voss keeps zebra number {n} in paddock {n}, feeds it oats at dawn, brushes its mane every evening,"
        " and writes down how it behaves in a notebook she keeps in the barn by gate {n}. On Sundays she walks"
        " it along the river to the old mill and back.")
BOATS = {"canoe": "The red canoe is moored at pier four.",
         "kayak": "The blue kayak hangs in the boathouse.",
         "raft": "The green raft lies behind the mill."}
QUESTIONS = {"canoe": "Where is the red canoe moored?",
             "kayak": "Where does the blue kayak hang?",
             "raft": "Where does the green raft lie?"}


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def kernel(tmp_path: Path, server: OpenAIServer):
    env = {**os.environ, "LLMOS_STORE": str(tmp_path / "store.db"), "LLMOS_EMBED": "0"}
    session = KernelSession(env=env)
    ok(session.run(f"%model openai/x --api-base {server.url} --window {WINDOW}"))
    ok(session.run("%reserve 256"))
    yield session
    session.close()


def ask(kernel: KernelSession, server: OpenAIServer, prompt: str, cell_id: str) -> tuple[str, Run]:
    """Run a prompt cell; returns the text of every message the server received for it, and the run."""
    before = len(server.requests)
    run = ok(kernel.run(f"%%prompt --max-tokens 8\n{prompt}", cell_id=cell_id))
    body = server.requests[before]["body"]
    return "\n".join(str(m["content"]) for m in body["messages"]), run


def snapshot(kernel: KernelSession) -> dict:
    return json.loads(ok(kernel.run("%memory --json")).stdout)


def last_recall(kernel: KernelSession) -> dict:
    return json.loads(ok(kernel.run("%context --json")).stdout)["paging"]


def copies(kernel: KernelSession) -> list[dict]:
    return [row for row in snapshot(kernel)["segments"] if row["kind"] == "recalled" and row["state"] == "resident"]


def test_a_larger_window_recalls_more_tokens_when_more_relevant_pages_exist(
    kernel: KernelSession, server: OpenAIServer
):
    for turn in range(10):  # 30 relevant paragraphs (pages), about 2,000 tokens: more than the old 1,024
        ask(kernel, server, "\n\n".join(FACT.format(n=3 * turn + i) for i in range(3)), f"z{turn}")
        ok(kernel.run(f"%evict z{turn}"))
    question = "How does Lena Voss care for her zebras?"
    small_seen, _ = ask(kernel, server, question, "small")
    small = last_recall(kernel)
    usable = snapshot(kernel)["usable"]
    assert small["budget"] == usable // 4 and 0 < small["tokens"] <= small["budget"]
    for copy in copies(kernel):  # start the larger window from nothing recalled
        ok(kernel.run(f"%evict {copy['id']}"))
    ok(kernel.run("%window 16000"))
    shown = ok(kernel.run("%recall --auto on")).stdout
    usable = snapshot(kernel)["usable"]
    assert f"budget {usable // 5:,} tokens: 20% of the {usable:,}-token usable window" in shown, shown
    large_seen, _ = ask(kernel, server, question, "large")
    large = last_recall(kernel)
    assert large["budget"] == usable // 5 and large["tokens"] > 1024, large
    facts = [FACT.format(n=n) for n in range(30)]
    assert sum(fact in large_seen for fact in facts) > sum(fact in small_seen for fact in facts)
    # The user's own budget wins, and is what is shown.
    shown = ok(kernel.run("%recall --auto on --budget 300")).stdout
    assert "budget 300 tokens, set with --budget" in shown
    assert snapshot(kernel)["recall_budget"] == 300


def test_a_copy_keeps_only_the_current_questions_page_and_one_page_of_a_repeated_line(
    kernel: KernelSession, server: OpenAIServer
):
    parts = [FILLER, BOATS["canoe"], FILLER, BOATS["kayak"], FILLER, BOATS["raft"], FILLER]
    ask(kernel, server, "Boat shed notes.\n\n" + "\n\n".join(parts), "boats")
    ok(kernel.run("%evict boats"))
    for topic in BOATS:
        seen, _ = ask(kernel, server, QUESTIONS[topic], f"q-{topic}")
        assert BOATS[topic] in seen
        assert not any(BOATS[other] in seen for other in BOATS if other != topic), seen
        (copy,) = copies(kernel)  # one copy of the turn, holding this question's page only
        assert len(copy["pages"]) == 1, copy
        paging = last_recall(kernel)
        assert [item["pages"] for item in paging["recalled"]] == [copy["pages"]]
        if topic != "canoe":
            (dropped,) = paging["dropped"]  # the earlier question's page, and why it went
            assert dropped["id"] == copy["id"] and "no longer relevant" in dropped["why"]
    assert "dropped from" in ok(kernel.run("%memory")).stdout
    line = "The boiler pressure valve is rated at three bar."
    ask(kernel, server, "Boiler log.\n\n" + "\n\n".join([line] * 18), "boiler")
    ok(kernel.run("%evict boiler"))
    seen, _ = ask(kernel, server, "What is the boiler pressure valve rated at?", "q-boiler")
    assert seen.count(line) == 1  # one page of the line (the answer's echo may be another page of the turn)
    assert len([row for row in copies(kernel) if row["cell_id"] == "boiler"]) == 1
    assert last_recall(kernel)["duplicates"] == 17


def test_a_document_three_times_the_window_is_paged_and_a_fact_near_its_end_reaches_the_model(
    kernel: KernelSession, server: OpenAIServer, tmp_path: Path
):
    fact = "The vault code of the customs archive is 4417 kestrel."
    sections = [f"Section {n}. " + FILLER * 3 for n in range(60)]  # about 6,000 tokens
    sections.insert(57, fact)
    doc = tmp_path / "handbook.txt"
    doc.write_text("\n\n".join(sections))
    loaded = ok(kernel.run(f"%load {doc}")).stdout
    assert "paged handbook.txt" in loaded or f"paged {doc}" in loaded, loaded
    assert "larger than the" in loaded and "pages" in loaded
    rows = [row for row in snapshot(kernel)["segments"] if row["kind"] == "pinned"]
    (stub,) = [row for row in rows if row["state"] == "resident"]
    assert stub["pinned"] and stub["tokens"] < 100 and "Loaded and paged" in stub["preview"]
    assert "Loaded and paged" in ok(kernel.run("%memory")).stdout
    before = len(server.requests)
    run = ok(kernel.run("%%prompt --max-tokens 8\nWhat is the vault code of the customs archive?", cell_id="q"))
    assert "Context window full" not in run.all_text() and not run.errors
    messages = server.requests[before]["body"]["messages"]
    sent = "\n".join(str(m["content"]) for m in messages)
    assert fact in sent and "Loaded and paged" in sent
    assert estimate_prompt_tokens(messages) <= WINDOW - 256  # it fits the window, with the answer's reserve
    paging = last_recall(kernel)
    assert any(item["origin"] == "pinned" for item in paging["recalled"])


def test_a_pinned_document_that_stops_fitting_after_a_window_change_is_paged(
    kernel: KernelSession, server: OpenAIServer, tmp_path: Path
):
    fact = "The vault code of the customs archive is 4417 kestrel."
    sections = [f"Section {n}. " + FILLER * 3 for n in range(14)]  # about 1,400 tokens: fits 8,000, not 2,000
    sections.insert(12, fact)
    doc = tmp_path / "handbook.txt"
    doc.write_text("\n\n".join(sections))
    ok(kernel.run("%window 8000"))
    assert "pinned handbook.txt" in ok(kernel.run(f"%load {doc}")).stdout
    shrunk = ok(kernel.run(f"%window {WINDOW}")).stdout
    assert "paged" in shrunk and "no longer fits" in shrunk, shrunk
    seen, run = ask(kernel, server, "What is the vault code of the customs archive?", "q")
    assert fact in seen and "Loaded and paged" in seen and not run.errors
