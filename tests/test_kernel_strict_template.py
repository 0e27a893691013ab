"""A GGUF whose chat template rejects what memory sends (issue 13), through a real kernel.

The test builds the GGUF: a copy of the embedded SmolLM2 whose tokenizer.chat_template is strict (no system role,
roles must alternate), written by the gguf package. Memory then sends a system prompt, a pinned document and the
prompt as three messages in a row, which the template refuses; the backend folds and merges them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_kernel.backends.llamacpp import LlamaCppBackend, embedded_model_path
from llmos_kernel.errors import PromptError
from tests.support.strict_template import write_strict_gguf

WINDOW = 2048


@pytest.fixture(scope="module")
def strict_gguf(tmp_path_factory) -> Path:
    return write_strict_gguf(embedded_model_path(), tmp_path_factory.mktemp("strict-gguf"))


def test_the_built_template_rejects_memory_requests_as_they_are(strict_gguf):
    backend = LlamaCppBackend(strict_gguf, "strict", n_ctx=WINDOW)
    backend._load()
    system_first = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    with pytest.raises(ValueError, match="System role not supported"):
        backend._formatter(messages=system_first)
    with pytest.raises(ValueError, match="must alternate"):
        backend._formatter(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])


def test_a_cell_with_history_works_through_the_merge(kernel, strict_gguf, tmp_path):
    switched = kernel.run(f"%model gguf:{strict_gguf} --window {WINDOW}")
    assert switched.status == "ok", switched.error_text
    assert "note: the chat template of" in switched.stdout
    assert "no system role" in switched.stdout and "alternating roles" in switched.stdout
    doc = tmp_path / "fact.txt"
    doc.write_text("The office cat is called Biscuit.", encoding="utf-8")
    assert kernel.run(f"%load {doc}").status == "ok"

    first = kernel.run("What is the office cat called?", cell_id="q1")
    assert first.status == "ok", first.error_text
    assert first.final_display()["metadata"]["llmos"]["tokens_out"] > 0

    context = json.loads(kernel.run("%context --json").stdout)
    roles = [m["role"] for m in context["messages"]]
    assert roles == ["system", "user", "user", "assistant"]  # what memory sends: a run the template refuses

    second = kernel.run("Say its name again.", cell_id="q2")
    assert second.status == "ok", second.error_text
    meta = second.final_display()["metadata"]["llmos"]
    assert meta["status"] == "ok" and meta["tokens_out"] > 0 and meta["exact"] is True
    # Exact for what was sent: the merged prompt, counted here by the same GGUF's tokenizer. Memory's own
    # count of the unmerged messages may be higher, never lower.
    sent = [*context["messages"], {"role": "user", "content": "Say its name again."}]
    counter = LlamaCppBackend(strict_gguf, "strict", n_ctx=WINDOW)
    assert meta["tokens_in"] == counter.count_prompt(sent)
    assert meta["planned_tokens"] >= meta["tokens_in"]
    assert "note: the chat template" not in second.stdout  # the notice is shown once
    assert kernel.run("%model smollm2").status == "ok"  # and the kernel goes on with the embedded model


def test_a_template_error_is_one_clear_message(strict_gguf):
    backend = LlamaCppBackend(strict_gguf, "strict", n_ctx=WINDOW)
    backend._load()
    with pytest.raises(PromptError, match="rejected the request"):
        backend.count_prompt([{"role": "assistant", "content": "I start, which the template refuses."}])
