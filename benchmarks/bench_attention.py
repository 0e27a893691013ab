"""Where a follow-up's time goes on the embedded model: llama.cpp's cost per token over a long cached context.

Issue 3's follow-up goal (a cell over an unchanged ~4k-token context within 1.5x of the same cell over an empty
one) assumes the cached context is nearly free once the KV cache holds it. It is free of prompt processing (the
kernel reuses the cache: see bench_embedded.py), but every new token still attends to every cached one. This
script measures that cost in llama.cpp itself, in a plain process with no kernel, for each KV-cache layout
llama.cpp offers on CPU:

* decode: one token evaluated after ~4,100 cached tokens, against one token after ~100 (median of 32 each);
* batch: a 40-token batch (a follow-up turn's prompt) after ~4,100 cached tokens, against after ~100.

The kernel's settings (`llama_settings()`) but for the layout under test; the 4k prefill itself runs on every
core and is not measured. The follow-up cell is a batch plus decoded tokens, so its ratio cannot fall below the
smaller of the two ratios of the layout it uses.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

from _harness import Result, log, main, median, ratio_result

LONG, SHORT, BATCH, DECODE = 4100, 100, 40, 32

# ggml type ids (ggml.h); llama_cpp does not export GGML_TYPE_BF16.
F16, Q8_0, BF16 = 1, 8, 30
ALL_CORES = os.cpu_count() or 1
LAYOUTS: dict[str, dict[str, Any]] = {
    "f16 K/V (llama_cpp's default)": {"type_k": F16},
    "q8_0 K, f16 V (the kernel's)": {"type_k": Q8_0},
    "bf16 K/V": {"type_k": BF16, "type_v": BF16},
    "f16 K/V, flash attention": {"type_k": F16, "flash_attn": True},
    "q8_0 K/V, flash attention": {"type_k": Q8_0, "type_v": Q8_0, "flash_attn": True},
    f"q8_0 K, f16 V, {ALL_CORES} threads": {"type_k": Q8_0, "threads": ALL_CORES},
}
QUICK = ("f16 K/V (llama_cpp's default)", "q8_0 K, f16 V (the kernel's)")


def measure(layout: dict[str, Any]) -> dict[str, float]:
    import llama_cpp
    from llama_cpp import Llama

    from llmos_kernel.backends.llamacpp import embedded_model_path, llama_settings

    settings = {**llama_settings(), **layout}
    threads = settings.pop("threads", settings["n_threads"])
    settings.update(n_threads=threads, n_threads_batch=threads)
    llm = Llama(model_path=str(embedded_model_path()), **settings)
    text = " ".join(["memory page frame table virtual physical address process kernel swap disk cache"] * 400)
    tokens = llm.tokenize(text.encode())[:LONG]
    out: dict[str, float] = {}
    for cached in (SHORT, LONG):
        llm.reset()  # the next eval drops the cached tokens after n_tokens (all of them)
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, threads, ALL_CORES)  # the prefill: not measured
        llm.eval(tokens[:cached])
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, threads, threads)
        start = time.perf_counter()
        llm.eval(tokens[:BATCH])
        out[f"batch {cached}"] = time.perf_counter() - start
        steps = []
        for token in tokens[BATCH:BATCH + DECODE]:
            start = time.perf_counter()
            llm.eval([token])
            steps.append(time.perf_counter() - start)
        out[f"decode {cached}"] = median(steps)
    del llm
    gc.collect()
    return out


def run(quick: bool = False) -> list[Result]:
    results = []
    for name, layout in LAYOUTS.items():
        if quick and name not in QUICK:
            continue
        m = measure(layout)
        log(f"{name}: decode {m[f'decode {SHORT}'] * 1e3:.1f} -> {m[f'decode {LONG}'] * 1e3:.1f} ms/token,"
            f" {BATCH}-token batch {m[f'batch {SHORT}'] * 1e3:.0f} -> {m[f'batch {LONG}'] * 1e3:.0f} ms")
        batch_ratio = m[f"batch {LONG}"] / m[f"batch {SHORT}"]
        results.append(ratio_result(
            "attention", f"decode, {LONG:,} vs {SHORT} cached tokens: {name}", [m[f"decode {LONG}"]],
            [m[f"decode {SHORT}"]], "s", f"{SHORT} cached tokens", None, ratio_of="long/short",
            note=f"a {BATCH}-token batch: {m[f'batch {LONG}'] * 1e3:.0f} ms vs {m[f'batch {SHORT}'] * 1e3:.0f} ms"
                 f" ({batch_ratio:.2f}x)",
        ))
    return results


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
