"""Demand paging in the window: recalled page copies, page replacement, merging, undo and telemetry.

The window of make_window is 1000 tokens: usable 800, acting above 720 (WordTokenizer: one token a word).
"""

from __future__ import annotations

import time

import pytest

from llmos_kernel.memory import ContextWindow, Kind, MemoryFull, Swap
from llmos_kernel.memory.pages import GAP
from llmos_kernel.memory.telemetry import THRASH_CELLS

from .fakes import words

FILLER = "The warehouse log lists crates and pallets moved on the night shift. " * 6


def fact_turn(window: ContextWindow, cell: int, fact: str, filler: str = FILLER) -> None:
    """A turn with one fact paragraph among filler paragraphs: several pages, only one of them relevant."""
    window.commit_turn(f"c{cell}", f"{filler}\n\n{fact}\n\n{filler}", "noted", execution_count=cell)


def test_an_explicit_recall_brings_back_the_matching_page_as_a_marked_excerpt(make_window, swap: Swap):
    window = make_window()
    fact_turn(window, 1, "Lena Voss keeps three zebras on her farm.")
    window.evict(1)
    window.commit_turn("c2", "unrelated", "ok", execution_count=2)
    (copy,) = window.recall("zebras please")
    assert copy.kind is Kind.RECALLED and copy.origin == "history" and copy.is_excerpt
    assert copy.cell_id == "c1" and copy.execution_count == 1 and window.find(1) is copy
    assert "zebras" in copy.text and len(copy.text) < len(FILLER) * 2  # the page, not the whole turn
    assert copy.source in swap and len(swap) == 1  # the source stays in swap: the copy is a clean page
    assert "zebras" in copy.match
    plan = window.plan("what else?")
    header = plan.messages[-2]["content"].splitlines()[0]
    said = time.strftime("%Y-%m-%d %H:%M", time.localtime(swap.get(copy.source).created))
    # When it was said is the source's time, not the recall's: what a "first"/"before" question orders by.
    assert header.startswith(f"[Recalled from swap: cell 1 [{copy.source}], said {said}, excerpt: page")
    assert plan.regions[-2].kind is Kind.RECALLED and plan.regions[-2].segment_id == copy.id
    # Counted exactly like everything else.
    assert plan.regions[-2].tokens == len(plan.messages[-2]["content"].split()) + 3


def test_a_later_recall_of_the_same_segment_merges_into_its_copy(make_window, swap: Swap):
    window = make_window()
    window.commit_turn("c1", f"{FILLER}\n\nThe red canoe is moored at pier four.\n\n{FILLER}\n\n{FILLER}\n\n"
                             f"The blue kayak hangs in the boathouse.\n\n{FILLER}", "noted", execution_count=1)
    window.evict(1)
    (first,) = window.recall("red canoe")
    assert "canoe" in first.text and "kayak" not in first.text
    (merged,) = window.recall("blue kayak")
    assert merged.id == first.id  # the same copy, extended
    assert "canoe" in merged.text and "kayak" in merged.text and GAP in merged.text
    assert sorted(merged.pages) == merged.pages and len(merged.pages) == 2
    assert [s for s in window.segments if s.kind is Kind.RECALLED] == [merged]  # one copy per source
    assert {"red", "canoe", "blue", "kayak"} <= set(merged.match)
    whole = window.page_in(1)
    assert whole.id == merged.id and not whole.is_excerpt and whole.pages == list(range(whole.page_count))
    assert whole.text.startswith("User: ") and "Assistant: noted" in whole.text
    assert window.plan("x").messages[-2]["content"].startswith("[Recalled from swap: cell 1, said ")


def test_evicting_a_copy_only_lets_it_go_and_undo_brings_it_back(make_window, swap: Swap):
    window = make_window()
    fact_turn(window, 1, "Lena Voss keeps three zebras on her farm.")
    window.evict(1)
    (copy,) = window.recall("zebras")
    window.evict(copy.id)
    assert not window.is_resident(copy) and len(swap) == 1 and copy.id not in swap
    window.undo()
    assert window.is_resident(window.find(copy.id)) and window.find(copy.id).source == copy.source
    window.forget(copy.id)  # forgetting a copy forgets what it is a copy of: "for good" means everywhere
    assert len(swap) == 0 and window.find(1) is None


def almost_full(window: ContextWindow) -> None:
    """Turns [2]..[10]: 8 of 80 tokens and one of 60, so 702 used: a 10-token prompt stays under the 720
    action threshold (no policy step), but a recalled page on top of it does not."""
    for cell in range(2, 10):
        window.commit_turn(f"c{cell}", words(73, f"x{cell}"), "a", execution_count=cell)
    window.commit_turn("c10", words(53, "x10"), "a", execution_count=10)
    assert window.used == 702


