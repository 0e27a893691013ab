"""Issue 22: the recall budget grows with the window unless the user set one (faults.recall_budget)."""

from __future__ import annotations

import json

from llmos_kernel.memory import ContextWindow, Swap
from llmos_kernel.memory.faults import RECALL_FLOOR, describe_budget, recall_budget

from .fakes import WordTokenizer

FACT = ("Lena Voss keeps zebra number {n} in paddock {n}, feeds it oats at dawn, brushes its mane every evening,"
        " and writes down how it behaves in a notebook she keeps in the barn by gate {n}. On Sundays she walks"
        " it along the river to the old mill and back.")


def test_the_default_budget_is_a_share_of_the_usable_window_with_a_floor_and_a_ceiling():
    assert recall_budget(800, None) == 200  # small window: the RECALL_SHARE ceiling (25%) wins over the floor
    assert recall_budget(4300, None) == RECALL_FLOOR  # 20% would be 860: the floor
    assert recall_budget(5800, None) == 1160  # 20%
    assert recall_budget(19800, None) == 3960
    assert recall_budget(19800, 500) == 500  # the user's own wins ...
    assert recall_budget(800, 500) == 200  # ... up to the ceiling
    assert describe_budget(19800, None) == ("budget 3,960 tokens: 20% of the 19,800-token usable window, growing"
                                            " with it; --budget N sets your own")
    assert "the least by default (20% of the 4,300-token usable window is 860)" in describe_budget(4300, None)
    assert "budget 200 tokens: 25% of the 800-token usable window, the most" in describe_budget(800, None)
    assert describe_budget(19800, 500) == "budget 500 tokens, set with --budget"
    assert "you set 500" in describe_budget(800, 500)


def test_the_budget_follows_the_window_and_a_user_budget_survives_a_resize(make_window):
    window = make_window(window=20000)
    assert window.recall_budget == 3960 and window.recall_budget_set is None
    window.set_window(6000)
    assert window.recall_budget == 1160
    window.auto_recall_budget = 700
    assert window.recall_budget == 700 and window.auto_recall_budget == 700
    window.set_window(20000)
    assert window.recall_budget == 700  # the user's, whatever the window
    window.auto_recall_budget = None
    assert window.recall_budget == 3960


def test_the_budget_persists_as_default_or_user_set_and_old_sessions_load(tok: WordTokenizer):
    window = ContextWindow(tok, window=20000, reserved_output=100, compaction_buffer=100, swap=Swap())
    data = json.loads(json.dumps(window.to_dict()))
    assert data["auto_recall_budget"] is None
    assert ContextWindow.from_dict(data, tok, Swap()).recall_budget == 3960
    window.auto_recall_budget = 1024  # the user chose exactly the old default: still theirs
    data = json.loads(json.dumps(window.to_dict()))
    assert ContextWindow.from_dict(data, tok, Swap()).recall_budget_set == 1024
    # A session saved before: it always stored a number, 1024 being that era's default.
    old = {key: value for key, value in data.items() if key != "auto_recall_budget_by_user"}
    assert ContextWindow.from_dict({**old, "auto_recall_budget": 1024}, tok, Swap()).recall_budget_set is None
    assert ContextWindow.from_dict({**old, "auto_recall_budget": 60}, tok, Swap()).recall_budget_set == 60
    assert ContextWindow.from_dict({k: v for k, v in old.items() if k != "auto_recall_budget"}, tok,
                                   Swap()).recall_budget_set is None


def test_a_larger_window_recalls_more_when_more_relevant_pages_exist(make_window, swap: Swap):
    def recalled(window_size: int) -> tuple[int, int]:
        window = make_window(window=window_size, auto_recall=True, swap=Swap())
        # 30 relevant pages (paragraphs) of 60 words: more than 1,024 tokens; 40 pages in all, so no word is too
        # common to rank (recall.COMMON_FLOOR).
        for n in range(10):
            text = "\n\n".join(FACT.format(n=3 * n + i) for i in range(3))
            window.commit_turn(f"c{n}", text, "noted", execution_count=n)
            window.evict(n)
        plan = window.plan("How does Lena Voss care for her zebras?")
        return plan.paging["tokens"], plan.paging["budget"]

    small, small_budget = recalled(1000)
    large, large_budget = recalled(20000)
    assert small_budget == 200 and 0 < small <= 200
    assert large_budget == 3960 and large > RECALL_FLOOR, large
    print(large)  # more than the old fixed 1,024 tokens
