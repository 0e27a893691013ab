"""Planning and the commands on a ContextWindow, with a word-counting tokenizer (3/message, 2/request)."""

from __future__ import annotations

import pytest

from llmos_kernel.memory import ContextWindow, Kind, MemoryFull, Segment, Swap, count_messages

from .fakes import WordTokenizer, words


def test_usable_and_validation(tok: WordTokenizer):
    window = ContextWindow(tok, window=8192, reserved_output=512, compaction_buffer=256)
    assert window.usable == 8192 - 512 - 256
    with pytest.raises(ValueError, match="no room"):
        ContextWindow(tok, window=500, reserved_output=400, compaction_buffer=100)
    with pytest.raises(ValueError, match="policy"):
        ContextWindow(tok, policy="fifo")
    with pytest.raises(ValueError, match="warn_at"):
        ContextWindow(tok, warn_at=0.95, act_at=0.9)


def test_plan_orders_system_log_then_prompt(make_window):
    window = make_window()
    window.set_system("be brief")
    doc = window.load_document("notes.md", "doc body")
    window.add(Segment(Kind.SUMMARY, "earlier stuff", label="m"))
    window.commit_turn("c1", "first question", "first answer", execution_count=1)
    plan = window.plan("second question")
    assert plan.messages == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "[Pinned document: notes.md]\ndoc body"},
        {"role": "user", "content": "[Summary of earlier conversation]\nearlier stuff"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    assert [r.kind for r in plan.regions] == [
        Kind.SYSTEM,
        Kind.PINNED,
        Kind.SUMMARY,
        Kind.HISTORY,
        Kind.PROMPT,
    ]
    assert plan.regions[1].segment_id == doc.id and plan.regions[1].label == "notes.md"
    assert plan.regions[3].label == "cell 1"


def test_plan_accounting_is_exact(make_window, tok: WordTokenizer):
    window = make_window()
    window.set_system("one two three")
    window.commit_turn("c1", words(10), words(20), execution_count=1)
    plan = window.plan(words(7))
    assert plan.used == count_messages(tok, plan.messages) == (3 + 3) + (10 + 20 + 6) + (7 + 3) + 2
    assert plan.prompt_tokens == 10
    start = 0
    for region in plan.regions:
        assert region.start == start
        start += region.tokens
    assert plan.used == start + tok.per_request
    assert plan.usable == 800 and plan.free == 800 - plan.used and plan.window == 1000
    assert plan.reserved_output == 100 and plan.compaction_buffer == 100
    assert plan.exact is True and plan.tokenizer == "words" and plan.policy == "lru"


@pytest.mark.parametrize(
    ("used", "pressure"),
    [(400, "normal"), (599, "normal"), (600, "warning"), (720, "warning"), (721, "acting"), (800, "acting")],
)
def test_pressure_thresholds(make_window, used: int, pressure: str):
    # usable 800: warning from 0.75 * 800 = 600, acting above 0.90 * 800 = 720 (strict: nothing moves).
    # A turn of H words plus "[no answer]" (2 words) costs H + 2 + 6; a 1-word prompt 4; the request 2.
    window = make_window(policy="strict")
    window.commit_turn("c1", words(used - 14), "", execution_count=1)
    plan = window.plan("go")
    assert plan.used == used
    assert plan.pressure == pressure
    assert plan.actions == []
    assert window.pressure == ("acting" if used - 4 > 720 else "warning" if used - 4 >= 600 else "normal")


def test_plan_json_is_serializable(make_window):
    import json

    window = make_window()
    window.commit_turn("c1", "q", "a", execution_count=1)
    data = window.plan("next").to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["by_kind"] == {"history": 8, "prompt": 4}
    assert data["messages"][-1] == {"role": "user", "content": "next"}


def test_plan_messages_are_copies(make_window):
    window = make_window()
    window.commit_turn("c1", "q", "a", execution_count=1)
    first = window.plan("next")
    first.messages[0]["content"] = "tampered"
    assert window.plan("next").messages[0]["content"] == "q"


def test_rerunning_a_cell_replaces_its_turn(make_window):
    window = make_window()
    window.commit_turn("A", "first version", "old answer", execution_count=1)
    window.commit_turn("B", "other cell", "b", execution_count=2)
    new = window.commit_turn("A", "second version", "new answer", execution_count=3)
    assert [s.text for s in window.segments] == ["other cell", "second version"]
    assert window.segments[-1] is new
    assert window.find("A") is new and window.find(1) is None


def test_rerunning_a_cell_also_removes_its_swapped_and_recalled_turns(make_window, swap: Swap):
    window = make_window()
    old = window.commit_turn("A", "zebra facts", "stripes", execution_count=1)
    window.commit_turn("B", "other", "b", execution_count=2)
    window.evict(old.id)
    assert old.id in swap
    window.commit_turn("A", "zebra facts v2", "more stripes", execution_count=3)
    assert old.id not in swap
    assert [s.text for s in window.segments] == ["other", "zebra facts v2"]
    # A recalled copy of the cell's turn is replaced too.
    window.evict("A")
    window.recall("zebra")
    assert window.segments[-1].kind is Kind.RECALLED
    window.commit_turn("A", "zebra facts v3", "final", execution_count=4)
    assert [s.text for s in window.segments] == ["other", "zebra facts v3"] and len(swap) == 0


def test_turns_without_cell_id_accumulate(make_window):
    window = make_window()
    window.commit_turn(None, "a", "1")
    window.commit_turn(None, "b", "2")
    assert len(window.segments) == 2


def test_interrupted_turn_is_marked_in_the_request(make_window):
    window = make_window()
    window.commit_turn("c1", "write a poem", "Roses are", interrupted=True, execution_count=1)
    plan = window.plan("finish it")
    assert plan.messages[1]["content"].endswith("[answer interrupted]")
    assert window.snapshot()["segments"][0]["interrupted"] is True


def test_find_by_id_cell_and_execution_count(make_window, swap: Swap):
    window = make_window()
    turn = window.commit_turn("cell-uuid", "q", "a", execution_count=3)
    for ref in (turn.id, "cell-uuid", 3, "3", "[3]", "In[3]", " 3 "):
        assert window.find(ref) is turn, ref
    assert window.find(4) is None and window.find("nope") is None
    window.evict(3)
    for ref in (turn.id, "cell-uuid", 3):
        found = window.find(ref)
        assert found is not None and found.id == turn.id and not window.is_resident(found)


def test_pin_unpin_evict_forget(make_window, swap: Swap):
    window = make_window()
    turn = window.commit_turn("c1", "q", "a", execution_count=1)
    window.pin(1)
    with pytest.raises(ValueError, match="pinned"):
        window.evict(1)
    window.unpin(1)
    evicted = window.evict(1)
    assert evicted is turn and window.segments == [] and turn.id in swap
    with pytest.raises(ValueError, match="already in swap"):
        window.evict(turn.id)
    back = window.pin(turn.id)  # pinning a swapped segment pages it back in
    assert back.pinned and window.is_resident(back) and turn.id not in swap
    window.unpin(turn.id)
    window.forget(turn.id)
    assert window.segments == [] and turn.id not in swap and window.find(turn.id) is None
    with pytest.raises(LookupError, match="no segment"):
        window.forget(turn.id)


def test_load_document_pins_and_replaces_by_path(make_window, swap: Swap):
    window = make_window()
    first = window.load_document("a.md", "v1")
    assert first.pinned and first.kind is Kind.PINNED and first.label == "a.md"
    window.unpin(first.id)
    window.evict(first.id)
    second = window.load_document("a.md", "v2")
    assert first.id not in swap and [s.text for s in window.segments] == ["v2"] and second.pinned


def test_add_keeps_ids_unique_and_refuses_prompts(make_window):
    window = make_window()
    a = window.add(Segment(Kind.TOOL, "x", id="sdup"))
    b = window.add(Segment(Kind.TOOL, "y", id="sdup"))
    assert a.id == "sdup" and b.id != "sdup"
    with pytest.raises(ValueError):
        window.add(Segment(Kind.PROMPT, "no"))
    system = window.add(Segment(Kind.SYSTEM, "sys"))
    assert window.system == "sys" and system.kind is Kind.SYSTEM and len(window.segments) == 2


def test_prompt_alone_too_big_raises_memory_full(make_window):
    window = make_window()
    with pytest.raises(MemoryFull) as caught:
        window.plan(words(900))
    error = caught.value
    assert error.needed == 900 + 3 + 2 and error.usable == 800 and error.over == 105
    assert "prompt alone" in str(error) and "105 tokens over" in str(error)


def test_pinned_content_that_cannot_fit_raises_with_advice(make_window):
    window = make_window()
    big = window.commit_turn("c1", words(700), "a", execution_count=1)
    window.pin(big.id)  # a pinned turn, unlike a loaded document (test_documents.py), cannot be paged for it
    window.commit_turn("c2", words(50), "a", execution_count=2)
    with pytest.raises(MemoryFull) as caught:
        window.plan(words(100))
    message = str(caught.value)
    assert "%unpin" in message and big.id in message and "cell 1" in message
    assert "need 812 tokens" in message  # the turn 700 + 1 + 2 x 3, the prompt 103, request 2
    # Hopeless, so nothing was moved trying.
    assert [s.kind for s in window.segments] == [Kind.HISTORY, Kind.HISTORY] and len(window.swap) == 0


def test_without_policy_a_plan_that_does_not_fit_raises_and_moves_nothing(make_window):
    window = make_window()
    for i in range(10):
        window.commit_turn(f"c{i}", words(75), "a", execution_count=i)
    before = [s.id for s in window.segments]
    with pytest.raises(MemoryFull):
        window.plan(words(50), apply_policy=False)
    assert [s.id for s in window.segments] == before
