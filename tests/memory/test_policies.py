"""The lru, compact and strict policies, recall and undo (usable 800: act above 720, LRU frees to 400)."""

from __future__ import annotations

import pytest

from llmos_kernel.memory import ContextWindow, Kind, MemoryFull, NothingToUndo, Swap

from .fakes import FakeSummarizer, words


def fill(window: ContextWindow, turns: int = 8) -> None:
    """`turns` history turns of 82 tokens each (75-word prompt, 1-word answer, 6 overhead)."""
    for i in range(turns):
        window.commit_turn(f"c{i}", words(75, f"t{i}x"), "a", execution_count=i)


def resident_cells(window: ContextWindow) -> list[int | None]:
    return [s.execution_count for s in window.segments]


# -- lru ---------------------------------------------------------------------------------------------


def test_lru_pages_out_in_one_large_step(make_window, swap: Swap):
    window = make_window()
    fill(window)
    plan = window.plan(words(60))  # 656 + 63 + 2 = 721 > 720
    assert plan.actions == ["paged out 4 segments (328 tokens) to swap: cell 0, cell 1, cell 2, cell 3"]
    assert plan.pressure == "acting"
    assert plan.used == 721 - 328 <= 0.5 * plan.usable
    assert resident_cells(window) == [4, 5, 6, 7]
    assert len(swap) == 4 and {s.execution_count for s in swap.all()} == {0, 1, 2, 3}
    # The next cell fits without another step.
    window.commit_turn("c8", words(60), "a", execution_count=8)
    assert window.plan("more").actions == []


def test_lru_single_segment_sentence(make_window):
    window = make_window()
    window.commit_turn("big", words(600), "a", execution_count=1)
    window.commit_turn("small", "q", "a", execution_count=2)
    plan = window.plan(words(120))
    assert plan.actions == ["paged out cell 1 (607 tokens) to swap"]


def test_lru_never_pages_out_pinned_segments_and_respects_touch(make_window):
    window = make_window()
    fill(window)
    window.pin(0)
    window.touch(1)
    window.plan(words(60))
    assert resident_cells(window) == [0, 1, 6, 7]
    assert window.find(0).pinned


def test_lru_prefers_history_and_only_drops_summaries_as_a_last_resort(make_window):
    window = make_window()
    summary = window.add(_summary(400))
    fill(window, 3)  # 246 tokens of history, 400+ of summary
    plan = window.plan(words(100))  # 407 + 246 + 103 + 2 = 758 > 720
    assert window.is_resident(summary) and resident_cells(window) == [None]
    assert "cell 0" in plan.actions[0]
    # Only when it cannot fit otherwise does the summary go too.
    plan = window.plan(words(500))
    assert not window.is_resident(summary) and plan.used <= plan.usable


def _summary(n: int):
    from llmos_kernel.memory import Segment

    return Segment(Kind.SUMMARY, words(n), label="m")


# -- compact -----------------------------------------------------------------------------------------


def test_compact_policy_summarizes_the_oldest_turns_in_place(make_window, swap: Swap):
    window = make_window(policy="compact")
    window.load_document("keep.md", "pinned body")
    fill(window)
    summarize = FakeSummarizer()
    plan = window.plan(words(50), summarize=summarize)  # 656 + 8 + 53 + 2 = 719: fits below 720
    assert plan.actions == [] and summarize.calls == []
    plan = window.plan(words(60), summarize=summarize)
    ((segments, focus),) = summarize.calls
    assert [s.execution_count for s in segments] == [0, 1, 2, 3, 4] and focus is None
    kinds = [s.kind for s in window.segments]
    assert kinds == [Kind.PINNED, Kind.SUMMARY, Kind.HISTORY, Kind.HISTORY, Kind.HISTORY]
    summary = window.segments[1]
    assert summary.text == "summary of earlier turns" and summary.label == "fake-model"
    assert {s.execution_count for s in swap.all()} == {0, 1, 2, 3, 4}
    assert plan.actions == [
        "compacted 5 segments (410 tokens) into a summary of 11 tokens; the originals moved to swap"
    ]
    assert plan.used <= 0.5 * plan.usable and plan.pressure == "acting"
    assert plan.messages[1]["content"] == "[Summary of earlier conversation]\nsummary of earlier turns"


