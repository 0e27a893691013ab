from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

from llmos_kernel.memory import (
    ContextWindow,
    EstimateTokenizer,
    FunctionTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    count_messages,
    tokenizer_for_model,
)
from llmos_kernel.memory.tokenizers import encoding_for_model, load_encoding, tiktoken_cache_dir

SAMPLES = [
    "hello world",
    "",
    "Déjà vu — naïve café, 東京タワー, emoji 🧠🚀, and Ελληνικά.",
    "def f(x):\n    return x ** 2  # squared\n\n\tindented\r\nwindows line",
    "a user typing <|endoftext|> or <|im_start|> is just text",
    "1234567890 " * 50,
    "The quick brown fox jumps over the lazy dog. " * 30,
]


def tiktoken_encoding(name: str):
    import tiktoken

    load_encoding(name)  # sets TIKTOKEN_CACHE_DIR to the litellm folder, the offline source of both
    return tiktoken.get_encoding(name)


def test_litellm_ships_the_encoding_files_under_tiktokens_cache_names():
    folder = tiktoken_cache_dir()
    assert folder is not None and folder.endswith(os.path.join("litellm_core_utils", "tokenizers"))
    for name in ("o200k_base", "cl100k_base"):
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        assert os.path.isfile(os.path.join(folder, hashlib.sha1(url.encode()).hexdigest())), name


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_counts_equal_tiktokens_own(encoding: str):
    tokenizer = TiktokenTokenizer(encoding)
    reference = tiktoken_encoding(encoding)
    for text in SAMPLES:
        assert tokenizer.count(text) == len(reference.encode(text, disallowed_special=())), text
    assert tokenizer.count("hello world") == 2
    assert tokenizer.exact is True and tokenizer.name == encoding


def test_the_two_encodings_really_differ():
    text = SAMPLES[2] * 5
    assert TiktokenTokenizer("o200k_base").count(text) != TiktokenTokenizer("cl100k_base").count(text)


