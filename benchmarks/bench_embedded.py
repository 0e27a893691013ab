"""Embedded model: generation speed through the kernel, and a follow-up cell over an unchanged long context.

1. Tokens per second of a prompt cell (`--max-tokens 128 --temperature 0 --no-history`, so every run sends the
   same system + user messages), from the final display's `llmos` metadata (tokens_out / latency_s).
   Baseline: llama-cpp-python called directly in a plain process on the same GGUF and messages, with the
   kernel's llama_cpp settings (`llama_settings()`: threads, context size, KV cache types);
   create_chat_completion, usage.completion_tokens / wall time. Alternating.
2. Issue 3: a follow-up cell over an unchanged ~4k-token context (a document loaded with %load, pinned) against
   the same cell over an empty context, in two kernels side by side, alternating. Each follow-up is a new cell,
   so both contexts grow by the same turns; llama.cpp should reuse its KV cache for the unchanged prefix, making
   the long context nearly free.
"""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

from _harness import Kernel, Result, Worker, jupyter_env, log, main, median, ratio_result, work_dir

PROMPT = "Explain step by step how virtual memory and paging work in an operating system."
MAX_TOKENS = 128
FOLLOW_UP = "In one sentence: what is a page fault?"
FOLLOW_UP_TOKENS = 32
DOC_TOKENS = 4000
GOAL_SPEED = (">=", 0.95)
GOAL_FOLLOW_UP = ("<=", 1.5)

_state: dict[str, Any] = {}


# -- the baseline, run inside a Worker (a plain process) ------------------------------------------------------


def setup_llama(slots: int = 1) -> bool:
    """Load the GGUF `slots` times: each instance keeps its own KV cache (one per conversation)."""
    from llama_cpp import Llama

    from llmos_kernel.backends.llamacpp import embedded_model_path, llama_settings

    # The kernel's own settings (threads, n_ctx, KV cache types): the ratio measures the kernel, not a setting.
    _state["llms"] = [Llama(model_path=str(embedded_model_path()), **llama_settings()) for _ in range(slots)]
    _state["chats"] = {}
    return True


def _system() -> dict[str, str]:
    from llmos_kernel.runtime import DEFAULT_SYSTEM

    return {"role": "system", "content": DEFAULT_SYSTEM}


def generate() -> dict[str, float]:
    messages = [_system(), {"role": "user", "content": PROMPT}]
    start = time.perf_counter()
    out = _state["llms"][0].create_chat_completion(messages=messages, max_tokens=MAX_TOKENS, temperature=0)
    elapsed = time.perf_counter() - start
    return {"tokens": out["usage"]["completion_tokens"], "elapsed": elapsed}


def count_tokens(text: str) -> int:
    return len(_state["llms"][0].tokenize(text.encode(), add_bos=False, special=True))


def chat_start(slot: int, doc: str | None) -> float:
    """A conversation on llms[slot] laid out as the kernel lays it out: system, pinned document, turns."""
    messages = [_system()]
    if doc:
        messages.append({"role": "user", "content": f"[Pinned document: {doc}]\n{Path(doc).read_text()}"})
    _state["chats"][slot] = messages
    return chat_follow_up(slot)


def chat_follow_up(slot: int) -> float:
    """One follow-up turn, timed; the turn joins the conversation, as a kernel cell's does."""
    messages = _state["chats"][slot]
    ask = {"role": "user", "content": FOLLOW_UP}
    start = time.perf_counter()
    out = _state["llms"][slot].create_chat_completion(
        messages=[*messages, ask], max_tokens=FOLLOW_UP_TOKENS, temperature=0
    )
    elapsed = time.perf_counter() - start
    messages += [ask, {"role": "assistant", "content": out["choices"][0]["message"]["content"] or ""}]
    return elapsed


# -- the benchmark --------------------------------------------------------------------------------------------


def document(worker: Worker) -> Path:
    """A text file of about DOC_TOKENS tokens of the model's tokenizer."""
    rng = random.Random(7)
    words = (
        "memory", "page", "frame", "table", "virtual", "physical", "address", "process", "kernel", "swap", "disk",
        "cache", "line", "the", "a", "of", "to", "and", "in", "is", "that", "for", "with", "on", "as", "by", "it",
        "this", "from", "are", "be", "was",
    )
    sentences = []
    while True:
        sentences.append(" ".join(rng.choice(words) for _ in range(rng.randint(8, 16))).capitalize() + ".")
        if len(sentences) % 20 == 0 and worker.call("count_tokens", text=" ".join(sentences)) >= DOC_TOKENS:
            break
    path = work_dir() / "paging-notes.txt"
    path.write_text(" ".join(sentences))
    return path


