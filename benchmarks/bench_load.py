"""Time-sharing under load: N kernels (1, 4, 8) on one served model through the LiteLLM proxy.

The real three tiers (tests/support/three_tier.py): llama-cpp-python's server on the embedded SmolLM2 GGUF
(one thread, n_ctx 4096) and the LiteLLM proxy 1.82.6 in front of it (tests/proxy/litellm_config.yaml). Each
of N kernels runs the same short prompt loop (`%%prompt --no-history --max-tokens 8`, one cell after another)
on the team alias; all N at once. Figures: p50/p95 cell latency, failed cells (0 expected) and cells per
second. Baseline, measured in the same run at the same concurrency: N plain clients (threads, httpx) sending
the same request straight to the served model, no proxy and no kernel.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _harness import Kernel, Result, log, main

from tests.support.three_tier import MASTER_KEY, SERVED_ALIAS, TEAM_MODEL, ThreeTier

PROMPT = "Say OK."
MAX_TOKENS = 8
CELL = f"%%prompt --model team --no-history --max-tokens {MAX_TOKENS} --temperature 0\n{PROMPT}"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def kernel_loop(kernel: Kernel, cells: int, latencies: list[float], errors: list[str]) -> None:
    for _ in range(cells):
        done = kernel.execute(CELL, timeout=300)
        if done.status == "ok":
            latencies.append(done.elapsed)
        else:
            errors.append(done.text()[-300:])


def served_loop(url: str, requests: int, latencies: list[float], errors: list[str]) -> None:
    body = {"model": SERVED_ALIAS, "messages": [{"role": "user", "content": PROMPT}], "stream": True,
            "max_tokens": MAX_TOKENS, "temperature": 0}
    with httpx.Client(timeout=300) as client:
        for _ in range(requests):
            start = time.perf_counter()
            try:
                with client.stream("POST", url + "/chat/completions", json=body) as response:
                    response.raise_for_status()
                    for _line in response.iter_lines():
                        pass
                latencies.append(time.perf_counter() - start)
            except httpx.HTTPError as exc:
                errors.append(repr(exc))


def at_once(target, args_list: list[tuple]) -> float:
    """Run target(*args) in one thread per args, all at once; the wall time until the last finished."""
    threads = [threading.Thread(target=target, args=args) for args in args_list]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def run(quick: bool) -> list[Result]:
    cells = 3 if quick else 5
    results: list[Result] = []
    with ThreeTier() as tiers, tempfile.TemporaryDirectory() as home:
        config = Path(home) / "config.toml"
        config.write_text(f'[aliases]\nteam = {{ model = "litellm_proxy/{TEAM_MODEL}", '
                          f'api_base = "{tiers.proxy_url}", api_key_env = "TEAM_KEY" }}\n')
        os.environ.update({"LLMOS_CONFIG": str(config), "TEAM_KEY": MASTER_KEY})
        for n in (1, 4, 8):
            kernels = []
            for i in range(n):
                os.environ["LLMOS_STORE"] = str(Path(home) / f"store-{n}-{i}.db")  # a volume of its own each
                kernels.append(Kernel("llmos"))
            try:
                for kernel in kernels:  # warm: the first cell pays for the catalogue look-up and connections
                    kernel.execute(CELL, timeout=300)
                served_lat: list[float] = []
                served_err: list[str] = []
                served_wall = at_once(served_loop, [(tiers.served_url, cells, served_lat, served_err)] * n)
                lat: list[float] = []
                err: list[str] = []
                wall = at_once(kernel_loop, [(k, cells, lat, err) for k in kernels])
            finally:
                for kernel in kernels:
                    kernel.close()
            results += rows(n, lat, err, wall, served_lat, served_err, served_wall)
            log(f"load: N={n}: p50 {statistics.median(lat):.3f} s, p95 {p95(lat):.3f} s, {len(err)} failed, "
                f"{len(lat) / wall:.2f} cells/s (served alone {len(served_lat) / served_wall:.2f} req/s)")
            for text in err[:3]:
                log(f"  failed cell: {text}")
    return results


def rows(n: int, lat: list[float], err: list[str], wall: float, served_lat: list[float], served_err: list[str],
         served_wall: float) -> list[Result]:
    through = len(lat) / wall if wall else 0.0
    alone = len(served_lat) / served_wall if served_wall else 0.0
    note = f"{len(lat) + len(err)} cells; served alone: {len(served_err)} failed requests"
    p50, p50_alone = statistics.median(lat), statistics.median(served_lat)
    return [
        Result("load", f"N={n} p50 cell latency", p50, p50_alone, "s", "served model alone", p50 / p50_alone,
               "kernel/baseline", None, note),
        Result("load", f"N={n} p95 cell latency", p95(lat), p95(served_lat), "s", "served model alone",
               p95(lat) / p95(served_lat), "kernel/baseline", None),
        Result("load", f"N={n} throughput", through, alone, "cells/s", "served model alone", through / alone,
               "kernel/baseline", None),
        Result("load", f"N={n} failed cells", float(len(err)), 0.0, "cells", "none", float(len(err)), "failed",
               ("<=", 0)),
    ]


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
