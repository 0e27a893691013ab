"""Issue 22: a prompt's recall keeps in a copy only the pages relevant now, and never two pages of one text.

The window of make_window is 1000 tokens: usable 800 (WordTokenizer: one token a word).
"""

from __future__ import annotations

from llmos_kernel.memory import ContextWindow, Kind, Swap

FILLER = "The warehouse log lists crates and pallets moved on the night shift. " * 6
BOATS = {
    "canoe": "The red canoe is moored at pier four.",
    "kayak": "The blue kayak hangs in the boathouse.",
    "raft": "The green raft lies behind the mill.",
}
QUESTIONS = {
    "canoe": "Where is the red canoe moored?",
    "kayak": "Where does the blue kayak hang?",
    "raft": "Where does the green raft lie?",
}


def boat_turn(window: ContextWindow) -> None:
    """One long turn: three unrelated facts among filler paragraphs, paged out."""
    parts = [FILLER, BOATS["canoe"], FILLER, BOATS["kayak"], FILLER, BOATS["raft"], FILLER]
    window.commit_turn("boats", "\n\n".join(parts), "noted", execution_count=1)
    window.evict(1)


def copies(window: ContextWindow) -> list:
    return [s for s in window.segments if s.kind is Kind.RECALLED]


def ask(window: ContextWindow, topic: str, cell: int):
    plan = window.plan(QUESTIONS[topic])
    window.commit_turn(f"q{cell}", QUESTIONS[topic], "ok", execution_count=cell)
    return plan


def test_three_unrelated_questions_leave_only_the_current_questions_page(make_window, swap: Swap):
    window = make_window(auto_recall=True)
    boat_turn(window)
    source = swap.all()[0].id
    held: list[list[int]] = []
    for cell, topic in enumerate(BOATS, start=2):
        plan = ask(window, topic, cell)
        (copy,) = copies(window)  # one copy of the segment, never two
        assert copy.source == source
        assert BOATS[topic] in copy.text
        assert not any(BOATS[other] in copy.text for other in BOATS if other != topic), copy.text
        held.append(copy.pages)
        assert [item["pages"] for item in plan.paging["recalled"]] == [copy.pages]
        if cell > 2:  # the previous question's page was let go, and the decision says so
            (dropped,) = plan.paging["dropped"]
            assert dropped["source"] == source and dropped["pages"] == held[-2] and dropped["tokens"] > 0
            assert "no longer relevant" in " ".join(plan.actions)
    assert len(swap) == 1 and source in swap  # nothing lost: the whole turn stays in swap


def test_pages_recalled_by_name_stay_while_the_others_go(make_window):
    window = make_window(auto_recall=True)
    boat_turn(window)
    (mine,) = window.recall("red canoe")
    assert mine.kept == mine.pages
    ask(window, "kayak", 2)
    (copy,) = copies(window)
    assert BOATS["canoe"] in copy.text and BOATS["kayak"] in copy.text
    plan = ask(window, "raft", 3)
    (copy,) = copies(window)
    assert BOATS["canoe"] in copy.text and BOATS["raft"] in copy.text and BOATS["kayak"] not in copy.text
    assert copy.kept == mine.pages
    (dropped,) = plan.paging["dropped"]
    assert len(dropped["pages"]) == 1


def test_a_copy_no_page_of_the_prompt_touches_stays_where_it_is(make_window):
    window = make_window(auto_recall=True)
    boat_turn(window)
    window.commit_turn("bees", f"{FILLER}\n\nIvo Marsh keeps bees on the roof.\n\n{FILLER}", "ok", execution_count=2)
    window.evict(2)
    ask(window, "canoe", 3)
    before = [s.id for s in window.segments]
    plan = window.plan("Who keeps bees on the roof?")
    assert [s.id for s in window.segments][: len(before)] == before  # the canoe copy was not moved
    assert plan.paging["dropped"] == [] and len(copies(window)) == 2
    # Asking the same again changes nothing: the copy holds what is relevant, so no rebuild, no move.
    again = [s.id for s in window.segments]
    window.plan("Who keeps bees on the roof?")
    assert [s.id for s in window.segments] == again


def test_a_line_repeated_eighteen_times_comes_back_as_one_page(make_window, swap: Swap):
    window = make_window(auto_recall=True)
    line = "The boiler pressure valve is rated at three bar."
    window.commit_turn("log", "\n\n".join([FILLER, *[line] * 18, FILLER]), "noted", execution_count=1)
    window.evict(1)
    plan = window.plan("What is the boiler pressure valve rated at?")
    (copy,) = copies(window)
    assert copy.text.count(line) == 1 and len(copy.pages) == 1
    assert plan.paging["duplicates"] == 17
    assert window.recall("boiler pressure valve") == []  # an explicit recall adds no second copy of the line
    (copy,) = copies(window)
    assert copy.text.count(line) == 1 and copy.kept == copy.pages  # but the user asked for it: it stays


def test_a_restored_copy_holding_duplicates_loses_them_on_the_next_recall(make_window, swap: Swap):
    window = make_window(auto_recall=True)
    line = "The boiler pressure valve is rated at three bar."
    window.commit_turn("log", "\n\n".join([FILLER, *[line] * 18, FILLER]), "noted", execution_count=1)
    window.evict(1)
    copy = window.page_in(1)  # every page, as an older kernel's merged copy could hold ...
    copy.kept = []  # ... and older kernels knew no pages asked for by name
    assert copy.text.count(line) == 18
    plan = window.plan("What is the boiler pressure valve rated at?")
    (copy,) = copies(window)
    assert copy.text.count(line) == 1
    (dropped,) = plan.paging["dropped"]
    assert len(dropped["pages"]) == copy.page_count - 1


def test_the_map_and_the_panel_say_which_pages_were_dropped(make_window):
    from llmos_kernel.memory.render import render_map
    from llmos_kernel.widgets.view import paging_of

    window = make_window(auto_recall=True)
    boat_turn(window)
    ask(window, "canoe", 2)
    ask(window, "kayak", 3)
    snap = window.snapshot()
    assert snap["paging"]["last_recall"]["dropped"]
    assert "no longer relevant" in render_map(snap) and "dropped from" in render_map(snap)
    assert "dropping 1 page no longer relevant" in paging_of(snap).last
