"""Memory: the kernel's resident memory (RSS) idle, and with the embedded model loaded, against ipykernel idle.

Each kernel is launched from its kernelspec, runs one trivial cell, and is sampled after it has settled; the
llmos kernel is then sampled again after one prompt cell on the embedded model. Launches alternate.
psutil when installed, else /proc/PID/status (VmRSS).
"""

from __future__ import annotations

import time

from _harness import Kernel, Result, Worker, jupyter_env, log, main, ratio_result

SETTLE = 1.0  # seconds after the cell before sampling: background threads finish their start-up work


def idle_rss(kernel: Kernel, cell: str) -> float:
    kernel.execute(cell).check()
    time.sleep(SETTLE)
    return kernel.rss_mib()


def run(quick: bool = False) -> list[Result]:
    jupyter_env()
    repeats = 2 if quick else 3
    idle: list[float] = []
    loaded: list[float] = []
    baseline: list[float] = []
    direct: list[float] = []
    for i in range(repeats):
        with Worker("bench_embedded", "setup_llama") as worker:
            worker.call("generate")
            time.sleep(SETTLE)
            direct.append(worker.rss_mib())
        with Kernel("python3") as python3:
            baseline.append(idle_rss(python3, "pass"))
        with Kernel("llmos") as llmos:
            idle.append(idle_rss(llmos, "%%python\npass"))
            llmos.execute("%%prompt --max-tokens 8 --temperature 0\nHello").check()
            time.sleep(SETTLE)
            loaded.append(llmos.rss_mib())
        log(f"memory {i + 1}/{repeats}: ipykernel idle {baseline[-1]:.0f} MiB, llmos idle {idle[-1]:.0f} MiB,"
            f" llmos with the embedded model {loaded[-1]:.0f} MiB, llama_cpp direct {direct[-1]:.0f} MiB")
    return [
        ratio_result("memory", "RSS idle", idle, baseline, "MiB", "ipykernel idle", None,
                     note=f"after one trivial cell; median of {repeats} launches"),
        ratio_result("memory", "RSS with the embedded model loaded", loaded, baseline, "MiB", "ipykernel idle",
                     None, note="after one 8-token prompt cell on SmolLM2-135M (n_ctx = the model's 8,192)"),
        ratio_result("memory", "llama-cpp-python direct, same model (reference)", direct, baseline, "MiB",
                     "ipykernel idle", None, ratio_of="direct/ipykernel",
                     note="a plain process that loaded the same GGUF (same n_ctx, threads) and generated once"),
    ]


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