def test_loads_offline_without_importing_litellm_or_touching_the_network():
    # A fresh interpreter where any network connection fails loudly: the encodings must come from disk.
    script = textwrap.dedent(
        """
        import socket, sys
        def refuse(*args, **kwargs):
            raise RuntimeError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import llmos_kernel.memory as memory
        t = memory.tokenizer_for_model("openai/gpt-4o-mini")
        assert t.exact and t.count("hello world") == 2, t
        assert "litellm" not in sys.modules
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TIKTOKEN_CACHE_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_memory_package_imports_nothing_heavy():
    script = (
        "import sys, llmos_kernel.memory\n"
        "heavy = [m for m in ('ipykernel', 'ipywidgets', 'IPython', 'litellm') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("azure/gpt-4.1", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("azure/gpt-35-turbo", "cl100k_base"),
        ("claude-sonnet-4-5", None),
        ("gemini/gemini-2.5-pro", None),
        ("ollama/llama3", None),
        ("o10-preview", None),
        ("anthropic/gpt-4o", None),
    ],
)
def test_model_families(model: str, encoding: str | None):
    assert encoding_for_model(model) == encoding
    tokenizer = tokenizer_for_model(model)
    if encoding is None:
        assert isinstance(tokenizer, EstimateTokenizer) and tokenizer.exact is False
        assert "estimate" in tokenizer.name
    else:
        assert isinstance(tokenizer, TiktokenTokenizer) and tokenizer.name == encoding


def test_instances_are_cached():
    assert tokenizer_for_model("gpt-4o") is tokenizer_for_model("gpt-4o")
    assert tokenizer_for_model("gpt-4o") is tokenizer_for_model("openai/gpt-4o-mini")
    assert tokenizer_for_model("claude-x") is tokenizer_for_model("claude-x")
    assert tokenizer_for_model("claude-x") is not tokenizer_for_model("claude-y")


def test_count_messages_adds_chat_overhead():
    tokenizer = TiktokenTokenizer("o200k_base")
    messages = [{"role": "system", "content": "hello world"}, {"role": "user", "content": "hello world"}]
    assert count_messages(tokenizer, messages) == 2 * (2 + tokenizer.per_message) + tokenizer.per_request


def test_estimate_counts_with_cl100k_then_calibrates_toward_reported_usage():
    estimate = EstimateTokenizer("estimate:some-model")
    text = SAMPLES[6]
    raw = len(tiktoken_encoding("cl100k_base").encode(text))
    assert estimate.basis == "cl100k_base" and estimate.count(text) == raw
    # The provider reports 25% more tokens than we estimated, every time: the factor converges to 1.25.
    for _ in range(30):
        estimate.calibrate(estimate.count(text), round(raw * 1.25))
    assert estimate.scale == pytest.approx(1.25, rel=0.01)
    assert estimate.count(text) == pytest.approx(raw * 1.25, rel=0.01)


def test_calibration_is_clamped_and_ignores_nonsense():
    estimate = EstimateTokenizer("estimate:x")
    before = estimate.scale
    assert estimate.calibrate(0, 100) == before and estimate.calibrate(100, 0) == before
    for _ in range(50):
        estimate.calibrate(10, 10_000)
    assert estimate.scale == EstimateTokenizer.MAX_SCALE
    for _ in range(80):
        estimate.calibrate(10_000, 1)
    assert estimate.scale == EstimateTokenizer.MIN_SCALE


def test_estimate_without_tiktoken_falls_back_to_chars_over_four(monkeypatch: pytest.MonkeyPatch):
    from llmos_kernel.memory import tokenizers

    def unavailable(name: str):
        raise tokenizers.TokenizerUnavailable(name)

    monkeypatch.setattr(tokenizers, "load_encoding", unavailable)
    estimate = EstimateTokenizer("estimate:offline")
    assert estimate.basis == "chars/4" and estimate.count("x" * 40) == 10 and estimate.count("xyz") == 1


def test_function_tokenizer_with_llama_cpp_counts_like_llama_cpp(llama_vocab):
    def llama_count(text: str) -> int:
        return len(llama_vocab.tokenize(text.encode(), add_bos=False, special=True))

    tokenizer = FunctionTokenizer("smollm2", llama_count, per_message=5, per_request=3)
    assert isinstance(tokenizer, Tokenizer)
    assert tokenizer.count("hello world") == 2  # SmolLM2's vocabulary: "hello", " world"
    for text in SAMPLES:
        assert tokenizer.count(text) == len(llama_vocab.tokenize(text.encode(), add_bos=False, special=True))
    # And the window's accounting of a whole request is llama.cpp's count of what is sent.
    window = ContextWindow(tokenizer, window=4096, reserved_output=256, compaction_buffer=128)
    window.set_system("You are SmolLM.")
    for i, text in enumerate(SAMPLES):
        window.commit_turn(f"c{i}", text, f"answer {i}: " + text[::-1], execution_count=i)
    plan = window.plan("And now, a new question? <|im_end|>")
    expected = 3 + sum(
        len(llama_vocab.tokenize(m["content"].encode(), add_bos=False, special=True)) + 5
        for m in plan.messages
    )
    assert plan.used == expected
    assert plan.exact and plan.tokenizer == "smollm2"


def test_window_accounting_equals_tiktoken_on_the_request():
    tokenizer = TiktokenTokenizer("o200k_base")
    reference = tiktoken_encoding("o200k_base")
    window = ContextWindow(tokenizer, window=8192)
    window.set_system("be brief")
    window.load_document("a.md", SAMPLES[3])
    for i, text in enumerate(SAMPLES):
        window.commit_turn(f"c{i}", text, "ok " * i, execution_count=i, interrupted=i == 2)
    plan = window.plan(SAMPLES[4])
    expected = tokenizer.per_request + sum(
        len(reference.encode(m["content"], disallowed_special=())) + tokenizer.per_message
        for m in plan.messages
    )
    assert plan.used == expected == count_messages(tokenizer, plan.messages)


def test_long_texts_are_counted_in_pieces_exactly_and_a_hostile_run_never_panics():
    from llmos_kernel.memory.tokenizers import PIECE_CHARS, encoded_length, load_encoding

    encoding = load_encoding("cl100k_base")
    words = " ".join(["alpha", "beta,", "gamma\n", "delta"][i % 4] for i in range(3 * PIECE_CHARS // 5))
    assert len(words) > 2 * PIECE_CHARS
    assert encoded_length(encoding, words) == len(encoding.encode_ordinary(words))
    # tiktoken 0.7 panicked (a BaseException) on one 4 MB run; in pieces it is counted.
    assert encoded_length(encoding, "z" * 4_000_000) > 0