def test_auto_recall_evicts_colder_content_to_make_room(make_window, swap: Swap):
    window = make_window(auto_recall=True)
    fact_turn(window, 1, "Lena Voss keeps three zebras on her farm.")
    window.evict(1)
    almost_full(window)
    plan = window.plan("How many zebras does Lena Voss keep?")
    paging = plan.paging
    assert paging is not None and [item["cell"] for item in paging["recalled"]] == [1]
    evicted = [item["cell"] for item in paging["evicted"]]
    assert evicted == [2]  # the coldest, and only as much as the recall needs
    assert window.find(10) is not None and window.is_resident(window.find(9))
    assert plan.pressure != "acting" and plan.used <= 0.9 * plan.usable
    assert any("zebras" in m["content"] for m in plan.messages)
    match = paging["recalled"][0]["match"][0]
    assert {"zebras", "lena", "voss"} <= set(match["match"]) and match["coverage"] >= 0.5
    assert any(action.startswith("evicted") for action in plan.actions)
    assert any(action.startswith("recalled pages of cell 1") for action in plan.actions)
    assert all(item["cell"] in evicted for item in paging["evicted"]) and len(swap) == 1 + len(evicted)


def test_a_recall_never_evicts_pinned_content_or_the_newest_turns(make_window):
    window = make_window(auto_recall=True)
    fact_turn(window, 1, "Lena Voss keeps three zebras on her farm.")
    window.evict(1)
    window.load_document("notes.md", words(300, "doc"))  # 303 tokens; with two turns of 200: 705 used
    window.commit_turn("c2", words(193, "a"), "a", execution_count=2)
    window.commit_turn("c3", words(193, "b"), "a", execution_count=3)
    window.protect_newest = 2
    before = [s.id for s in window.segments]
    plan = window.plan("How many zebras does Lena Voss keep?")
    # Nothing else may go, so no room can be made: nothing is recalled, and nothing moved.
    assert plan.paging["recalled"] == [] and plan.paging["evicted"] == []
    assert [s.id for s in window.segments] == before
    window.protect_newest = 1  # now the older of the two turns is fair game, the pinned document never
    plan = window.plan("How many zebras does Lena Voss keep?")
    assert [item["cell"] for item in plan.paging["evicted"]] == [2]
    assert [item["cell"] for item in plan.paging["recalled"]] == [1]
    assert window.find("notes.md").pinned and window.is_resident(window.find("notes.md"))


def test_the_recall_budget_bounds_each_prompt(make_window):
    window = make_window(auto_recall=True)
    for cell in range(1, 6):
        fact_turn(window, cell, f"Lena Voss note {cell}: she keeps zebras in barn {cell}.")
        window.evict(cell)
    window.auto_recall_budget = 60  # two or so of the five pages
    plan = window.plan("Where does Lena Voss keep zebras?")
    assert 0 < plan.paging["tokens"] <= 60 and plan.paging["budget"] == 60
    assert sum(item["tokens"] for item in plan.paging["recalled"]) <= 60
    assert 1 <= len(plan.paging["recalled"]) < 5 and plan.paging["candidates"] == 5
    window.auto_recall_budget = 5
    assert window.plan("Where does Lena Voss keep zebras?").paging["recalled"] == []


def test_strict_policy_recalls_only_into_free_room(make_window):
    window = make_window(auto_recall=True, policy="strict")
    fact_turn(window, 1, "Lena Voss keeps three zebras on her farm.")
    window.evict(1)
    almost_full(window)
    plan = window.plan("How many zebras does Lena Voss keep?")
    assert plan.paging["evicted"] == [] and plan.paging["recalled"] == []


def test_an_update_outranks_the_stale_fact(make_window):
    window = make_window(auto_recall=True)
    fact_turn(window, 1, "Lena Voss lives in Lisbon.")
    for cell in range(2, 5):
        fact_turn(window, cell, f"Crate {cell} was moved to dock {cell}.")
    fact_turn(window, 5, "Lena Voss lives in Porto now.")
    for cell in range(1, 6):
        window.evict(cell)
    window.auto_recall_budget = 35  # room for one page only: the newer one must win it
    plan = window.plan("Where does Lena Voss live?")
    (item,) = plan.paging["recalled"]
    assert item["cell"] == 5
    text = "\n".join(m["content"] for m in plan.messages)
    assert "Porto" in text and "Lisbon" not in text


def test_a_question_about_an_unknown_name_recalls_nothing(make_window):
    window = make_window(auto_recall=True)
    fact_turn(window, 1, "Lena Voss keeps a cat called Pip on her farm.")
    window.evict(1)
    plan = window.plan("What is the name of Priya Raman's cat?")
    assert plan.paging["recalled"] == [] and plan.paging["candidates"] == 0