def test_compact_policy_falls_back_to_lru_when_the_summarizer_fails_or_is_missing(make_window):
    def broken(segments, focus):
        raise ConnectionError("model unreachable")

    window = make_window(policy="compact")
    fill(window)
    plan = window.plan(words(60), summarize=broken)
    assert plan.actions[0] == "compaction failed (model unreachable); paged out instead"
    assert plan.actions[1].startswith("paged out 4 segments") and plan.used <= plan.usable
    window = make_window(policy="compact", swap=Swap())
    fill(window)
    plan = window.plan(words(60))
    assert "no summarizer" in plan.actions[0] and plan.actions[1].startswith("paged out")


def test_compact_command_with_focus_keep_last_and_dry_run(make_window, swap: Swap):
    window = make_window()
    fill(window, 5)
    summarize = FakeSummarizer("the gist")
    preview = window.compact(summarize, focus="the database bits", dry_run=True)
    assert preview.dry_run and summarize.calls == [] and len(swap) == 0
    assert len(preview.segment_ids) == 3 and preview.tokens_before == 246
    report = window.compact(summarize, focus="the database bits")
    assert summarize.calls[0][1] == "the database bits"
    assert report.segment_ids == preview.segment_ids and report.summary_id == window.segments[0].id
    assert report.tokens_after == 3 + 2 + 4 and report.saved == 246 - 9
    assert resident_cells(window) == [None, 3, 4]
    # A second compaction rolls the first summary up instead of piling summaries.
    window.commit_turn("c9", "later", "x", execution_count=9)
    window.commit_turn("c10", "latest", "y", execution_count=10)
    window.compact(FakeSummarizer("rolled up"))
    assert [s.kind for s in window.segments] == [Kind.SUMMARY, Kind.HISTORY, Kind.HISTORY]
    assert window.segments[0].text == "rolled up" and window.find(report.summary_id) is not None
    nothing = window.compact(summarize, keep_last=5)
    assert nothing.segment_ids == [] and "nothing to compact" in nothing.actions[0]


def test_compact_rejects_an_empty_summary(make_window):
    window = make_window()
    fill(window, 4)
    before = [s.id for s in window.segments]
    with pytest.raises(ValueError, match="no text"):
        window.compact(FakeSummarizer("   "))
    assert [s.id for s in window.segments] == before


# -- strict ------------------------------------------------------------------------------------------


def test_strict_moves_nothing_and_raises_only_when_it_cannot_fit(make_window, swap: Swap):
    window = make_window(policy="strict")
    fill(window)
    plan = window.plan(words(60))  # 721: over the action threshold, but it fits
    assert plan.actions == [] and plan.pressure == "acting" and len(swap) == 0
    with pytest.raises(MemoryFull) as caught:
        window.plan(words(200))  # 656 + 203 + 2 = 861
    error = caught.value
    assert error.over == 61 and len(swap) == 0 and len(window.segments) == 8
    message = str(error)
    assert "61 tokens over" in message and "strict" in message
    assert "%evict" in message and "%compact" in message and "cell 0" in message


# -- undo --------------------------------------------------------------------------------------------


def test_undo_after_evict_restores_the_original_position(make_window, swap: Swap):
    window = make_window()
    fill(window, 4)
    order = [s.id for s in window.segments]
    window.evict(1)
    window.commit_turn("new", "added after", "x", execution_count=9)
    message = window.undo()
    assert "restored 1 segment (82 tokens)" in message
    assert [s.id for s in window.segments] == [*order, window.find(9).id]
    assert len(swap) == 0 and window.used == 4 * 82 + 9 + 2
    with pytest.raises(NothingToUndo):
        window.undo()


def test_undo_after_compact_removes_the_summary_and_restores_turns(make_window, swap: Swap):
    window = make_window()
    fill(window, 5)
    order = [s.id for s in window.segments]
    used = window.used
    window.compact(FakeSummarizer())
    assert window.used < used
    message = window.undo()
    assert "removed the summary" in message
    assert [s.id for s in window.segments] == order and window.used == used and len(swap) == 0


def test_undo_after_a_policy_step_in_plan(make_window):
    window = make_window()
    fill(window)
    order = [s.id for s in window.segments]
    window.plan(words(60))
    assert window.can_undo
    window.undo()
    assert [s.id for s in window.segments] == order and not window.can_undo
