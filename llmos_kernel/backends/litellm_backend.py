"""Every provider litellm knows, and any OpenAI-compatible server or LiteLLM proxy through an api_base.

Two streaming paths, one behaviour. OpenAI-compatible providers (openai/, hosted_vllm/, litellm_proxy/,
openai_like/, and OpenAI's own model names) never import litellm: endpoints.py resolves the provider, endpoint
and key, model_map.py reads litellm's model map for the window, prices and parameter names, and openai_stream
streams over httpx. Importing litellm takes 3-4 s, and it used to be most of the wait from kernel launch to the
first answer (benchmarks/bench_first_remote.py). Every other provider goes through ``litellm.completion``.
Both paths retry the same faults the same way, and provider_errors.explain words their errors alike, and both
cap what they read the same way (limits.py; litellm parses the bytes itself, so its path counts chunks instead).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ..errors import MissingAPIKey, ModelNotFound
from ..memory.tokenizers import Tokenizer, tokenizer_for_model
from . import model_map
from .base import CallParams, Delta, ToolCallAssembler, Usage
from .endpoints import KEY_HINT, OPENAI_COMPATIBLE, Route, fast_provider, route
from .faults import kind_of
from .limits import Meter, check_calls, limits_for
from .litellm_loader import get_litellm
from .openai_stream import OpenAIStream
from .pool import POOL
from .provider_errors import BrokenStream, Budget, explain, is_transient, next_retry, retry_headers, short_detail

DEFAULT_WINDOW = 8192  # for models litellm has no figures for (custom servers); %window N sets the truth
# Sent as the key to a server given with --api-base and no --api-key-env on the litellm path: without one,
# litellm would send the provider's key from the environment to that server (see endpoints.py).
NO_KEY = "no-key"


class LiteLLMBackend:
    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        api_key_env: str | None = None,
        window: int | None = None,
        num_retries: int = 2,
        fast_path: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.label = name
        self.api_base = api_base
        self.api_key_env = api_key_env
        self.num_retries = num_retries
        self._window = window
        self._tokenizer: Tokenizer | None = None
        self._sleep = sleep
        resolved = fast_provider(name, api_base) if fast_path else None
        self.provider, self._model_id = resolved or self._resolve_provider()
        self._fast: OpenAIStream | None = None
        if fast_path and self.provider in OPENAI_COMPATIBLE:
            self._fast = OpenAIStream(num_retries=num_retries, sleep=sleep, client_factory=self._pooled_client)

    def _resolve_provider(self) -> tuple[str, str]:
        litellm = get_litellm()
        try:
            model_id, provider, _, _ = litellm.get_llm_provider(self.name, api_base=self.api_base)
        except Exception:
            raise ModelNotFound(
                f"litellm does not know the model '{self.name}'",
                model=self.name,
                hint="Use a provider prefix (openai/NAME, anthropic/NAME, gemini/NAME, ollama/NAME, ...), "
                "add --api-base URL for an OpenAI-compatible server, or run %models to see what is set up.",
            ) from None
        return provider, model_id

    def _pooled_client(self) -> httpx.Client:
        """The shared client of the endpoint the next request goes to (pool.py): keep-alive across backends."""
        return POOL.client_for(self.route().url)

    @property
    def fast_path(self) -> bool:
        return self._fast is not None

    @property
    def tool_calling(self) -> str:
        """OpenAI-compatible servers take the ``tools`` parameter; for other providers litellm's model map says
        whether the model does function calling (an unknown model is given the benefit of the doubt: its
        provider's error, if any, is shown as it is)."""
        if self._fast is not None:
            return "native"
        try:
            known = get_litellm().supports_function_calling(model=self.name)
        except Exception:
            return "native"
        return "native" if known else "none"

    # -- keys ------------------------------------------------------------------------------------------
    def route(self) -> Route:
        """Where the next request goes and which key goes with it (fast path); see endpoints.py for the rule."""
        return route(self.name, self.provider, self.api_base, self.api_key_env)

    def _named_key(self) -> str | None:
        """The key from --api-key-env, read at call time; it is never stored, printed or persisted."""
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise MissingAPIKey(f"{self.name} needs the environment variable {self.api_key_env}, which is not set",
                                model=self.name, hint=KEY_HINT.format(var=self.api_key_env))
        return key

    def check_key(self) -> None:
        if self._fast is not None:
            self.route()
            return
        if self.api_key_env or self.api_base:
            self._named_key()
            return
        env = get_litellm().validate_environment(model=self.name)
        if not env.get("keys_in_environment", True) and env.get("missing_keys"):
            missing = ", ".join(env["missing_keys"])
            raise MissingAPIKey(
                f"{self.name} needs {missing}, which is not set",
                model=self.name,
                hint=KEY_HINT.format(var=env["missing_keys"][0]) + "; or use the embedded model: %model smollm2",
            )

    # -- Backend protocol ------------------------------------------------------------------------------
    def window(self) -> int:
        if self._window:
            return self._window
        if self.provider in OPENAI_COMPATIBLE:
            offer = self._offer()  # what the server or proxy says, before a guess
            return model_map.window(self.provider, self._model_id) or (offer and offer.window) or DEFAULT_WINDOW
        try:
            info = get_litellm().get_model_info(self.name)
            return int(info.get("max_input_tokens") or info.get("max_tokens") or DEFAULT_WINDOW)
        except Exception:
            return DEFAULT_WINDOW

    def set_window(self, n: int) -> None:
        self._window = n

    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            base = self.name.split("/", 1)[1] if self.provider == "openai" and "/" in self.name else self.name
            self._tokenizer = tokenizer_for_model(base if not self.api_base else f"custom:{self.name}")
        return self._tokenizer

    def stream(self, messages: list[dict], params: CallParams) -> Iterator[Delta]:
        self.check_key()
        if self._fast is not None:
            return self._stream_fast(messages, params)
        return self._stream_litellm(messages, params)

    # -- the fast path: OpenAI wire format over httpx ------------------------------------------------------
    def _request_body(self, messages: list[dict], params: CallParams) -> dict[str, Any]:
        mapped = model_map.request_params(self.provider, self._model_id, params.temperature, params.max_tokens)
        tools = {"tools": params.tools} if params.tools else {}
        return {"model": self._model_id, "messages": messages, "stream": True,
                "stream_options": {"include_usage": True}, **mapped, **tools, **params.extra}

    def _stream_fast(self, messages: list[dict], params: CallParams) -> Iterator[Delta]:
        assert self._fast is not None
        sent: Route | None = None
        try:
            sent = self.route()
            body = self._request_body(messages, params)
            yield from self._fast.stream(sent.url, body, sent.headers(), params.timeout,
                                         limits_for(params.max_tokens))
        except Exception as exc:  # KeyboardInterrupt is not an Exception: interrupts pass through untouched
            raise explain(exc, self.name, api_base=self.api_base, route=sent) from None

    # -- every other provider: litellm.completion ----------------------------------------------------------
    def _completion_kwargs(self, messages: list[dict], params: CallParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": params.timeout,
            # Retries are ours (below), the same for every provider: the provider SDKs retry differently or
            # not at all, and litellm's num_retries would also retry 400/401/404, which can never succeed.
            "max_retries": 0,
            "num_retries": 0,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        key = self._named_key() or (NO_KEY if self.api_base else None)
        if key:
            kwargs["api_key"] = key
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature
        if params.max_tokens is not None:
            kwargs["max_tokens"] = params.max_tokens
        if params.tools:
            kwargs["tools"] = params.tools
        kwargs.update(params.extra)
        return kwargs

    def _stream_litellm(self, messages: list[dict], params: CallParams) -> Iterator[Delta]:
        litellm = get_litellm()
        usage: Usage | None = None
        finish = None
        started = False
        attempt = 0
        meter = Meter(limits_for(params.max_tokens))
        calls = ToolCallAssembler(meter.limits.calls)
        kwargs = self._completion_kwargs(messages, params)
        budget = Budget(params.timeout) if params.timeout else None
        while True:
            if budget is not None:
                kwargs["timeout"] = budget.left()
            try:
                chunks = litellm.completion(**kwargs)
                try:
                    for chunk in chunks:
                        meter.chunk()
                        if getattr(chunk, "usage", None):
                            u = chunk.usage
                            usage = Usage(u.prompt_tokens or 0, u.completion_tokens or 0, exact=True)
                        for choice in chunk.choices or ():
                            finish = choice.finish_reason or finish
                            text = getattr(choice.delta, "content", None)
                            if text:
                                started = True
                                kept = meter.text(text)
                                if kept:
                                    yield Delta(text=kept)
                                if meter.full:
                                    raise meter.over_answer()
                            fragments = getattr(choice.delta, "tool_calls", None)
                            if fragments:
                                started = True
                                meter.arguments(calls.add(fragments), calls.largest, calls.count)
                finally:
                    _close(chunks)  # past a cap, or interrupted: the connection is not read any further
                break
            except BrokenStream as exc:  # a cap (limits.py): the text that fit is shown; never retried
                raise explain(exc, self.name, api_base=self.api_base, route=self._litellm_route()) from None
            except Exception as exc:  # KeyboardInterrupt is not an Exception: interrupts pass through untouched
                if started:  # text is already on screen: report a broken stream, never retry
                    kind = "stalled" if kind_of(exc) == "timeout" else "cut"
                    exc = BrokenStream(kind, f"broke off in the middle of the answer ({short_detail(exc)})")
                delay = next_retry(attempt, self.num_retries, budget, retry_headers(exc)) if is_transient(exc) else None
                if delay is None:
                    raise explain(exc, self.name, api_base=self.api_base, route=self._litellm_route()) from None
                attempt += 1
                self._sleep(delay)
        try:
            checked = check_calls(calls.calls())
        except BrokenStream as exc:
            raise explain(exc, self.name, api_base=self.api_base, route=self._litellm_route()) from None
        yield Delta(usage=usage or Usage(exact=False), finish_reason=finish or "stop", tool_calls=checked or None)

    def _litellm_route(self) -> Route:
        """Where litellm sent the request, and whose key: the named one, none (NO_KEY) to a server given with
        --api-base, else the one litellm read from the provider's variable (PROVIDER_API_KEY by its convention)."""
        key_var = self.api_key_env or (None if self.api_base else f"{self.provider.upper()}_API_KEY")
        return Route(self.api_base or "", key_var, self.provider, own_endpoint=not self.api_base)

    def cost(self, usage: Usage) -> float | None:
        if self.provider in OPENAI_COMPATIBLE:
            known = model_map.cost(self.provider, self._model_id, usage.prompt_tokens, usage.completion_tokens)
            offer = self._offer() if known is None else None  # a proxy's published prices (catalogue.py)
            if offer is not None and offer.input_cost is not None and offer.output_cost is not None:
                return usage.prompt_tokens * offer.input_cost + usage.completion_tokens * offer.output_cost
            return known
        try:
            prompt, completion = get_litellm().cost_per_token(
                model=self.name, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
            )
            return float(prompt + completion)
        except Exception:
            return None  # unknown price (custom servers): shown as "-", not as 0

    def _offer(self) -> Any:
        """The endpoint's catalogue entry for this model (cached per endpoint): a server or proxy's own word."""
        from ..catalogue import offer_for

        if not self.api_base and self.provider == "openai":
            return None  # OpenAI's own API: litellm's model map knows its models, and it is asked nothing
        return offer_for(self.name, self.provider, self.api_base, self.api_key_env)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "provider": self.provider, "api_base": self.api_base,
                "streaming": "httpx" if self._fast is not None else "litellm"}


def _close(chunks: Any) -> None:
    """Close litellm's stream wrapper's response: its provider stream (an SDK Stream or an httpx response)."""
    for target in (getattr(chunks, "completion_stream", None), getattr(chunks, "response", None)):
        close = getattr(target, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):  # best effort: the answer is already decided
                close()
