"""Tools on GGUF models: native where the chat template renders tools (a Hermes-style template written into a
copy of the embedded GGUF), the JSON text protocol where it does not (SmolLM2's own template)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_kernel.backends.base import CallParams
from llmos_kernel.backends.llamacpp import LlamaCppBackend, embedded_model_path
from tests.support.strict_template import TOOLS_TEMPLATE, write_gguf_with_template

WORD = {"type": "object", "properties": {"word": {"type": "string"}}}
DEFS = [{"type": "function", "function": {"name": "lookup", "description": "Look a word up.", "parameters": WORD}}]


@pytest.fixture(scope="module")
def tools_gguf(tmp_path_factory) -> Path:
    return write_gguf_with_template(embedded_model_path(), tmp_path_factory.mktemp("tools-gguf"), TOOLS_TEMPLATE,
                                    "tools")


def prompt_text(backend: LlamaCppBackend, messages: list[dict], tools: list[dict] | None) -> str:
    llm = backend._load()
    return llm.detokenize(backend._prompt_tokens(messages, tools)).decode("utf-8", "replace")


def test_a_template_that_renders_tools_gets_them_natively(tools_gguf):
    backend = LlamaCppBackend(tools_gguf, "hermes", n_ctx=2048)
    assert backend.tool_calling == "native"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Define cat."},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"word": "cat"}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "a small feline"}]
    text = prompt_text(backend, messages, DEFS)
    assert "<tools>" in text and json.dumps(DEFS[0]["function"]["name"]) in text
    assert '<tool_call>{"name": "lookup"' in text and "<tool_response>a small feline</tool_response>" in text
    deltas = list(backend.stream(messages, CallParams(temperature=0, max_tokens=24, tools=DEFS)))
    end = deltas[-1]
    assert end.usage is not None and end.usage.prompt_tokens == len(backend._prompt_tokens(messages, DEFS))
    assert end.tool_calls is None or all(call.name == "lookup" for call in end.tool_calls)
    backend.unload()


def test_smollm2_gets_the_text_protocol():
    backend = LlamaCppBackend(embedded_model_path(), "smollm2", n_ctx=2048)
    assert backend.tool_calling == "text"
    deltas = list(backend.stream([{"role": "user", "content": "Define cat."}],
                                 CallParams(temperature=0, max_tokens=24, tools=DEFS)))
    assert deltas[-1].usage is not None and deltas[-1].usage.prompt_tokens > 60  # the protocol was sent along
    backend.unload()
