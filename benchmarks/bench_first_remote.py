"""First remote answer: kernel launch -> the first answer of a model on an OpenAI-compatible server.

Figure: the llmos kernel, launched from its kernelspec by jupyter_client, runs `%model openai/bench --api-base URL`
and then one prompt cell. Baseline: classic Jupyter AI, the `%%ai` magics of jupyter-ai-magics 2.31.7 in an
ipykernel of a virtualenv of their own (benchmarks/.venv-peer, made on first use with pip, pinned below): its
first cell `%load_ext jupyter_ai_magics`, its second `%%ai openai-chat-custom:bench -m {"openai_api_base": URL}`
with the same prompt. Both ask the same loopback server (tests/support/openai_server.py, a subprocess), and
each time runs from launch until the answer's cell is done, launches alternating. A third kernel, reported
only, pays the litellm import the llmos kernel used to pay before this path stopped needing litellm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _harness import Kernel, Result, Server, jupyter_env, log, main, ratio_result

PROMPT = "What is a page fault?"
GOAL = ("<=", 1.0)  # ahead of the peer: issue 12
PEER_VENV = Path(__file__).resolve().parent / ".venv-peer"
# The last release of the classic %%ai magics (Jupyter AI 2.x), with the OpenAI provider it needs.
PEER_PACKAGES = ("jupyter-ai-magics==2.31.7", "langchain-openai==0.3.35", "ipykernel==7.4.0")
PEER_KERNEL = "jupyter-ai-peer"


def peer_python() -> Path:
    """The peer's interpreter, after making its virtualenv when missing (once: pip's cache serves later runs)."""
    python = PEER_VENV / "bin" / "python"
    marker = PEER_VENV / ".installed"
    if not marker.exists() or marker.read_text() != " ".join(PEER_PACKAGES):
        log(f"first remote answer: installing the peer into {PEER_VENV} (a few minutes, once)")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], capture_output=True,
                             text=True)
        if pip.returncode != 0:
            raise RuntimeError(f"could not install the peer: {pip.stderr[-3000:]}")
        marker.write_text(" ".join(PEER_PACKAGES))
    return python


def install_peer_kernel() -> None:
    """The peer's kernelspec, in the benchmark's temporary Jupyter path beside llmos's."""
    home = jupyter_env()["HOME_DIR"]
    subprocess.run([str(peer_python()), "-m", "ipykernel", "install", "--prefix", home, "--name", PEER_KERNEL,
                    "--display-name", "Jupyter AI magics (peer)"], check=True, stdout=subprocess.DEVNULL)


def first_answer(kernel_name: str, cells: list[str], server: Server) -> tuple[float, bool | None]:
    """(seconds from launch until the last cell, the one asking the model, is done; whether litellm was loaded
    in an llmos kernel by then). Checks that the answer came, from one request to the server."""
    before = attempts(server)
    with Kernel(kernel_name) as kernel:
        for cell in cells:
            done = kernel.execute(cell).check()
        elapsed = time.perf_counter() - kernel.launched
        shown = " ".join(str(m["content"].get("data", {}).get("text/markdown", "")) for m in done.messages)
        if "Echo:" not in shown:  # the server echoes the prompt: the answer reached the cell, as Markdown
            raise RuntimeError(f"{kernel_name}: no answer in the cell:\n{done.text()[:2000]}")
        loaded = None
        if kernel_name == "llmos":
            loaded = kernel.execute("%%python\nimport sys; print('litellm' in sys.modules)").check().text()
    if attempts(server) != before + 1:
        raise RuntimeError(f"{kernel_name}: expected one request to the server")
    return elapsed, None if loaded is None else loaded.strip() == "True"


def attempts(server: Server) -> int:
    with urllib.request.urlopen(server.root + "/_attempts", timeout=10) as response:
        return int(json.loads(response.read())["attempts"])


def run(quick: bool = False) -> list[Result]:
    jupyter_env()
    install_peer_kernel()
    repeats = 3 if quick else 7
    with Server() as server:
        ours = [f"%model openai/bench --api-base {server.url}", PROMPT]
        # What the kernel did before: litellm imported to resolve the provider (the same import, in a cell).
        old = ["%%python\nfrom llmos_kernel.backends.litellm_loader import get_litellm; get_litellm()", *ours]
        # The peer's auth check wants OPENAI_API_KEY set; the value goes only to the loopback server.
        os.environ["OPENAI_API_KEY"] = "sk-benchmark-peer-0000"
        peer = ["%load_ext jupyter_ai_magics",
                f'%%ai openai-chat-custom:bench -m {{"openai_api_base":"{server.url}"}}\n{PROMPT}']
        kinds = {"llmos": ("llmos", ours), "peer": (PEER_KERNEL, peer), "old": ("llmos", old)}
        log("first remote answer: warm-up launches (file cache)")
        for name, cells in kinds.values():
            first_answer(name, cells, server)
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        loaded: list[bool | None] = []
        for i in range(repeats):
            order = list(kinds) if i % 2 == 0 else list(kinds)[::-1]
            for kind in order:
                name, cells = kinds[kind]
                elapsed, litellm_loaded = first_answer(name, cells, server)
                times[kind].append(elapsed)
                if kind == "llmos":
                    loaded.append(litellm_loaded)
            log(f"first remote answer {i + 1}/{repeats}: llmos {times['llmos'][-1]:.2f} s,"
                f" jupyter-ai-magics {times['peer'][-1]:.2f} s, llmos + litellm import {times['old'][-1]:.2f} s")
    os.environ.pop("OPENAI_API_KEY", None)
    litellm_note = "litellm was never imported" if not any(loaded) else "litellm WAS imported"
    return [
        ratio_result("first remote answer", "launch -> first answer, %model openai/NAME --api-base URL + prompt",
                     times["llmos"], times["peer"], "s", "jupyter-ai-magics %%ai", GOAL,
                     note=f"median of {repeats} launches each, alternating; same loopback server; {litellm_note}"),
        ratio_result("first remote answer", "the same, paying the litellm import it used to pay (reference)",
                     times["old"], times["peer"], "s", "jupyter-ai-magics %%ai", None,
                     note="a first cell imports litellm as the kernel did to resolve the provider"),
    ]


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
