"""Sampling defaults for the embedded model, chosen by measurement (issue 12: a plain "hello" never stopped).

Each candidate setting answers the first prompts a newcomer types, on SmolLM2-135M through the kernel's own
LlamaCppBackend.stream (its chat template, the kernel's default system prompt, its stop and token counting),
with several seeds and a cap of CAP answer tokens. Per setting the table shows: answers that ended with the
model's own stop (not the cap), answer tokens (median and the longest natural answer), the longest run of one
line repeated in a row, the answers with a line repeated more than three times in a row, and seconds per
answer. This is a quality measurement, not a speed ratio, so it is not part of run_all.py.

    python benchmarks/bench_embedded_defaults.py            # 3 seeds (about 20 minutes on one busy thread)
    python benchmarks/bench_embedded_defaults.py --quick    # 1 seed
    python benchmarks/bench_embedded_defaults.py --only card

Two ways of asking: each prompt alone (a notebook's first cell), and the prompts as the cells of one notebook
(each sent after the turns before it). The seeds are those llama-cpp-python draws for a fresh kernel's cells, so
the first notebook is exactly what a new kernel would answer; it reproduces issue 12's looping "hello".

Measured on 2 shared cores (load 7-11), one llama.cpp thread, 8 prompts x 3 seeds, cap 300 tokens
(stops: answers that ended on the model's own stop; longest: the longest of those; line-run: the most times
one line came in a row, over both ways of asking):

                                           each prompt alone        one notebook       worst
    setting                                stops median longest  stops median longest  line-run
    create_completion defaults (before)    22/24    19     99    21/24    42    284       33
    create_completion + repeat_penalty 1.1 24/24    22    164    24/24    15    228        1
    create_chat_completion defaults        24/24    15     69    24/24    16     64        1
    greedy (temperature 0)                 24/24    14    111    24/24    14     30        1
    SmolLM2 card: t 0.2, top_p 0.9         24/24    15     69    24/24    16     64        1
    card + repeat_penalty 1.1  (chosen)    24/24    13    106    24/24    15     53        1
    card + repeat_penalty 1.2              24/24    13    209    24/24    16     79        1
    t 0.7, top_p 0.9, repeat_penalty 1.1   24/24    21     78    24/24    24    109        1

Reading: the raw create_completion defaults are the only setting that ran into the cap (5 of 48 answers; "hello"
repeating "The answer to your question is:", 33 times in 300 tokens). Each guard removes the runaways alone:
temperature 0.2 (llama-cpp-python's chat API default, and SmolLM2's model card with top_p 0.9), or a repeat
penalty of 1.1 even at temperature 0.8 (but then answers run long). Both together keep answers short; 1.2 made them
longer. Greedy decoding stopped too, but a re-run cell would repeat the same answer word for word. The 512-token
cap is about five times the longest natural answer at the chosen setting (106) and equals memory's default
reserve for the answer.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # a checkout that is not pip-installed still benchmarks its own code

from tests.support.answers import longest_line_run  # noqa: E402  the check the kernel test makes, too

CAP = 300
PARAGRAPH = (
    "The Great Barrier Reef is the world's largest coral reef system, made of nearly 3,000 individual reefs "
    "and 900 islands along more than 2,300 kilometres off the coast of Queensland, Australia. It can be seen "
    "from outer space and is built by billions of tiny organisms known as coral polyps. Warming seas have "
    "caused several mass bleaching events since 1998."
)
PROMPTS = (
    "hello",
    "What is the capital of France?",
    "write a haiku about the sea",
    f"summarize this paragraph: {PARAGRAPH}",
    "what is 2+2?",
    "Explain what a Python list is in one sentence.",
    "Give me three tips for writing clean code.",
    "who are you?",
)
_BASE = {"top_p": 0.95, "top_k": 40, "min_p": 0.05}  # llama-cpp-python's defaults for both APIs
SETTINGS: dict[str, dict[str, float]] = {
    "create_completion defaults (before)": {**_BASE, "temperature": 0.8, "repeat_penalty": 1.0},
    "create_completion + repeat_penalty 1.1": {**_BASE, "temperature": 0.8, "repeat_penalty": 1.1},
    "create_chat_completion defaults": {**_BASE, "temperature": 0.2, "repeat_penalty": 1.0},
    "greedy (temperature 0)": {**_BASE, "temperature": 0.0, "repeat_penalty": 1.0},
    "SmolLM2 card: t 0.2, top_p 0.9": {**_BASE, "top_p": 0.9, "temperature": 0.2, "repeat_penalty": 1.0},
    "card + repeat_penalty 1.1": {**_BASE, "top_p": 0.9, "temperature": 0.2, "repeat_penalty": 1.1},
    "card + repeat_penalty 1.2": {**_BASE, "top_p": 0.9, "temperature": 0.2, "repeat_penalty": 1.2},
    "t 0.7, top_p 0.9, repeat_penalty 1.1": {**_BASE, "top_p": 0.9, "temperature": 0.7, "repeat_penalty": 1.1},
}


def kernel_seeds(n: int) -> list[int]:
    """The seeds llama-cpp-python draws for a fresh kernel's first n answers: each call without a seed reseeds
    from the previous one, starting at LLAMA_DEFAULT_SEED. The first of them made "hello" loop in issue 12."""
    import llama_cpp

    seeds, seed = [], llama_cpp.LLAMA_DEFAULT_SEED
    for _ in range(n):
        seed = random.Random(seed).randint(0, 2**32)
        seeds.append(seed)
    return seeds


class Tally:
    """One setting's answers: finish reasons, tokens, repeated lines, seconds; and the answers cut by the cap."""

    def __init__(self) -> None:
        self.stops, self.natural, self.tokens, self.runs, self.seconds, self.cut = 0, [], [], [], [], []

    def add(self, prompt: str, seed: int, deltas: list, seconds: float) -> str:
        text = "".join(d.text for d in deltas)
        out = deltas[-1].usage.completion_tokens
        self.tokens.append(out)
        self.runs.append(longest_line_run(text))
        self.seconds.append(seconds)
        if deltas[-1].finish_reason == "stop":
            self.stops += 1
            self.natural.append(out)
        else:
            self.cut.append(f"{prompt[:30]!r} seed {seed}: {text[:60]!r}")
        return text

    def row(self, name: str) -> str:
        bad = sum(run > 3 for run in self.runs)
        return (f"{name:38} {self.stops:>3}/{len(self.tokens):<3} {statistics.median(self.tokens):>6.0f} "
                f"{max(self.natural, default=0):>7} {max(self.runs):>8} {bad:>6} {statistics.mean(self.seconds):>8.2f}")


