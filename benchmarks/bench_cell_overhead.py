"""Per-cell overhead: a prompt cell against a loopback OpenAI-compatible server that answers at once.

Baseline: a `%%python` cell in the same kernel making the same litellm call (streamed, consumed). Both cells are
timed by the frontend (execute_request -> execute_reply and idle), alternating. The prompt cell re-runs with the
same cell id, so its context stays the same size (a re-run replaces its turn).
"""

from __future__ import annotations

from _harness import Kernel, Result, Server, jupyter_env, log, main, ratio_result

PROMPT = "Say hello to the benchmark."
GOAL = ("<=", 1.1)


def python_cell(url: str) -> str:
    from llmos_kernel.runtime import DEFAULT_SYSTEM

    messages = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": PROMPT}]
    return (
        "%%python\n"
        "import litellm\n"
        f"response = litellm.completion(model='openai/bench', api_base={url!r}, api_key='sk-x',"
        f" messages={messages!r}, stream=True, timeout=30)\n"
        "text = ''.join(chunk.choices[0].delta.content or '' for chunk in response if chunk.choices)\n"
    )


def run(quick: bool = False) -> list[Result]:
    jupyter_env()
    repeats = 12 if quick else 40
    with Server() as server, Kernel("llmos") as kernel:
        kernel.execute(f"%model openai/bench --api-base {server.url} --window 16000").check()
        py_cell = python_cell(server.url)
        log("per-cell: warm-up (litellm import, first connection)")
        for _ in range(3):
            kernel.execute(PROMPT, cell_id="bench-prompt").check()
            kernel.execute(py_cell, cell_id="bench-python").check()
        prompt_times: list[float] = []
        python_times: list[float] = []
        for i in range(repeats):
            pair = [("prompt", PROMPT, "bench-prompt"), ("python", py_cell, "bench-python")]
            for kind, code, cell_id in pair if i % 2 == 0 else pair[::-1]:
                run_ = kernel.execute(code, cell_id=cell_id).check()
                (prompt_times if kind == "prompt" else python_times).append(run_.elapsed)
        log(f"per-cell: prompt {sorted(prompt_times)[len(prompt_times) // 2] * 1000:.1f} ms,"
            f" %%python litellm {sorted(python_times)[len(python_times) // 2] * 1000:.1f} ms")
    return [
        ratio_result("per-cell", "prompt cell, instant server", prompt_times, python_times, "s",
                     "%%python litellm call", GOAL, note=f"median of {repeats} cells each, alternating"),
    ]


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
