"""%%compare over two slow models: its wall time against the slower model alone, and against the sum.

Two loopback servers (tests/support/openai_server.py, subprocesses) each answer after a fixed delay: model
`a` after A seconds, `b` after B seconds, then stream a short reply. In one kernel, interleaved: the cell
`%%compare a b` (figure), and each model alone in a `%%prompt --model` cell (baselines, measured in the same
run). Concurrent columns make the compare cell take about max(a, b); one after another it took a + b.
"""

from __future__ import annotations

from _harness import Kernel, Result, Server, log, main, median, ratio_result

DELAYS = {"a": 0.8, "b": 1.2}  # seconds before each server starts answering
PROMPT = "Compare these two, briefly."


def run(quick: bool) -> list[Result]:
    repeats = 3 if quick else 6
    servers = {name: Server() for name in DELAYS}
    try:
        for name, delay in DELAYS.items():
            servers[name].control(default_delay=delay)
        compare: list[float] = []
        alone: dict[str, list[float]] = {name: [] for name in DELAYS}
        with Kernel("llmos") as kernel:
            for name, server in servers.items():
                kernel.execute(f"%alias {name} openai/{name} --api-base {server.url} --window 16000").check()
            kernel.execute(f"%%compare a b --no-history --max-tokens 16\n{PROMPT}").check()  # warm-up
            for i in range(repeats):
                run_ = kernel.execute(f"%%compare a b --no-history --max-tokens 16\n{PROMPT}").check()
                if "Echo:" not in run_.text():
                    raise RuntimeError(f"no answers in the compare cell: {run_.text()[:500]}")
                compare.append(run_.elapsed)
                for name in DELAYS:
                    cell = f"%%prompt --model {name} --no-history --max-tokens 16\n{PROMPT}"
                    alone[name].append(kernel.execute(cell).check().elapsed)
                log(f"compare: round {i + 1}/{repeats}: {compare[-1]:.2f} s "
                    f"(a {alone['a'][-1]:.2f} s, b {alone['b'][-1]:.2f} s)")
    finally:
        for server in servers.values():
            server.close()
    slowest = [max(x, y) for x, y in zip(alone["a"], alone["b"], strict=True)]
    summed = [x + y for x, y in zip(alone["a"], alone["b"], strict=True)]
    note = (f"a answers after {DELAYS['a']} s, b after {DELAYS['b']} s; medians of {repeats} interleaved rounds; "
            f"a alone {median(alone['a']):.2f} s, b alone {median(alone['b']):.2f} s")
    return [
        ratio_result("compare", "%%compare a b vs the slower alone", compare, slowest, "s", "max(a, b)",
                     ("<=", 1.25), note=note),
        ratio_result("compare", "%%compare a b vs both in turn", compare, summed, "s", "a + b", ("<=", 0.8)),
    ]


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
