"""What the panel shows for a given snapshot: numbers, pressure colours, legend, rows and spend."""

from __future__ import annotations

import pytest

from llmos_kernel.backends.registry import ModelSpec
from llmos_kernel.widgets.view import (
    KIND_COLOURS,
    PRESSURE_COLOURS,
    activity_of,
    blocks_of,
    header_of,
    legend_of,
    model_label,
    rows_of,
    spend_of,
    swap_of,
)

from .fakes import FakeProcess, make_window, words


def filled_to(used: int, exact: bool = True):
    """A window (usable 800) whose resident context costs exactly `used` tokens."""
    memory = make_window(exact=exact)
    # system 5 + request framing 2 + a turn: its words + 3 + 3 framing + "[no answer]" (2 words)
    memory.commit_turn("c1", words(used - 5 - 2 - 6 - 2), "", execution_count=1)
    assert memory.used == used
    return memory


def test_header_numbers_and_percent_of_usable():
    memory = filled_to(200)
    header = header_of(memory.snapshot(), "smollm2")
    assert (header.model, header.used, header.usable, header.window) == ("smollm2", 200, 800, 1000)
    assert header.percent == pytest.approx(25.0)
    assert header.exact and header.tokenizer == "words" and header.policy == "lru"
    assert (header.warn_at, header.act_at) == (0.75, 0.90)


@pytest.mark.parametrize(
    ("tokens", "pressure"),
    [(100, "normal"), (599, "normal"), (600, "warning"), (720, "warning"), (721, "acting")],
)
def test_pressure_and_its_colour_follow_the_snapshot(tokens, pressure):
    # usable 800: warning from 600 (75%), acting above 720 (90%)
    snapshot = filled_to(tokens).snapshot()
    header = header_of(snapshot, "m")
    assert header.pressure == snapshot["pressure"] == pressure
    assert header.colour == PRESSURE_COLOURS[pressure]
    assert len(set(PRESSURE_COLOURS.values())) == 3


def test_estimate_when_the_tokenizer_is_not_exact():
    assert header_of(make_window(exact=True).snapshot(), "m").exact is True
    assert header_of(make_window(exact=False).snapshot(), "m").exact is False


def loaded_window():
    memory = make_window()
    memory.commit_turn("c1", words(10), words(20), execution_count=1)  # 36 tokens
    memory.load_document("notes.md", words(40))  # pinned: 40 + header line (4 words) + 3 = 47
    memory.commit_turn("c2", words(5), words(5), execution_count=2)  # 16 tokens
    memory.evict("c1")
    return memory


def test_bar_blocks_fill_the_whole_window_in_request_order():
    snapshot = loaded_window().snapshot()
    blocks = blocks_of(snapshot)
    assert sum(block.tokens for block in blocks) == snapshot["window"]
    kinds = [block.kind for block in blocks]
    assert kinds == ["system", "pinned", "history", "overhead", "free", "buffer", "reserved"]
    assert [b.segment_id for b in blocks[:3]] == [r["segment_id"] for r in snapshot["regions"]]
    assert blocks[0].colour == KIND_COLOURS["system"] and blocks[2].colour == KIND_COLOURS["history"]
    assert blocks[-1].tokens == 100 and blocks[-2].tokens == 100  # reserved output, compaction buffer


def test_legend_gives_tokens_per_kind_and_the_space_left():
    snapshot = loaded_window().snapshot()
    legend = {entry.key: entry for entry in legend_of(snapshot)}
    assert {k: legend[k].tokens for k in snapshot["by_kind"]} == snapshot["by_kind"]
    assert "summary" not in legend and "tool" not in legend  # only kinds present in the window
    assert legend["free"].tokens == snapshot["free"]
    assert legend["overhead"].tokens == 2  # the tokenizer's per-request framing
    assert (legend["buffer"].tokens, legend["reserved"].tokens) == (100, 100)
    assert sum(e.tokens for e in legend.values()) == snapshot["window"]
    assert legend["free"].percent == pytest.approx(100 * snapshot["free"] / 1000)
    assert swap_of(snapshot) == (1, 36)  # the evicted turn: outside the window, not in the legend's sum


def test_rows_offer_the_actions_that_apply():
    rows = {row.kind + ("-swapped" if row.state == "swapped" else ""): row for row in rows_of(
        loaded_window().snapshot())}
    assert set(rows) == {"system", "pinned", "history", "history-swapped"}
    assert rows["system"].actions == ()
    assert rows["pinned"].pinned and rows["pinned"].pin_action == "unpin"
    assert set(rows["pinned"].actions) == {"unpin", "forget"}
    assert set(rows["history"].actions) == {"pin", "evict", "forget"}
    assert set(rows["history-swapped"].actions) == {"recall", "pin", "forget"}
    assert rows["history"].cell == "[2]" and rows["history-swapped"].cell == "[1]"
    assert rows["history-swapped"].tokens == 36 and rows["pinned"].cell == "-"


def test_spend_sums_the_process_table_apart_from_occupancy():
    procs = [FakeProcess(1, "a", tokens_in=100, tokens_out=10, cost=0.5),
             FakeProcess(2, "a", tokens_in=200, tokens_out=20, cost=0.25)]
    spend = spend_of(procs)
    assert (spend["calls"], spend["tokens_in"], spend["tokens_out"]) == (2, 300, 30)
    assert spend["cost"] == pytest.approx(0.75) and spend["cost_complete"] and spend["exact"]
    procs.append(FakeProcess(3, "b", tokens_in=5, tokens_out=1, cost=None, exact=False))
    partial = spend_of(procs)
    assert partial["cost"] == pytest.approx(0.75) and not partial["cost_complete"] and not partial["exact"]
    assert spend_of([FakeProcess(1, "x")])["cost"] is None
    assert spend_of([])["calls"] == 0


def test_model_label_and_activity():
    assert model_label(ModelSpec("smollm2")) == "smollm2"
    served = ModelSpec("openai/test", api_base="http://127.0.0.1:8011/v1")
    assert model_label(served) == "openai/test @ 127.0.0.1:8011"
    assert activity_of([]) == ""
    assert activity_of([FakeProcess(3, "m", status="ok")]) == ""
    running = activity_of([FakeProcess(3, "m"), FakeProcess(4, "smollm2", status="running")])
    assert "[4]" in running and "smollm2" in running


def test_activity_ignores_tool_rows_of_the_running_cell():
    prompt = FakeProcess(4, "fast", status="running")
    tool = FakeProcess(4, "python", status="ok")
    tool.kind = "tool"
    assert activity_of([prompt, tool]) == "cell [4] streaming on fast"


def test_tool_rows_are_not_model_calls_and_definitions_have_no_actions():
    prompt = FakeProcess(4, "fast", tokens_in=10, tokens_out=2, cost=0.001)
    tool = FakeProcess(4, "python", cost=0.0)
    tool.kind = "tool"
    assert spend_of([prompt, tool])["calls"] == 1
    memory = make_window()
    memory.set_tools("[]", names=[])
    row = next(r for r in rows_of(memory.snapshot()) if r.kind == "tools")
    assert row.actions == ()