def speed(kernel: Kernel, worker: Worker, repeats: int) -> Result:
    cell = f"%%prompt --max-tokens {MAX_TOKENS} --temperature 0 --no-history\n{PROMPT}"
    kernel.execute(cell).check()  # warm-up: loads the model, fills the KV cache with the prompt
    worker.call("generate")
    kernel_rates: list[float] = []
    direct_rates: list[float] = []
    for i in range(repeats):
        meta = kernel.execute(cell).check().llmos()
        kernel_rates.append(meta["tokens_out"] / meta["latency_s"])
        direct = worker.call("generate")
        direct_rates.append(direct["tokens"] / direct["elapsed"])
        log(f"embedded speed {i + 1}/{repeats}: kernel {kernel_rates[-1]:.1f} tok/s ({meta['tokens_out']} tokens),"
            f" llama_cpp {direct_rates[-1]:.1f} tok/s ({direct['tokens']} tokens)")
    return ratio_result("embedded", f"tokens/s, {MAX_TOKENS}-token answer", kernel_rates, direct_rates, "tok/s",
                        "llama-cpp-python direct", GOAL_SPEED,
                        note=f"same GGUF, messages, threads and n_ctx; median of {repeats}, alternating")


def follow_up(doc: Path, worker: Worker, repeats: int) -> list[Result]:
    """The kernel's follow-up over a long vs an empty context; llama_cpp's own ratio for the same turns beside it."""
    cell = f"%%prompt --max-tokens {FOLLOW_UP_TOKENS} --temperature 0\n{FOLLOW_UP}"
    with Kernel("llmos") as long_ctx, Kernel("llmos") as empty:
        long_ctx.execute(f"%load {doc}").check()
        first = long_ctx.execute(cell).check()  # evaluates the document once: not measured
        empty.execute(cell).check()
        direct_first = worker.call("chat_start", slot=1, doc=str(doc))
        worker.call("chat_start", slot=0, doc=None)
        meta = first.llmos()
        log(f"issue 3: context of {meta['planned_tokens']:,} tokens; the first cell over it took {first.elapsed:.2f} s"
            f" (llama_cpp direct {direct_first:.2f} s)")
        times: dict[str, list[float]] = {"long": [], "empty": [], "direct long": [], "direct empty": []}
        prefix: list[int] = []
        for i in range(repeats):
            for name, kernel in (("long", long_ctx), ("empty", empty))[:: 1 if i % 2 == 0 else -1]:
                run_ = kernel.execute(cell, cell_id=uuid.uuid4().hex).check()
                times[name].append(run_.elapsed)
                if name == "long":
                    prefix.append(int(run_.llmos().get("cache_prefix_tokens") or 0))
            times["direct long"].append(worker.call("chat_follow_up", slot=1))
            times["direct empty"].append(worker.call("chat_follow_up", slot=0))
            log(f"issue 3 {i + 1}/{repeats}: follow-up over {meta['planned_tokens']:,} tokens"
                f" {times['long'][-1]:.2f} s (cache prefix {prefix[-1]:,}), over empty context"
                f" {times['empty'][-1]:.2f} s; llama_cpp direct {times['direct long'][-1]:.2f} s vs"
                f" {times['direct empty'][-1]:.2f} s")
    title = f"follow-up cell over unchanged ~{DOC_TOKENS // 1000}k-token context"
    return [
        ratio_result("embedded", title, times["long"], times["empty"], "s", "same cell, empty context",
                     GOAL_FOLLOW_UP, ratio_of="long/empty",
                     note=f"context {meta['planned_tokens']:,} tokens (pinned %load document); the first cell over it"
                          f" took {first.elapsed:.2f} s (a cache miss costs that much); planned cache prefix"
                          f" {median(prefix):,.0f} tokens; {FOLLOW_UP_TOKENS}-token answers; median of {repeats},"
                          " alternating"),
        ratio_result("embedded", "same follow-up vs the first cell over that context (KV cache reuse)",
                     times["long"], [first.elapsed], "s", "first cell, nothing cached", None,
                     ratio_of="follow-up/first",
                     note="what a cache miss would cost: the first cell evaluates the whole context"),
        ratio_result("embedded", "same follow-up, llama-cpp-python direct (reference)", times["direct long"],
                     times["direct empty"], "s", "direct, empty context", None, ratio_of="long/empty",
                     note="the floor for the row above: the same conversation on llama_cpp in a plain process, one"
                          " Llama (and KV cache) per conversation"),
    ]


def run(quick: bool = False) -> list[Result]:
    jupyter_env()
    with Worker("bench_embedded", "setup_llama", slots=2) as worker:
        doc = document(worker)
        with Kernel("llmos") as kernel:
            results = [speed(kernel, worker, 3 if quick else 7)]
        results += follow_up(doc, worker, 3 if quick else 6)
    return results


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
