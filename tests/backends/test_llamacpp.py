"""The llama.cpp backend on the real embedded GGUF: load settings, exact token counts, KV-cache prefix reuse."""

from __future__ import annotations

import llama_cpp
import pytest

from llmos_kernel.backends.base import CallParams
from llmos_kernel.backends.llamacpp import (
    DEFAULT_MAX_TOKENS,
    SAMPLING,
    LlamaCppBackend,
    default_threads,
    embedded_model_path,
    llama_settings,
)
from llmos_kernel.errors import ModelNotFound
from llmos_kernel.runtime import DEFAULT_SYSTEM

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    return LlamaCppBackend(embedded_model_path(), "smollm2-test", n_ctx=1024)


def prompt_evaluated(llm) -> int:
    """Prompt tokens llama.cpp evaluated since its counters were last reset."""
    return llama_cpp.llama_perf_context(llm._ctx.ctx).n_p_eval


def test_settings_threads_context_and_kv_cache(monkeypatch):
    monkeypatch.setenv("LLMOS_THREADS", "3")
    settings = llama_settings(2048)
    assert settings["n_threads"] == settings["n_threads_batch"] == 3 == default_threads()
    assert settings["n_ctx"] == 2048 and llama_settings()["n_ctx"] == 0  # 0: the model's own length
    assert settings["type_k"] == llama_cpp.GGML_TYPE_Q8_0 and "type_v" not in settings  # f16 V: no flash-attn
    monkeypatch.setenv("LLMOS_THREADS", "none")
    assert 1 <= default_threads() <= 8


def test_the_loaded_model_uses_the_settings(backend):
    llm = backend._load()
    assert llm.n_ctx() == 1024
    assert llm.context_params.type_k == llama_cpp.GGML_TYPE_Q8_0
    assert llm.context_params.type_v == llama_cpp.GGML_TYPE_F16


def test_counts_are_exact_and_a_follow_up_evaluates_only_what_it_adds(backend):
    llm = backend._load()
    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    first = list(backend.stream(MESSAGES, CallParams(max_tokens=8, temperature=0)))
    usage = first[-1].usage
    assert usage.exact and usage.prompt_tokens == backend.count_prompt(MESSAGES)
    assert first[-1].finish_reason in ("length", "stop") and 0 < usage.completion_tokens <= 8
    if first[-1].finish_reason == "length":
        assert usage.completion_tokens == 8  # the capped answer's last token is counted too
    assert prompt_evaluated(llm) == usage.prompt_tokens  # a cold cache evaluates the whole prompt

    answer = "".join(d.text for d in first)
    follow_up = [*MESSAGES, {"role": "assistant", "content": answer}, {"role": "user", "content": "Another one."}]
    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    second = list(backend.stream(follow_up, CallParams(max_tokens=4, temperature=0)))
    assert second[-1].usage.prompt_tokens == backend.count_prompt(follow_up)
    # the cached prefix (the first prompt and the evaluated answer) is not evaluated again
    assert prompt_evaluated(llm) <= second[-1].usage.prompt_tokens - usage.prompt_tokens


def test_a_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="no GGUF file"):
        LlamaCppBackend(tmp_path / "nope.gguf", "nope")


# -- sampling defaults and the answer cap (issue 12) ------------------------------------------------------------

def kernel_first_seed() -> int:
    """The seed llama-cpp-python draws for a fresh Llama's first unseeded call: a new kernel's first cell."""
    import random

    return random.Random(llama_cpp.LLAMA_DEFAULT_SEED).randint(0, 2**32)


def test_hello_stops_under_our_sampling_for_a_new_kernels_first_seeds():
    # Issue 12: under llama-cpp-python's raw defaults "hello" repeated one line to the cap on the CPU it was
    # measured on. Whether a given seed loops depends on the CPU's matmul kernels (AMX, AVX-512 and AVX2 round
    # differently), so what is asserted is ours: a short answer that stops, for each of a new kernel's first seeds.
    backend = LlamaCppBackend(embedded_model_path(), "smollm2-sampling", n_ctx=2048)
    hello = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": "hello"}]
    backend.sampling = dict(SAMPLING)
    for offset in range(4):
        params = CallParams(max_tokens=80, extra={"seed": kernel_first_seed() + offset})
        after = list(backend.stream(hello, params))
        assert after[-1].finish_reason == "stop" and after[-1].usage.completion_tokens < 40


def test_the_default_cap_applies_when_a_call_sets_none(backend):
    story = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]
    backend.default_max_tokens = 6
    try:
        last = list(backend.stream(story, CallParams()))[-1]
    finally:
        backend.default_max_tokens = DEFAULT_MAX_TOKENS
    assert last.finish_reason == "length" and last.usage.completion_tokens == 6
    described = backend.describe()
    assert described["max_tokens"] == DEFAULT_MAX_TOKENS and described["sampling"] == SAMPLING
    assert described["chat_template"] == "messages sent as they are"  # SmolLM2's template takes them all
