"""Prompt cells on the real embedded model (SmolLM2 on llama.cpp) through a real kernel process."""

from __future__ import annotations

import json
import os
import re

from tests.support.answers import longest_line_run
from tests.support.kernel import KernelSession


def test_two_prompts_stream_and_second_carries_first(kernel):
    first = kernel.run("%%prompt --max-tokens 24 --temperature 0\nName one planet.", cell_id="c1")
    assert first.status == "ok", first.error_text
    updates = first.of_type("update_display_data")
    assert len(updates) >= 2, "the answer should grow in place through display updates"
    final = first.final_display()
    assert final is not None
    meta = final["metadata"]["llmos"]
    assert final["data"]["text/markdown"].strip()
    assert meta["model"] == "smollm2" and meta["status"] == "ok"
    assert meta["tokens_in"] > 0 and 0 < meta["tokens_out"] <= 24
    assert meta["exact"] is True and meta["latency_s"] > 0
    # every display shares one display_id: one output that grows, not many
    ids = {m["content"]["transient"]["display_id"] for m in first.of_type("display_data", "update_display_data")}
    assert len(ids) == 1

    second = kernel.run("%%prompt --max-tokens 16 --temperature 0\nAnd another one?", cell_id="c2")
    assert second.status == "ok", second.error_text
    meta2 = second.final_display()["metadata"]["llmos"]
    # llama.cpp counts the second prompt exactly: it must contain the whole first turn
    assert meta2["tokens_in"] >= meta["tokens_in"] + meta["tokens_out"]

    ctx = kernel.run("%context --json")
    sent = json.loads(ctx.stdout)
    contents = [m["content"] for m in sent["messages"]]
    assert "Name one planet." in contents and "And another one?" in contents
    roles = [m["role"] for m in sent["messages"]]
    assert roles[0] == "system" and roles.count("assistant") == 2


def test_rerunning_a_cell_replaces_its_turn(kernel):
    for _ in range(2):
        run = kernel.run("%%prompt --max-tokens 8 --temperature 0\nSay yes.", cell_id="same-cell")
        assert run.status == "ok", run.error_text
    sent = json.loads(kernel.run("%context --json").stdout)["messages"]
    assert [m["content"] for m in sent].count("Say yes.") == 1


def test_answer_is_out_and_as_variable(kernel):
    run = kernel.run("%%prompt --as reply --max-tokens 8\nSay hi.", cell_id="v1")
    assert run.status == "ok", run.error_text
    value = kernel.eval("reply")
    assert isinstance(value, str) and value.strip()
    assert kernel.eval(f"Out[{run.reply['content']['execution_count']}]") == value


def test_empty_cell_is_a_clear_message(kernel):
    run = kernel.run("   \n")
    assert run.status == "ok"
    assert "nothing was sent" in run.stdout
    assert kernel.alive()


# -- the first cells a newcomer types, at default settings (issue 12) --------------------------------------------

PARAGRAPH = (
    "The Great Barrier Reef is the world's largest coral reef system, made of nearly 3,000 individual reefs and "
    "900 islands off the coast of Queensland, Australia. It is built by billions of tiny organisms known as coral "
    "polyps. Warming seas have caused several mass bleaching events since 1998."
)
FIRST_CELLS = (
    "hello",
    "What is the capital of France?",
    "write a haiku about the sea",
    f"summarize this paragraph: {PARAGRAPH}",
    "what is 2+2?",
)


def test_longest_line_run_counts_repeats_in_a_row():
    assert longest_line_run("a\nb\n\nb\nb\nc\na") == 3 and longest_line_run("") == 0


def test_the_first_cells_a_newcomer_types_end_with_the_models_own_stop(kernel):
    switched = kernel.run("%model smollm2")
    assert switched.status == "ok", switched.error_text
    cap = int(re.search(r"answers up to ([\d,]+) tokens", switched.stdout).group(1).replace(",", ""))
    assert 128 <= cap <= 2048
    for number, cell in enumerate(FIRST_CELLS):
        run = kernel.run(cell, cell_id=f"first-{number}")  # a plain cell: no options, default settings
        assert run.status == "ok", run.error_text
        final = run.final_display()
        meta, text = final["metadata"]["llmos"], final["data"]["text/plain"]
        assert meta["finish_reason"] == "stop", f"{cell!r} ran to the cap: {text[:300]!r}"
        assert 0 < meta["tokens_out"] <= cap // 3, f"{cell!r}: {meta['tokens_out']} tokens"
        assert longest_line_run(text) <= 3, f"{cell!r} repeats a line: {text[:300]!r}"
        assert "token limit" not in final["data"]["text/markdown"]


def test_the_configured_cap_is_shown_used_and_said_when_reached(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[defaults]\nmax_tokens = 5\n", encoding="utf-8")
    session = KernelSession(env={**os.environ, "LLMOS_CONFIG": str(config)})
    try:
        assert "answers up to 5 tokens" in session.run("%model smollm2").stdout
        run = session.run("Write a long story about a dragon and a knight.")
        assert run.status == "ok", run.error_text
        final = run.final_display()
        meta = final["metadata"]["llmos"]
        assert meta["finish_reason"] == "length" and meta["tokens_out"] == 5
        assert "stopped at the token limit" in final["data"]["text/markdown"]
    finally:
        session.close()
