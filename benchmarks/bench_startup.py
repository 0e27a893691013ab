"""Start-up: launch -> first kernel_info reply, and launch -> first completed prompt on the embedded model.

Baseline: ipykernel's own Python kernel (the `python3` kernelspec, `python -m ipykernel_launcher`) launched the
same way from the same temporary Jupyter path. For the first prompt, the baseline kernel runs the same request
by hand in its first cell: import llama_cpp, load the same GGUF with the same thread count and context size,
and generate the same number of tokens at temperature 0. Launches alternate between the two kernels.
"""

from __future__ import annotations

import json
import time

from _harness import Kernel, Result, jupyter_env, log, main, ratio_result

PROMPT = "What is a page fault?"
MAX_TOKENS = 16
GOAL = ("<=", 1.3)


def baseline_cell() -> str:
    """The ipykernel cell doing what one llmos prompt cell does on the embedded model."""
    from llmos_kernel.backends.llamacpp import embedded_model_path, llama_settings
    from llmos_kernel.runtime import DEFAULT_SYSTEM

    messages = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": PROMPT}]
    # The kernel loads its model inside no_weight_repacking() (ggml's repacked weights segfault on AMX CPUs); the
    # baseline does the same by hand, without importing llmos_kernel (whose import would count against it).
    return (
        "import llama_cpp.llama as llama_module\n"
        "from llama_cpp import Llama\n"
        "original = llama_module.llama_cpp.llama_model_default_params\n"
        "def defaults():\n"
        "    params = original()\n"
        "    params.use_extra_bufts = False\n"
        "    return params\n"
        "llama_module.llama_cpp.llama_model_default_params = defaults\n"
        f"llm = Llama(model_path={str(embedded_model_path())!r}, **{llama_settings()!r})\n"
        f"out = llm.create_chat_completion(messages={json.dumps(messages)}, max_tokens={MAX_TOKENS},"
        " temperature=0)\n"
        "print(out['choices'][0]['message']['content'])\n"
    )


def launch(name: str, cell: str) -> tuple[float, float]:
    """(launch -> kernel_info reply, launch -> first cell done) for one fresh kernel."""
    with Kernel(name) as kernel:
        kernel.execute(cell).check()
        return kernel.ready_after, time.perf_counter() - kernel.launched


def run(quick: bool = False) -> list[Result]:
    jupyter_env()
    repeats = 3 if quick else 7
    llmos_cell = f"%%prompt --max-tokens {MAX_TOKENS} --temperature 0\n{PROMPT}"
    python_cell = baseline_cell()
    log("start-up: warm-up launches (file cache)")
    launch("llmos", llmos_cell)
    launch("python3", python_cell)
    ready: dict[str, list[float]] = {"llmos": [], "python3": []}
    prompt: dict[str, list[float]] = {"llmos": [], "python3": []}
    for i in range(repeats):
        order = ("llmos", "python3") if i % 2 == 0 else ("python3", "llmos")
        for name in order:
            r, p = launch(name, llmos_cell if name == "llmos" else python_cell)
            ready[name].append(r)
            prompt[name].append(p)
        log(f"start-up {i + 1}/{repeats}: kernel_info llmos {ready['llmos'][-1]:.2f} s,"
            f" python3 {ready['python3'][-1]:.2f} s; first prompt llmos {prompt['llmos'][-1]:.2f} s,"
            f" python3+llama_cpp {prompt['python3'][-1]:.2f} s")
    return [
        ratio_result("start-up", "launch -> kernel_info reply", ready["llmos"], ready["python3"], "s",
                     "ipykernel", GOAL, note=f"median of {repeats} launches each, alternating"),
        ratio_result("start-up", f"launch -> first prompt done (embedded, {MAX_TOKENS} tokens)",
                     prompt["llmos"], prompt["python3"], "s", "ipykernel + llama_cpp by hand", GOAL,
                     note="baseline: a python3 kernel whose first cell loads the same GGUF (same n_ctx, threads) "
                          "and runs the same chat request"),
    ]


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
