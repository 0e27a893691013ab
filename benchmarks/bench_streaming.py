"""Streaming: the loopback server streams 5,000 chunks as fast as it can.

Figure: the time until the kernel's prompt cell is done (execute_request -> execute_reply and idle).
Baseline: the same SSE stream parsed with plain httpx in a plain process (the practical limit); litellm's own
streaming of the same stream, in another plain process, is reported beside it. The three alternate.
Also: the display messages a cell sends to the frontend (iopub display_data + update_display_data) per second,
against the design's bound: the waiting status, the first text at once, then at most one update every 0.1 s,
and the final answer. Measured on a paced stream (PACED_CHUNKS chunks 10 ms apart, about 3 s), where the
throttle is what limits it, and reported for the 5,000-chunk cell too.
"""

from __future__ import annotations

import time
from typing import Any

from _harness import Kernel, Result, Server, Worker, jupyter_env, log, main, median, ratio_result

N_CHUNKS = 5000
PROMPT = "Stream the benchmark text."
GOAL = ("<=", 2.0)
DISPLAY_RATE = 10.0  # updates a second, render.UPDATE_INTERVAL = 0.1 s
# Besides the throttled updates a cell sends its "waiting" status, its first text at once and its final answer.
FIXED_DISPLAYS = 3
PACED_CHUNKS = 300
PACED_DELAY = 0.01


def allowed_displays(seconds: float) -> float:
    return FIXED_DISPLAYS + DISPLAY_RATE * seconds

_state: dict[str, Any] = {}


# -- baselines, run inside a Worker (a plain process) ---------------------------------------------------------


