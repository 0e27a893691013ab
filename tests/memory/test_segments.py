from __future__ import annotations

import json
import re

from llmos_kernel.memory import Kind, Segment
from llmos_kernel.memory.segments import INTERRUPTED_MARKER


def test_history_is_a_user_assistant_pair():
    turn = Segment(Kind.HISTORY, "what is 2+2?", "4", cell_id="c1", execution_count=1)
    assert turn.messages() == [
        {"role": "user", "content": "what is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]


def test_interrupted_answer_ends_with_a_visible_marker():
    turn = Segment(Kind.HISTORY, "count to 100", "1 2 3", interrupted=True)
    answer = turn.messages()[1]["content"]
    assert answer == "1 2 3" + INTERRUPTED_MARKER
    assert answer.endswith("[answer interrupted]")
    empty = Segment(Kind.HISTORY, "go", "", interrupted=True)
    assert empty.messages()[1]["content"] == "[answer interrupted]"


def test_empty_answer_is_never_an_empty_assistant_message():
    assert Segment(Kind.HISTORY, "q", "").messages()[1]["content"].strip()


def test_system_and_prompt_roles():
    assert Segment(Kind.SYSTEM, "be brief").messages() == [{"role": "system", "content": "be brief"}]
    assert Segment(Kind.PROMPT, "hi").messages() == [{"role": "user", "content": "hi"}]


def test_bracketed_headers_for_non_turn_segments():
    doc = Segment(Kind.PINNED, "body", label="notes/a.md", pinned=True).messages()
    assert doc == [{"role": "user", "content": "[Pinned document: notes/a.md]\nbody"}]
    summary = Segment(Kind.SUMMARY, "we did x", label="gpt-4o").messages()[0]["content"]
    assert summary.startswith("[Summary of earlier conversation]\n")
    tool = Segment(Kind.TOOL, "42", label="python").messages()[0]["content"]
    assert tool == "[Tool call: python]\n42"
    recalled = Segment(
        Kind.RECALLED, "old q", "old a", execution_count=3, origin="history", interrupted=True
    ).messages()
    assert len(recalled) == 1 and recalled[0]["role"] == "user"
    content = recalled[0]["content"]
    assert re.match(r"\[Recalled from swap: cell 3, said \d{4}-\d\d-\d\d \d\d:\d\d\]\n", content)
    assert "User: old q" in content and "Assistant: old a" + INTERRUPTED_MARKER in content


def test_ids_are_short_and_distinct():
    ids = {Segment(Kind.HISTORY, "x").id for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 9 and i.startswith("s") for i in ids)


def test_last_used_defaults_to_created():
    segment = Segment(Kind.HISTORY, "x", created=123.0)
    assert segment.last_used == 123.0


def test_round_trip_is_json_safe_and_lossless():
    original = Segment(
        Kind.RECALLED,
        "prompt with a lone surrogate \ud800 and NUL \x00",
        "answer",
        cell_id="cell-uuid",
        execution_count=7,
        label="label",
        pinned=True,
        interrupted=True,
        tokens={"o200k_base": 12},
        origin="history",
    )
    data = json.loads(json.dumps(original.to_dict()))
    copy = Segment.from_dict(data)
    assert copy == original
    assert copy.kind is Kind.RECALLED


def test_preview_is_single_line_and_bounded():
    segment = Segment(Kind.HISTORY, "line one\nline two   " + "x" * 200)
    preview = segment.preview(40)
    assert "\n" not in preview and len(preview) == 40 and preview.endswith("…")


def test_a_colliding_id_is_redrawn_by_the_window(make_window, monkeypatch):
    from llmos_kernel.memory import segments

    draws = iter(["aaaaaaaa", "aaaaaaaa", "aaaaaaaa", "bbbbbbbb", "cccccccc"])
    monkeypatch.setattr(segments.secrets, "token_hex", lambda n: next(draws))
    window = make_window()
    window.commit_turn("c1", "first question", "first answer", execution_count=1)
    window.evict("1")  # the first segment now lives in swap under that id
    window.commit_turn("c2", "second question", "second answer", execution_count=2)
    window.commit_turn("c3", "third question", "third answer", execution_count=3)
    ids = [s.id for s in window.segments] + [s.id for s in window.swap.all()]
    assert len(ids) == len(set(ids)) == 3
    assert "sbbbbbbbb" in ids