def test_two_hops_bring_back_the_fact_named_only_through_another(make_window):
    window = make_window(auto_recall=True)
    fact_turn(window, 1, "The red canoe belongs to Ivo Marsh.")
    fact_turn(window, 2, "Ivo Marsh spends his weekends keeping bees.")
    fact_turn(window, 3, "Crates of apples went to the market.")
    for cell in (1, 2, 3):
        window.evict(cell)
    plan = window.plan("What hobby does the owner of the red canoe have?")
    cells = {item["cell"]: item for item in plan.paging["recalled"]}
    assert set(cells) == {1, 2}
    assert cells[2]["match"][0]["hop"] == 2 and {"ivo", "marsh"} <= set(cells[2]["match"][0]["match"])
    window.recall_options.two_hop = False
    window.evict(cells[1]["id"])
    window.evict(cells[2]["id"])
    plan = window.plan("What hobby does the owner of the red canoe have?")
    assert [item["cell"] for item in plan.paging["recalled"]] == [1]


def test_telemetry_counts_recalls_pages_evictions_and_thrashing(make_window):
    window = make_window(auto_recall=True)
    fact_turn(window, 1, "Lena Voss keeps three zebras on her farm.")
    window.evict(1)
    window.plan("How many zebras does Lena Voss keep?")
    window.commit_turn("q1", "How many zebras does Lena Voss keep?", "three", execution_count=2)
    stats = window.paging.to_json()
    assert stats["faults"] == 1 and stats["pages_recalled"] == 1 and stats["thrashing"] == 0
    assert stats["per_cell"][-1]["execution_count"] == 2
    evicted = stats["pages_evicted"]
    window.commit_turn("c3", words(690, "z"), "a", execution_count=3)
    window.plan("Tell me about something else entirely.")  # the LRU step lets the recalled copy go ...
    assert not any(s.kind is Kind.RECALLED for s in window.segments)
    assert window.paging.to_json()["pages_evicted"] > evicted
    window.plan("Tell me about the zebras of Lena Voss.")  # ... and the next cell needs it again: thrashing
    stats = window.paging.to_json()
    # The fact's page comes back, and so does the earlier question's turn: both paged out one cell ago.
    assert stats["faults"] == 2 and stats["pages_recalled"] == 3 and stats["thrashing"] == 2
    copy = next(s for s in window.segments if s.kind is Kind.RECALLED)
    window.evict(copy.id)  # a user's own eviction never counts as thrashing, and neither does a late recall
    for _ in range(THRASH_CELLS + 1):
        window.plan("nothing relevant here")
    window.plan("How many zebras does Lena Voss keep?")  # long after the eviction: not thrashing
    assert window.paging.to_json()["thrashing"] == 2
    snap = window.snapshot()
    assert snap["paging"]["faults"] == 3 and snap["paging"]["last_recall"]["recalled"]


def test_page_in_refuses_what_does_not_fit(make_window):
    window = make_window()
    window.commit_turn("big", words(500), "a", execution_count=1)
    window.evict(1)
    window.commit_turn("c2", words(500), "a", execution_count=2)
    with pytest.raises(MemoryFull):
        window.page_in(1)
    assert len(window.segments) == 1


def test_a_rerun_cell_drops_its_recalled_copy(make_window, swap: Swap):
    window = make_window()
    fact_turn(window, 1, "Lena Voss keeps three zebras on her farm.")
    window.evict(1)
    window.recall("zebras")
    window.commit_turn("c1", "a new question", "a new answer", execution_count=3)
    assert [s.kind for s in window.segments] == [Kind.HISTORY] and len(swap) == 0


def test_a_page_saying_what_the_window_already_holds_is_not_recalled(make_window):
    # A shift log repeated day after day: the swapped copies say what the resident one says, so recalling
    # them would spend the budget and push the newest turns out for nothing.
    window = make_window(auto_recall=True)
    report = "Lena Voss checked the zebra fences by pond four and found the north gate loose again."
    for cell in (1, 2, 3):
        window.commit_turn(f"log{cell}", f"Log {cell}: {report}", "noted", execution_count=cell)
    for cell in (1, 2):
        window.evict(cell)
    plan = window.plan(f"Log 4: {report}")
    assert plan.paging["recalled"] == []
    # Something new in swap is still recalled next to it.
    window.commit_turn("gate", "Lena Voss had the north gate of the zebra fence welded shut.", "ok", execution_count=4)
    window.evict(4)
    recalled = window.plan("Was the north gate of the zebra fence fixed?").paging["recalled"]
    assert [item["cell"] for item in recalled] == [4]
