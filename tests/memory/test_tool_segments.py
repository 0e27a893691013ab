"""Tool calls in memory: definitions counted, calls committed as segments of kind tool, cleared first under
pressure with a marker left in their place, taint while untrusted content is resident."""

from __future__ import annotations

from llmos_kernel.memory import ContextWindow, Kind, Swap

from .fakes import words


def test_definitions_are_counted_and_shown(make_window):
    window: ContextWindow = make_window()
    before = window.used
    window.set_tools(words(40), names=["a", "b"])
    assert window.used == before + window.tokens_of(window.tools_segment)
    (tools,) = [r for r in window.regions() if r.kind is Kind.TOOLS]
    assert tools.label == "2 tool definitions" and tools.tokens == window.tokens_of(window.tools_segment)
    plan = window.plan("hi")
    assert all(m["content"] != window.tools_segment.text for m in plan.messages)  # sent as tools, not a message
    window.set_tools(None)
    assert window.used == before and all(r.kind is not Kind.TOOLS for r in window.regions())


def test_calls_are_committed_before_the_turn_and_replaced_on_rerun(make_window):
    window: ContextWindow = make_window()
    window.commit_turn("c1", "q", "a", execution_count=1, tools=[("python", "python(x)\n-> ok: 1", False)])
    assert [s.kind for s in window.segments] == [Kind.TOOL, Kind.HISTORY]
    assert window.segments[0].messages()[0]["content"].startswith("[Tool call, cell 1: python]")
    window.commit_turn("c1", "q", "a2", execution_count=2)
    assert [s.kind for s in window.segments] == [Kind.HISTORY]


def test_tool_results_are_cleared_first_with_a_marker(make_window, swap: Swap):
    window: ContextWindow = make_window()
    window.commit_turn("c0", words(60, "old"), "a", execution_count=0)
    for i in range(1, 9):
        window.commit_turn(f"c{i}", "q", "a", execution_count=i,
                           tools=[("fs.read_file", words(75, f"file{i}x"), True)])
    assert window.tainted
    plan = window.plan(words(60))
    assert any("cleared tool results" in action for action in plan.actions)
    kinds = [(s.kind, s.origin) for s in window.segments]
    assert (Kind.HISTORY, "") in kinds and kinds[0] == (Kind.HISTORY, "")  # the old turn stayed: tools went first
    markers = [s for s in window.segments if s.origin == "cleared"]
    assert markers and all("recall" in m.text for m in markers)
    cleared_ids = {m.text.split("recall ")[1].split(" ")[0] for m in markers}
    assert cleared_ids <= {s.id for s in swap.all()}  # the results are in swap, findable
    window.undo()
    assert not [s for s in window.segments if s.origin == "cleared"]  # undo puts the results back


def test_taint_follows_untrusted_segments(make_window):
    window: ContextWindow = make_window()
    window.commit_turn("c1", "q", "a", execution_count=1, tools=[("python", "ok", False)])
    assert not window.tainted
    window.commit_turn("c2", "q", "a", execution_count=2, tools=[("fs.read_file", "text", True)])
    assert window.tainted
    window.forget(2)  # the turn; its tool segment goes with a re-run, or by id
    segment = next(s for s in window.segments if s.untrusted)
    window.forget(segment.id)
    assert window.tainted  # sticky (memory/taint.py): gone from the window is not gone from the model's answers
    window.trust()
    assert not window.tainted
