"""One prompt over 200 items (`%%prompt --map`) through the loopback server, at concurrency 1, 4 and 8.

Baseline: a plain asyncio + httpx loop making the same 200 streamed calls (same messages, same server, the same
number in flight, each stream read to its end), measured in the same run, alternating with the kernel's cell.
The server waits PROVIDER_DELAY before each answer, as a provider does, so concurrency has latency to hide.
The kernel's figure is the whole cell as the frontend sees it: building and estimating every request, the
thread pool, the progress bar, accounting, recording each answer in the store and binding the results.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from _harness import Kernel, Result, Server, jupyter_env, log, main, ratio_result

ITEMS = 200
LEVELS = (1, 4, 8)
PROVIDER_DELAY = 0.02  # seconds before each answer starts
GOAL = (">=", 0.8)  # the kernel keeps at least 80% of a bare client's throughput


def messages_for(i: int, run: int) -> list[dict]:
    from llmos_kernel.runtime import DEFAULT_SYSTEM

    return [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": f"Label item {i} ({run})."}]


async def plain_loop(url: str, concurrency: int, run: int) -> float:
    """The baseline: seconds for ITEMS streamed calls with `concurrency` in flight."""
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(i: int) -> None:
            body = {"model": "bench", "messages": messages_for(i, run), "stream": True,
                    "stream_options": {"include_usage": True}}
            async with limit, client.stream("POST", f"{url}/chat/completions", json=body) as response:
                response.raise_for_status()
                async for _ in response.aiter_bytes():
                    pass

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(ITEMS)))
        return time.perf_counter() - started


def map_cell(concurrency: int, run: int) -> str:
    return f"%%prompt --map items --concurrency {concurrency} --as labels\nLabel item {{item}} ({run})."


def run(quick: bool = False) -> list[Result]:
    jupyter_env()
    repeats = 1 if quick else 3
    results = []
    with Server() as server, Kernel("llmos") as kernel:
        server.control(default_delay=PROVIDER_DELAY)
        kernel.execute(f"%model openai/bench --api-base {server.url} --window 16000").check()
        kernel.execute(f"%%python\nitems = list(range({ITEMS}))").check()
        kernel.execute(map_cell(4, -1)).check()  # warm-up: first connections, the store, the widget classes
        asyncio.run(plain_loop(server.url, 4, -1))
        for level in LEVELS:
            kernel_rates: list[float] = []
            plain_rates: list[float] = []
            for r in range(repeats):
                tag = level * 100 + r  # new prompts each run: nothing replays, every item is a real call
                order = ("kernel", "plain") if r % 2 == 0 else ("plain", "kernel")
                for side in order:
                    if side == "kernel":
                        execution = kernel.execute(map_cell(level, tag)).check()
                        assert f"{ITEMS} done" in execution.text(), execution.text()[-500:]
                        kernel_rates.append(ITEMS / execution.elapsed)
                    else:
                        plain_rates.append(ITEMS / asyncio.run(plain_loop(server.url, level, tag)))
            log(f"concurrency {level}: kernel {sorted(kernel_rates)[len(kernel_rates) // 2]:.0f} items/s,"
                f" asyncio+httpx {sorted(plain_rates)[len(plain_rates) // 2]:.0f} items/s")
            results.append(ratio_result(
                "map", f"--map {ITEMS} items, concurrency {level}", kernel_rates, plain_rates, "items/s",
                "asyncio + httpx loop", GOAL, ratio_of="kernel/baseline (throughput)",
                note=f"{PROVIDER_DELAY * 1000:.0f} ms provider delay; median of {repeats}"))
    return results


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