def _messages() -> list[dict[str, str]]:
    from llmos_kernel.runtime import DEFAULT_SYSTEM

    return [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": PROMPT}]


def setup_httpx(url: str) -> bool:
    import httpx

    _state["client"] = httpx.Client(base_url=url, timeout=30)
    return True


def stream_httpx() -> dict[str, Any]:
    """POST the chat request and parse the SSE stream: the least any Python client can do."""
    import json

    client = _state["client"]
    body = {"model": "bench", "messages": _messages(), "stream": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    parts: list[str] = []
    with client.stream("POST", "/chat/completions", json=body, headers={"Authorization": "Bearer sk-x"}) as resp:
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                text = choice["delta"].get("content")
                if text:
                    parts.append(text)
    return {"elapsed": time.perf_counter() - start, "chars": len("".join(parts))}


def setup_litellm(url: str) -> bool:
    from llmos_kernel.backends.litellm_loader import get_litellm

    _state["litellm"] = get_litellm()  # imported quietly, offline cost map: as the kernel does
    _state["url"] = url
    stream_litellm()  # the first call builds litellm's client caches
    return True


def stream_litellm() -> dict[str, Any]:
    litellm = _state["litellm"]
    start = time.perf_counter()
    response = litellm.completion(
        model="openai/bench", api_base=_state["url"], api_key="sk-x", messages=_messages(), stream=True,
        stream_options={"include_usage": True}, timeout=30,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in response if chunk.choices)
    return {"elapsed": time.perf_counter() - start, "chars": len(text)}


# -- the benchmark --------------------------------------------------------------------------------------------


def run(quick: bool = False) -> list[Result]:
    jupyter_env()
    repeats = 3 if quick else 7
    kernel_times: list[float] = []
    httpx_times: list[float] = []
    litellm_times: list[float] = []
    bulk_displays: list[int] = []
    expected_chars = len("".join(f"w{i} " for i in range(N_CHUNKS)))
    with (
        Server() as server,
        Kernel("llmos") as kernel,
        Worker("bench_streaming", "setup_httpx", url=server.url) as httpx_worker,
    ):
        server.queue_bulk(N_CHUNKS)  # consumed by setup_litellm's warm-up call
        litellm_worker = Worker("bench_streaming", "setup_litellm", url=server.url)
        try:
            kernel.execute(f"%model openai/bench --api-base {server.url} --window 16000").check()
            log("streaming: warm-up")
            server.queue_bulk(N_CHUNKS)
            kernel.execute(PROMPT, cell_id="bench-stream").check()
            server.queue_bulk(N_CHUNKS)
            httpx_worker.call("stream_httpx")
            for i in range(repeats):
                server.queue_bulk(N_CHUNKS)
                run_ = kernel.execute(PROMPT, cell_id="bench-stream").check()
                meta = run_.llmos()
                kernel_times.append(run_.elapsed)
                displays = len(run_.of_type("display_data", "update_display_data"))
                bulk_displays.append(displays)
                server.queue_bulk(N_CHUNKS)
                h = httpx_worker.call("stream_httpx")
                server.queue_bulk(N_CHUNKS)
                lt = litellm_worker.call("stream_litellm")
                if h["chars"] != expected_chars or lt["chars"] != expected_chars:
                    raise RuntimeError(f"incomplete stream: httpx {h['chars']}, litellm {lt['chars']} chars")
                httpx_times.append(h["elapsed"])
                litellm_times.append(lt["elapsed"])
                log(f"streaming {i + 1}/{repeats}: kernel {run_.elapsed:.3f} s ({meta.get('tokens_out')} tokens out,"
                    f" {displays} displays), httpx {h['elapsed']:.3f} s, litellm {lt['elapsed']:.3f} s")
            rate = display_rate(kernel, server, 1 if quick else 3)
        finally:
            litellm_worker.close()
    cell = median(kernel_times)
    bulk_bound = allowed_displays(cell)
    rate.note += (f"; the {N_CHUNKS:,}-chunk cell sent {median(bulk_displays):.0f} in {cell * 1000:.0f} ms"
                  f" (bound {bulk_bound:.1f})")
    if max(bulk_displays) > allowed_displays(max(kernel_times)) + 1:
        rate.note += " OVER THE BOUND"
    return [
        ratio_result("streaming", f"{N_CHUNKS:,}-chunk stream, cell done", kernel_times, httpx_times, "s",
                     "plain httpx SSE parse", GOAL,
                     note=f"litellm's own streaming of the same stream in a plain process: "
                          f"{median(litellm_times):.3f} s ({median(litellm_times) / median(httpx_times):.2f}x httpx);"
                          f" the kernel takes {cell / median(litellm_times):.3f}x litellm's time;"
                          f" median of {repeats}, interleaved"),
        ratio_result("streaming", "litellm streaming, plain process (reference)", litellm_times, httpx_times, "s",
                     "plain httpx SSE parse", None, ratio_of="litellm/httpx"),
        rate,
    ]


def display_rate(kernel: Kernel, server: Server, repeats: int) -> Result:
    """Display messages per second of a cell streaming for about 3 s, against the throttle's bound."""
    text = "".join(f"word{i} " for i in range(PACED_CHUNKS))
    rates: list[float] = []
    bounds: list[float] = []
    counts: list[int] = []
    for _ in range(repeats):
        server.control(queue_reply={"text": text, "chunks": PACED_CHUNKS, "chunk_delay": PACED_DELAY})
        run_ = kernel.execute(PROMPT, cell_id="bench-paced").check()
        count = len(run_.of_type("display_data", "update_display_data"))
        counts.append(count)
        rates.append(count / run_.elapsed)
        bounds.append(allowed_displays(run_.elapsed) / run_.elapsed)
        log(f"streaming, paced: {count} display messages in {run_.elapsed:.2f} s ({rates[-1]:.1f}/s)")
    return ratio_result("streaming", f"display messages/s, {PACED_CHUNKS} chunks over ~3 s", rates, bounds, "msg/s",
                        f"bound: {DISPLAY_RATE:g}/s + {FIXED_DISPLAYS} per cell", ("<=", 1.0), ratio_of="kernel/bound",
                        note=f"median {median(counts):.0f} display messages per paced cell")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
