"""Whole sessions: randomized runs, prefix stability, incremental counting, refit, persistence, views."""

from __future__ import annotations

import contextlib
import json
import random

import pytest

from llmos_kernel.memory import (
    ContextWindow,
    EstimateTokenizer,
    Kind,
    MemoryFull,
    NothingToUndo,
    Swap,
    TiktokenTokenizer,
    count_messages,
    render_map,
)

from .fakes import DoubleWordTokenizer, FakeSummarizer, WordTokenizer, words

VOCAB = ("alpha", "beta", "gamma", "delta", "kernel", "window", "token", "swap", "page", "model")


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCAB) + str(rng.randint(0, 50)) for _ in range(n))


def check_invariants(window: ContextWindow, plan, tokenizer) -> None:
    assert plan.used <= plan.usable == window.usable
    assert plan.used == count_messages(tokenizer, plan.messages)
    assert plan.free == plan.usable - plan.used
    start = 0
    for region in plan.regions:
        assert region.start == start
        start += region.tokens
    assert start + tokenizer.per_request == plan.used
    # The running total agrees with a from-scratch count of the resident state.
    assert window.used == count_messages(tokenizer, plan.messages[:-1])
    assert 0 <= plan.cache_prefix_tokens <= plan.used


@pytest.mark.parametrize("policy", ["lru", "compact", "strict"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_randomized_session_never_exceeds_the_window(policy: str, seed: int):
    rng = random.Random(seed)
    tok = WordTokenizer()
    swap = Swap()
    window = ContextWindow(
        tok, window=3000, reserved_output=300, compaction_buffer=200, policy=policy, swap=swap
    )
    window.set_system("You are a careful assistant.")
    summarize = FakeSummarizer("a compact summary of what happened")
    live: dict[str, str] = {}  # cell -> id of its latest turn: each must stay resident or in swap
    seen: dict[str, int] = {"acted": 0, "full": 0, "recalled": 0, "compacted": 0}
    for step in range(300):
        op = rng.random()
        cell = f"cell{rng.randint(0, 60)}"
        prompt = sentence(rng, rng.randint(1, 150))
        if op < 0.05:
            window.load_document(f"doc{rng.randint(0, 1)}.md", sentence(rng, rng.randint(10, 150)))
        elif op < 0.10 and window.segments:
            target = rng.choice(window.segments)
            if not target.pinned:
                window.evict(target.id)
        elif op < 0.13 and len(swap):
            seen["recalled"] += bool(window.recall(sentence(rng, 3), limit=2))
        elif op < 0.16:
            with contextlib.suppress(NothingToUndo):
                window.undo()
        elif op < 0.18:
            window.compact(summarize, keep_last=rng.randint(0, 3))
        elif op < 0.20:
            window.set_window(rng.choice([1500, 2000, 3000, 4000]))
        elif op < 0.22:
            window.auto_recall = not window.auto_recall
        try:
            plan = window.plan(prompt, summarize=summarize)
        except MemoryFull as error:
            assert policy == "strict" and error.over > 0 and "strict" in str(error)
            seen["full"] += 1
            window.compact(summarize, keep_last=0)
            plan = window.plan(prompt, summarize=summarize)
        check_invariants(window, plan, tok)
        seen["acted"] += plan.pressure == "acting" and any(
            a.startswith(("paged", "compacted")) for a in plan.actions
        )
        seen["recalled"] += any(a.startswith("recalled") for a in plan.actions)
        seen["compacted"] += any(a.startswith("compacted") for a in plan.actions)
        turn = window.commit_turn(cell, prompt, sentence(rng, rng.randint(0, 120)), execution_count=step)
        live[cell] = turn.id
    # The session really exercised the policy (these thresholds are far below what the seeds produce).
    if policy == "strict":
        assert seen["full"] >= 3 and seen["acted"] == 0
    else:
        assert seen["acted"] >= 3 and seen["full"] == 0, seen
    assert seen["compacted"] >= (3 if policy == "compact" else 0) and seen["recalled"] >= 1
    for cell, segment_id in live.items():
        found = window.find(segment_id)
        assert found is not None and found.cell_id == cell, "an evicted turn was lost"
        found = window.find(cell)  # and exactly one turn per cell (or a recalled copy of it, found first)
        assert segment_id in (found.id, found.source)
    turns_in_swap = [s.cell_id for s in swap.all() if Kind.HISTORY in (s.kind, Kind(s.origin or "prompt"))]
    # Recalled page copies are views of a swapped turn, not turns of their own.
    resident_turns = [s.cell_id for s in window.segments
                      if (s.kind is Kind.HISTORY or s.origin == "history") and not s.source]
    both = sorted(turns_in_swap + resident_turns)
    assert len(both) == len(set(both)) == len(live), [c for c in both if both.count(c) > 1]


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_prefix_is_stable_across_cells_without_a_policy_step(encoding: str):
    tokenizer = TiktokenTokenizer(encoding)
    window = ContextWindow(tokenizer, window=32_000)
    window.set_system("You are terse.")
    window.load_document("spec.md", "The spec. " * 50)
    previous = None
    rng = random.Random(7)
    for i in range(12):
        prompt = sentence(rng, 20)
        plan = window.plan(prompt)
        assert plan.actions == []
        if previous is None:
            assert plan.cache_prefix_tokens == 0
        else:
            # Everything the previous request sent (all but the reply priming) is an unchanged prefix.
            assert plan.cache_prefix_tokens == previous.used - tokenizer.per_request
            assert plan.messages[: len(previous.messages)] == previous.messages
            assert plan.cache_prefix_tokens > previous.cache_prefix_tokens
        preview = window.plan("a preview changes nothing", apply_policy=False)
        assert preview.cache_prefix_tokens == plan.used - tokenizer.per_request - plan.prompt_tokens
        window.commit_turn(f"c{i}", prompt, sentence(rng, 30), execution_count=i)
        previous = plan
    assert window.snapshot()["cache_prefix_tokens"] == previous.cache_prefix_tokens


def test_prefix_after_a_policy_step_and_after_a_rerun(make_window):
    window = make_window()
    window.set_system("sys")
    window.load_document("d.md", "pinned words here")
    for i in range(8):  # distinct texts: identical ones would (rightly) count as an unchanged prefix
        window.commit_turn(f"c{i}", words(75, f"t{i}x"), "a", execution_count=i)
    assert window.plan("small").actions == []
    acted = window.plan(words(60))
    # The step paged out the oldest turns: only the system prompt and the pinned document are unchanged.
    assert acted.actions and acted.cache_prefix_tokens == acted.regions[0].tokens + acted.regions[1].tokens
    window.commit_turn("c9", words(60), "a", execution_count=9)
    plan = window.plan("x")
    assert plan.actions == [] and plan.cache_prefix_tokens == acted.used - 2
    # Re-running a cell in the middle breaks the prefix exactly at that cell's old position.
    middle = window.segments[3]
    window.commit_turn(middle.cell_id, "rerun", "b", execution_count=10)
    plan = window.plan("y")
    assert plan.cache_prefix_tokens == plan.regions[1 + 3].start  # regions start with the system prompt


def test_planning_counts_only_new_text(make_window, tok: WordTokenizer):
    window = make_window(window=100_000)
    window.set_system("system words")
    window.load_document("a.md", words(100))
    for i in range(50):
        window.commit_turn(f"c{i}", words(20, f"p{i}"), words(30, f"a{i}"), execution_count=i)
    window.plan("warm up")
    tok.counted.clear()
    window.plan("the new prompt")
    assert tok.counted == ["the new prompt"]
    tok.counted.clear()
    window.commit_turn("c50", "the new prompt", "its answer", execution_count=50)
    window.plan("next")
    assert sorted(tok.counted) == sorted(["the new prompt", "its answer", "next"])
    tok.counted.clear()
    window.snapshot()
    render_map(window.snapshot())
    window.plan("next")
    assert tok.counted == ["next"]


class CountingTokenizer(TiktokenTokenizer):
    """o200k_base that records how many characters it was asked to tokenize."""

    chars = 0

    def count(self, text: str) -> int:
        self.chars += len(text)
        return super().count(text)


def test_per_cell_accounting_tokenizes_only_what_is_new():
    """Structural, not timed: a cell's plan and commit tokenize the new prompt and answer, never the context
    again (benchmarks/bench_accounting.py times it: hundreds of times cheaper than a recount at 1M tokens)."""
    tokenizer = CountingTokenizer("o200k_base")
    window = ContextWindow(tokenizer, window=600_000, reserved_output=4096, compaction_buffer=2048)
    rng = random.Random(3)
    for i in range(500):
        window.commit_turn(f"c{i}", sentence(rng, 150), sentence(rng, 150), execution_count=i)
    assert window.used > 250_000
    prompts = [sentence(rng, 40) for _ in range(20)]
    tokenizer.chars = 0
    for i, prompt in enumerate(prompts):
        plan = window.plan(prompt)
        window.commit_turn(f"n{i}", prompt, "ok", execution_count=1000 + i)
    new_text = sum(len(prompt) + len("ok") for prompt in prompts)
    context = sum(len(message["content"]) for message in plan.messages)
    assert tokenizer.chars <= 3 * new_text  # each new text counted a bounded number of times
    assert tokenizer.chars * 50 < context  # and the resident context (1.1M characters) not at all
    assert count_messages(TiktokenTokenizer("o200k_base"), plan.messages) == plan.used  # and still exact


# -- refit -------------------------------------------------------------------------------------------


def test_refit_to_a_smaller_window_pages_out_and_reports(make_window, swap: Swap):
    window = make_window(window=2000)
    for i in range(8):
        window.commit_turn(f"c{i}", words(75), "a", execution_count=i)
    used = window.used
    preview = window.refit(window=800, dry_run=True)  # usable 600: act above 540, LRU down to 300
    assert preview.dry_run and preview.paged_out and len(swap) == 0 and window.window == 2000
    assert preview.used_before == used and preview.used_after <= 300 and preview.fits
    assert preview.actions[0].startswith("would page out 5 segments (410 tokens): cell 0, cell 1")
    report = window.set_window(800)
    assert report.paged_out == preview.paged_out and len(swap) == 5
    assert report.usable == 600 and report.used_after == window.used <= 300 and report.fits
    assert report.actions[0].startswith("paged out 5 segments")
    window.undo()
    assert len(swap) == 0 and window.used == used
    with pytest.raises(ValueError):
        window.set_window(150)


def test_refit_to_another_tokenizer_recounts_once(make_window, tok: WordTokenizer, swap: Swap):
    window = make_window(window=2000)
    for i in range(6):
        window.commit_turn(f"c{i}", words(50), words(10), execution_count=i)
    window.evict(0)
    used = window.used
    double = DoubleWordTokenizer("double")
    report = window.set_tokenizer(double)
    assert report.tokenizer == "double" and report.used_before == used
    assert window.used == report.used_after == 5 * (120 + 6) + 2 and report.paged_out == []
    assert window.plan("one two").used == window.used + 4 + 3
    # Swapped segments get counted for the new tokenizer when the map needs them, once.
    snapshot = window.snapshot()
    assert snapshot["tokenizer"] == "double"
    assert [row["tokens"] for row in snapshot["segments"] if row["state"] == "swapped"] == [126]
    assert swap.all()[0].tokens["double"] == 126
    # Back to the first tokenizer: every count is cached, nothing is re-tokenized.
    tok.counted.clear()
    window.set_tokenizer(tok)
    assert tok.counted == [] and window.used == used
    # A tokenizer that makes it all too big triggers the policy.
    report = window.set_tokenizer(DoubleWordTokenizer("double2"))
    assert window.used == 5 * 126 + 2 <= window.usable  # 1800 usable: fits
    report = window.set_window(900)  # usable 700: 632 is over the 630 action threshold
    assert len(report.paged_out) == 3 and window.used <= 0.5 * window.usable


def test_refit_between_the_real_openai_encodings():
    o200k, cl100k = TiktokenTokenizer("o200k_base"), TiktokenTokenizer("cl100k_base")
    window = ContextWindow(o200k, window=16_000)
    window.set_system("Réponds en français, s'il te plaît.")
    rng = random.Random(5)
    for i in range(10):
        window.commit_turn(f"c{i}", sentence(rng, 40) + " 東京 🧠", sentence(rng, 60), execution_count=i)
    window.plan("warm")
    report = window.set_tokenizer(cl100k)
    plan = window.plan("Quelle heure est-il à 東京?")
    assert report.tokenizer == "cl100k_base" and report.used_before != report.used_after
    assert plan.used == count_messages(cl100k, plan.messages) and plan.tokenizer == "cl100k_base"
    assert plan.cache_prefix_tokens == 0  # another model's cache: nothing carries over
    window.set_tokenizer(o200k)
    assert window.plan("again").used == count_messages(o200k, window.last_plan.messages)


def test_strict_refit_reports_instead_of_moving(make_window, swap: Swap):
    window = make_window(window=2000, policy="strict")
    for i in range(8):
        window.commit_turn(f"c{i}", words(75), "a", execution_count=i)
    report = window.set_window(800)
    assert report.paged_out == [] and len(swap) == 0 and "strict policy" in report.actions[0]
    assert report.fits is False


def test_estimate_calibration_rescales_without_recounting(make_window, monkeypatch: pytest.MonkeyPatch):
    estimate = EstimateTokenizer("estimate:test-model")
    calls: list[str] = []
    real = estimate.count_raw
    monkeypatch.setattr(estimate, "count_raw", lambda text: calls.append(text) or real(text))
    window = make_window(tokenizer=estimate, window=10_000)
    for i in range(10):
        window.commit_turn(f"c{i}", f"question number {i} about things", "an answer", execution_count=i)
    plan = window.plan("hello")
    assert plan.exact is False and plan.tokenizer == "estimate:test-model"
    calls.clear()
    estimate.calibrate(plan.used, plan.used * 2)
    assert estimate.scale == pytest.approx(2.0)
    second = window.plan("hello")
    assert calls == ["hello"]
    assert second.used == pytest.approx(2 * plan.used, abs=2) and second.used <= second.usable
    assert "estimate" in render_map(second)


# -- persistence and views ---------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip(tmp_path, tok: WordTokenizer):
    path = str(tmp_path / "swap.db")
    window = ContextWindow(tok, window=1000, reserved_output=100, compaction_buffer=100, swap=Swap(path))
    window.set_system("sys prompt")
    window.policy = "compact"
    window.auto_recall = True
    window.load_document("d.md", "doc text")
    for i in range(4):
        window.commit_turn(f"c{i}", f"q{i} zebra", f"a{i}", execution_count=i, interrupted=i == 2)
    window.evict(1)
    data = json.loads(json.dumps(window.to_dict()))
    window.swap.close()
    restored = ContextWindow.from_dict(data, tok, Swap(path))
    assert restored.to_dict() == data
    assert restored.policy == "compact" and restored.auto_recall and restored.system == "sys prompt"
    assert [s.to_dict() for s in restored.segments] == data["segments"]
    assert restored.plan("next").messages == ContextWindow.from_dict(data, tok, Swap()).plan("next").messages
    assert restored.find(1) is not None and not restored.is_resident(restored.find(1))
    assert restored.recall("zebra")[0].execution_count == 1


def test_snapshot_shape_and_render_map(make_window):
    window = make_window()
    window.set_system("sys")
    window.load_document("notes/a.md", "document body text")
    window.commit_turn("c1", "first prompt here", "answer", execution_count=1)
    window.commit_turn("c2", "second prompt", "partial", execution_count=2, interrupted=True)
    window.evict(1)
    snapshot = window.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert {
        "tokenizer",
        "exact",
        "window",
        "usable",
        "used",
        "free",
        "reserved_output",
        "compaction_buffer",
        "pressure",
        "warn_at",
        "act_at",
        "policy",
        "cache_prefix_tokens",
        "by_kind",
        "regions",
        "segments",
    } <= snapshot.keys()
    assert snapshot["used"] == window.used and snapshot["free"] == 800 - window.used
    assert snapshot["by_kind"] == {"system": 4, "pinned": 9, "history": 11}
    rows = {row["kind"] + str(row["execution_count"]): row for row in snapshot["segments"]}
    assert rows["history1"]["state"] == "swapped" and rows["history2"]["state"] == "resident"
    assert rows["history2"]["interrupted"] is True and rows["pinnedNone"]["pinned"] is True
    assert set(rows["history2"]) == {
        "id",
        "kind",
        "label",
        "cell_id",
        "execution_count",
        "tokens",
        "pinned",
        "state",
        "interrupted",
        "preview",
        "origin",
        "source",
        "pages",
        "page_count",
        "match",
        "untrusted",
    }
    text = render_map(snapshot)
    assert "tokenizer words (exact)" in text and f"used {window.used:,} / 800 usable" in text
    assert "reserved 100" in text and "cache prefix" in text
    lines = text.splitlines()
    assert any(line.strip().startswith("pinned") and "█" in line for line in lines)
    assert sum(1 for line in lines if rows["history1"]["id"] in line and "swapped" in line) == 1
    assert any("(interrupted) second prompt" in line for line in lines)
    plan_text = render_map(window.plan("go"))
    assert "prompt" in plan_text and "policy lru" in plan_text
    # A chat format's tokens around the messages (SmolLM2's template, OpenAI's per-message tokens) are in `used`
    # and no segment's: a row of their own, so the rows add up to the header.
    by_kind = [line.split() for line in text.split("by kind:")[1].split("\n\n")[0].splitlines() if line.strip()]
    framing = snapshot["used"] - sum(snapshot["by_kind"].values())
    assert framing > 0 and by_kind[-1][:2] == ["framing", str(framing)]
    assert sum(int(row[1]) for row in by_kind) == snapshot["used"]
