"""Accounting: the memory manager's cost per cell (plan + commit of one new turn) at 10k, 100k and 1M tokens.

Baseline: a naive full recount, re-tokenizing every segment's messages each cell, with the same tokenizer
(tiktoken o200k_base). Both run on the same window, alternating: each step plans a prompt and commits a new
turn (~150 tokens), then the naive recount tokenizes the system prompt and every resident segment, the new
turn included, and must agree with the window's count.
"""

from __future__ import annotations

import random
import time

from _harness import Result, log, main, ratio_result

SIZES = (10_000, 100_000, 1_000_000)
TURN_WORDS = 750  # the context is built of turns of this many words (about 1,500 tokens)
GOAL_AT_1M = (">=", 100.0)

_WORDS = (
    "page", "fault", "memory", "kernel", "process", "thread", "cache", "window", "token", "segment", "swap",
    "policy", "evict", "pin", "recall", "model", "context", "prompt", "answer", "notebook", "cell", "python",
    "jupyter", "stream", "display", "latency", "cost", "budget", "pressure", "compact", "summary", "history",
    "system", "request", "response", "provider", "server", "client", "buffer", "queue", "lock", "file", "disk",
    "index", "query", "the", "a", "of", "to", "in", "is", "that", "for", "on", "with", "as", "by", "it", "be",
    "are", "this", "from", "or", "an", "at", "which", "but", "not", "have", "has", "was", "were",
)


_SYLLABLES = (
    "ka", "lo", "mi", "ne", "tra", "ver", "sion", "graph", "ent", "ing", "tion", "al", "ly", "ex", "pre", "con",
    "struct", "ure", "ize", "ment", "ous", "ble",
)


def text(rng: random.Random, words: int) -> str:
    """Deterministic English-like text: common words, made-up words (several BPE merges each), numbers and
    punctuation, so tiktoken does the work real prose makes it do."""
    out = []
    for i in range(words):
        if rng.random() < 0.25:
            word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        else:
            word = rng.choice(_WORDS)
        if i % 11 == 0:
            word = f"{word} {rng.randint(0, 99999)}"
        out.append(word + ("." if i % 17 == 16 else ""))
    return " ".join(out)


def build(tokens: int, rng: random.Random):  # noqa: ANN201 (returns ContextWindow; imported lazily)
    from llmos_kernel.memory import ContextWindow, TiktokenTokenizer
    from llmos_kernel.runtime import DEFAULT_SYSTEM

    tokenizer = TiktokenTokenizer("o200k_base")
    window = ContextWindow(tokenizer, window=tokens * 3 + 10_000)
    window.set_system(DEFAULT_SYSTEM)
    n = 0
    while window.used < tokens:
        window.commit_turn(f"build-{n}", text(rng, 60), text(rng, TURN_WORDS), execution_count=n)
        n += 1
    window.plan("warm up the layout cache")
    return window


def naive_recount(window) -> int:  # noqa: ANN001
    """What a manager without per-segment caches does each cell: tokenize everything again (the new turn,
    i.e. this cell's prompt and answer, is already in the log)."""
    tokenizer = window.tokenizer
    total = tokenizer.per_request
    system = window.system_segment
    segments = ([system] if system else []) + window.segments
    for segment in segments:
        for message in segment.messages():
            total += tokenizer.count(message["content"]) + tokenizer.per_message
    return total


def run(quick: bool = False) -> list[Result]:
    rng = random.Random(3)
    results: list[Result] = []
    for size in SIZES:
        repeats = (5 if quick else 15) if size < 1_000_000 else (3 if quick else 7)
        window = build(size, rng)
        context, segments = window.used, len(window.segments)
        kernel: list[float] = []
        naive: list[float] = []
        for i in range(repeats):
            prompt, answer = text(rng, 25), text(rng, 90)
            start = time.perf_counter()
            plan = window.plan(prompt)
            window.commit_turn(f"cell-{size}-{i}", prompt, answer, execution_count=10_000 + i)
            kernel.append(time.perf_counter() - start)
            start = time.perf_counter()
            counted = naive_recount(window)
            naive.append(time.perf_counter() - start)
            if counted != window.used or plan.used >= counted:
                raise RuntimeError(f"accounting disagrees: window {window.used}, recount {counted}")
        log(f"accounting {context:,} tokens ({segments} segments): per cell"
            f" {sorted(kernel)[len(kernel) // 2] * 1000:.2f} ms, naive {sorted(naive)[len(naive) // 2] * 1000:.1f} ms")
        label = f"{size // 1000:,}k" if size < 1_000_000 else f"{size // 1_000_000}M"
        results.append(ratio_result(
            "accounting", f"plan + commit per cell at {label} tokens", kernel, naive, "s",
            "naive full recount", GOAL_AT_1M if size == 1_000_000 else None, invert=True,
            note=f"{context:,} tokens in {segments} segments (~{context // segments:,} tokens each), o200k_base;"
                 f" median of {repeats}",
        ))
    return results


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