def ask(backend, messages: list[dict], seed: int, cap: int, tally: Tally, prompt: str) -> str:
    from llmos_kernel.backends.base import CallParams

    started = time.perf_counter()
    deltas = list(backend.stream(messages, CallParams(max_tokens=cap, extra={"seed": seed})))
    return tally.add(prompt, seed, deltas, time.perf_counter() - started)


def alone(backend, seeds: list[int], cap: int) -> Tally:
    """Each prompt as a notebook's first cell: the system prompt and the prompt."""
    from llmos_kernel.runtime import DEFAULT_SYSTEM

    tally = Tally()
    for prompt in PROMPTS:
        for seed in seeds:
            messages = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": prompt}]
            ask(backend, messages, seed, cap, tally, prompt)
    return tally


def notebook(backend, sessions: int, cap: int) -> Tally:
    """The prompts as the cells of one notebook, each sent with the turns before it, as memory sends them; each
    session draws the seeds a fresh kernel draws, the first session exactly those of a new kernel's cells."""
    from llmos_kernel.runtime import DEFAULT_SYSTEM

    tally = Tally()
    seeds = kernel_seeds(sessions * len(PROMPTS))
    for session in range(sessions):
        messages = [{"role": "system", "content": DEFAULT_SYSTEM}]
        for number, prompt in enumerate(PROMPTS):
            messages.append({"role": "user", "content": prompt})
            answer = ask(backend, messages, seeds[session * len(PROMPTS) + number], cap, tally, prompt)
            messages.append({"role": "assistant", "content": answer})
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed per prompt, one notebook")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per prompt alone, and notebooks")
    parser.add_argument("--cap", type=int, default=CAP, help="answer tokens before an answer counts as a runaway")
    parser.add_argument("--only", default="", help="run only the settings whose name contains this text")
    args = parser.parse_args()
    from llmos_kernel.backends.llamacpp import LlamaCppBackend, default_threads, embedded_model_path

    backend = LlamaCppBackend(embedded_model_path(), "smollm2-bench", n_ctx=4096)
    seeds = 1 if args.quick else args.seeds
    print(f"SmolLM2-135M, {default_threads()} thread(s), {len(PROMPTS)} prompts, {seeds} seed(s), cap {args.cap}")
    header = f"{'setting':38} {'stops':>7} {'median':>6} {'longest':>7} {'line-run':>8} {'runs>3':>6} {'s/answer':>8}"
    cut: list[str] = []
    for title, run in (("each prompt alone (a notebook's first cell)", lambda: alone(backend, kernel_seeds(seeds),
                                                                                      args.cap)),
                       ("the prompts as one notebook (with history)", lambda: notebook(backend, seeds, args.cap))):
        print(f"\n{title}\n{header}")
        for name, setting in SETTINGS.items():
            if args.only not in name:
                continue
            backend.sampling = dict(setting)
            tally = run()
            print(tally.row(name), flush=True)
            cut += [f"{name}: {line}" for line in tally.cut]
    print("\nanswers cut by the cap:")
    for line in cut:
        print(f"  {line}")


if __name__ == "__main__":
    main()
