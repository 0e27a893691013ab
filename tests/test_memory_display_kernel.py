"""What %memory, %context, %load and the memory panel say about paging, in a real kernel on the loopback server.

- counts read "1 page", "1 recall", never "1 pages" (one helper, llmos_kernel/words.py, words them all);
- a stale page a prompt's recall drops from a recalled copy is counted as dropped, not as evicted;
- a %load-ed document's size agrees everywhere: no display keeps the figure of an older calibration;
- %memory (text and --json) and the panel show the recall budget and how it was set.

The panel is read as a frontend holds it: the widget models' state from the comm messages of `%memory --panel`
(and the static HTML fallback in the same display), by data-* attribute where a figure is needed. Meaning
(embed.py) is off (LLMOS_EMBED=0): words rank deterministically, and ranking is not under test here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer
from tests.test_paging_kernel import ok

# The window tests' kernel (a 2,000-token window on the loopback server, an estimating tokenizer) and server.
from tests.test_paging_window_kernel import (  # noqa: F401 (kernel, server: fixtures pytest finds by name)
    BOATS,
    FILLER,
    QUESTIONS,
    WINDOW,
    ask,
    kernel,
    last_recall,
    server,
    snapshot,
)
from tests.widgets.html_probe import Element, parse
from tests.widgets.test_panel_kernel import Widgets

# A count of one with a plural noun, as it would read in any display ("1 pages", "1 recalls", ...).
ONE_PLURAL = re.compile(r"(?<![\d,.])1 (pages|recalls|tokens|segments|cells|calls|turns)\b")


class Panel:
    """The memory panel as a frontend holds it: its widget models follow the messages of every cell run after
    it (the kernel updates the live panel as memory changes, not only when it is shown)."""

    def __init__(self, kernel: KernelSession) -> None:
        self.kernel = kernel
        self.widgets = Widgets()
        run = kernel.run

        def run_and_follow(*args: Any, **kwargs: Any) -> Run:
            result = run(*args, **kwargs)
            self.widgets.feed(result.messages)
            return result

        kernel.run = run_and_follow  # type: ignore[method-assign]

    def show(self) -> tuple[Element, Element]:
        """`%memory --panel`: (the live map widget's HTML, the static fallback of the same display)."""
        run = ok(self.kernel.run("%memory --panel"))
        (display,) = run.of_type("display_data")
        ((_, live),) = self.widgets.html_with("data-llmos-header")
        return parse(live), parse(display["content"]["data"]["text/html"])


def boat_questions(kernel: KernelSession, server: OpenAIServer) -> list[dict]:
    """One long turn with three facts, evicted; then a question about each: each recall drops the page the
    previous question needed (a stale page). Returns each question's recall decision."""
    parts = [FILLER, BOATS["canoe"], FILLER, BOATS["kayak"], FILLER, BOATS["raft"], FILLER]
    ask(kernel, server, "Boat shed notes.\n\n" + "\n\n".join(parts), "boats")
    ok(kernel.run("%evict boats"))
    decisions = []
    for topic in BOATS:
        seen, _ = ask(kernel, server, QUESTIONS[topic], f"q-{topic}")
        assert BOATS[topic] in seen
        decisions.append(last_recall(kernel))
    return decisions


def test_a_count_of_one_reads_in_the_singular_in_memory_context_ps_and_the_panel(
    kernel: KernelSession, server: OpenAIServer
):
    panel = Panel(kernel)
    panel.show()
    ask(kernel, server, "Boat shed notes.\n\n" + "\n\n".join([FILLER, BOATS["canoe"], FILLER]), "boats")
    ok(kernel.run("%evict boats"))
    ask(kernel, server, QUESTIONS["canoe"], "q-canoe")
    paging = snapshot(kernel)["paging"]
    assert paging["faults"] == 1 and paging["pages_recalled"] == 1, paging  # one recall of one page
    memory = ok(kernel.run("%memory")).stdout
    assert "paging: 1 recall · 1 page recalled" in memory, memory
    context = ok(kernel.run("%context")).stdout
    assert "excerpt: page " in context, context  # the recalled copy's header: one page of its source
    live, fallback = panel.show()
    for html in (live, fallback):
        text = html.find("data-llmos-paging").all_text()
        assert "1 recall · 1 page recalled" in text, text
    shown = {"%memory": memory, "%context": context, "%ps": ok(kernel.run("%ps")).stdout,
             "panel": live.all_text(), "panel fallback": fallback.all_text()}
    for where, text in shown.items():
        assert not ONE_PLURAL.search(text), (where, ONE_PLURAL.search(text), text)


def test_a_stale_page_dropped_from_a_recalled_copy_is_counted_as_dropped_not_evicted(
    kernel: KernelSession, server: OpenAIServer
):
    panel = Panel(kernel)
    panel.show()
    decisions = boat_questions(kernel, server)
    dropped = sum(len(item["pages"]) for decision in decisions for item in decision["dropped"])
    assert dropped == 2 and not any(decision["evicted"] for decision in decisions), decisions
    paging = snapshot(kernel)["paging"]
    evicted = paging["pages_evicted"]  # the user's %evict of the boats turn, and nothing since
    assert paging["pages_dropped"] == dropped, paging
    assert sum(row["pages_dropped"] for row in paging["per_cell"]) == dropped
    assert sum(row["pages_evicted"] for row in paging["per_cell"]) == evicted
    ok(kernel.run("%evict q-canoe"))  # a real eviction still counts as one
    assert snapshot(kernel)["paging"]["pages_evicted"] > evicted
    paging = snapshot(kernel)["paging"]
    memory = ok(kernel.run("%memory")).stdout
    assert f"· {paging['pages_evicted']:,} pages evicted · {dropped} pages dropped ·" in memory, memory
    live, fallback = panel.show()
    for html in (live, fallback):
        element = html.find("data-llmos-paging")
        assert element.attrs["data-pages-dropped"] == str(dropped)
        assert element.attrs["data-pages-evicted"] == str(paging["pages_evicted"])
        assert f"{dropped} pages dropped" in element.all_text()


def test_a_loaded_documents_size_agrees_in_load_memory_context_and_the_panel_after_calibration(
    kernel: KernelSession, server: OpenAIServer, tmp_path: Path
):
    panel = Panel(kernel)
    panel.show()
    doc = tmp_path / "handbook.txt"
    doc.write_text("\n\n".join(f"Section {n}. " + FILLER * 3 for n in range(60)))  # about 6,000 tokens
    loaded = ok(kernel.run(f"%load {doc}")).stdout
    (figure,) = re.findall(r"paged \S+: ~([\d,]+) tokens", loaded)  # marked as the estimate it is
    assert "estimate" in loaded, loaded
    at_load = int(figure.replace(",", ""))

    def document() -> dict:
        (row,) = [row for row in snapshot(kernel)["segments"] if row["kind"] == "pinned" and row["state"] == "swapped"]
        return row

    assert document()["tokens"] == at_load  # the same count as %memory's, at the same calibration
    ask(kernel, server, "What does section 7 say about the north dock?", "q")  # the provider's count calibrates
    calibrated = document()["tokens"]
    assert calibrated != at_load  # the estimate moved: the loopback server counts differently
    stale = f"{at_load:,}"
    memory = ok(kernel.run("%memory")).stdout
    assert stale not in memory, memory  # the pinned stub does not keep the figure of another calibration
    (row,) = [line for line in memory.splitlines() if document()["id"] in line and "swapped" in line]
    assert f"{calibrated:,}" in row
    assert stale not in ok(kernel.run("%context")).stdout
    live, fallback = panel.show()
    for html in (live, fallback):
        assert stale not in html.all_text()
    (panel_row,) = fallback.find_all("data-segment-id", document()["id"])
    assert int(panel_row.attrs["data-tokens"]) == calibrated
    # Loading it again now says what %memory says now.
    again = ok(kernel.run(f"%load {doc}")).stdout
    (figure,) = re.findall(r"paged \S+: ~([\d,]+) tokens", again)
    assert int(figure.replace(",", "")) == document()["tokens"]


def test_memory_and_the_panel_show_the_recall_budget_and_how_it_was_set(kernel: KernelSession):
    panel = Panel(kernel)

    def shown() -> tuple[str, dict, list[str]]:
        memory = ok(kernel.run("%memory")).stdout
        lines = [line for line in memory.splitlines() if line.startswith("recall: ")]
        live, fallback = panel.show()
        in_panel = [html.find("data-llmos-recall").all_text() for html in (live, fallback)]
        return (lines[0] if len(lines) == 1 else memory), snapshot(kernel), in_panel

    line, snap, in_panel = shown()
    budget = snap["recall_budget"]
    assert snap["recall_budget_set"] is None
    assert line.startswith(f"recall: auto on · budget {budget:,} tokens: "), line
    assert "usable window" in line and "--budget N sets your own" in line  # the default: from the window's size
    assert in_panel == [line, line]
    ok(kernel.run("%window 16000"))  # the default grows with the window
    line, snap, in_panel = shown()
    assert snap["recall_budget"] > budget and f"budget {snap['recall_budget']:,} tokens" in line
    assert "growing with it" in line and in_panel == [line, line]
    ok(kernel.run("%recall --auto off --budget 300"))
    line, snap, in_panel = shown()
    assert snap["recall_budget"] == 300 and snap["recall_budget_set"] == 300
    assert line == "recall: auto off · budget 300 tokens, set with --budget", line
    assert json.loads(ok(kernel.run("%memory --json")).stdout)["recall_budget_why"] in line
    assert in_panel == [line, line]
