"""Every provider litellm knows, and any OpenAI-compatible server or LiteLLM proxy through an api_base.

Two streaming paths, one behaviour: OpenAI-compatible providers stream through openai_stream (httpx, no
per-chunk pydantic), every other provider through ``litellm.completion(stream=True)``. Both resolve the
provider, endpoint and key with litellm, raise litellm's exception types (mapped by provider_errors.explain),
and retry the same faults the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import MissingAPIKey, ModelNotFound
from ..memory.tokenizers import Tokenizer, tokenizer_for_model
from .base import CallParams, Delta, Usage
from .litellm_loader import get_litellm
from .openai_stream import OPENAI_COMPATIBLE, OpenAIStream
from .provider_errors import BrokenStream, Budget, explain, is_transient, next_retry, retry_headers, short_detail

DEFAULT_WINDOW = 8192  # for models litellm has no figures for (custom servers); %window N sets the truth

# Where each fast-path provider finds its endpoint and key when %model gave none (litellm's own variables).
_DEFAULT_BASE = {
    "openai": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    "hosted_vllm": ("HOSTED_VLLM_API_BASE",),
    "litellm_proxy": ("LITELLM_PROXY_API_BASE",),
    "openai_like": ("OPENAI_LIKE_API_BASE",),
}
_DEFAULT_KEY = {
    "openai": "OPENAI_API_KEY",
    "hosted_vllm": "HOSTED_VLLM_API_KEY",
    "litellm_proxy": "LITELLM_PROXY_API_KEY",
    "openai_like": "OPENAI_LIKE_API_KEY",
}
_KEY_HINT = ("Set it before starting the kernel, or without writing it into the notebook: "
             '%%python import os, getpass; os.environ["{var}"] = getpass.getpass()')


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
        self.provider, self._model_id = self._resolve_provider()
        self._fast: OpenAIStream | None = None
        if fast_path and self.provider in OPENAI_COMPATIBLE:
            self._fast = OpenAIStream(name, self.provider, num_retries=num_retries, sleep=sleep)

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

    @property
    def fast_path(self) -> bool:
        return self._fast is not None

    # -- keys ------------------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        """Read the key at call time from the environment; it is never stored, printed or persisted."""
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise MissingAPIKey(
                    f"{self.name} needs the environment variable {self.api_key_env}, which is not set",
                    model=self.name,
                    hint=_KEY_HINT.format(var=self.api_key_env),
                )
            return key
        if self.api_base and self.provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            return "sk-no-key-required"  # local OpenAI-compatible servers accept any key
        return None

    def check_key(self) -> None:
        if self.api_key_env or self.api_base:
            self._api_key()
            return
        env = get_litellm().validate_environment(model=self.name)
        if not env.get("keys_in_environment", True) and env.get("missing_keys"):
            missing = ", ".join(env["missing_keys"])
            raise MissingAPIKey(
                f"{self.name} needs {missing}, which is not set",
                model=self.name,
                hint=_KEY_HINT.format(var=env["missing_keys"][0]) + "; or use the embedded model: %model smollm2",
            )

    # -- Backend protocol ------------------------------------------------------------------------------
    def window(self) -> int:
        if self._window:
            return self._window
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
    def _endpoint(self) -> tuple[str, dict[str, str]]:
        """(chat completions URL, headers with the key): built per call so the key is never kept."""
        litellm = get_litellm()
        _, _, dynamic_key, base = litellm.get_llm_provider(self.name, api_base=self.api_base)
        base = base or self.api_base or next(
            (os.environ[v] for v in _DEFAULT_BASE[self.provider] if os.environ.get(v)), None)
        if not base and self.provider == "openai":
            base = getattr(litellm, "api_base", None) or "https://api.openai.com/v1"
        if not base:
            raise ModelNotFound(f"{self.name} needs a server address", model=self.name,
                                hint=f"Use %model {self.name} --api-base URL "
                                f"(or set {_DEFAULT_BASE[self.provider][0]}).")
        key = self._api_key() or dynamic_key or os.environ.get(_DEFAULT_KEY[self.provider])
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        organization = os.environ.get("OPENAI_ORGANIZATION") if self.provider == "openai" else None
        if organization:
            headers["OpenAI-Organization"] = organization
        url = base.rstrip("/")
        if not url.endswith("/chat/completions"):
            url += "/chat/completions"
        return url, headers

    def _request_body(self, messages: list[dict], params: CallParams) -> dict[str, Any]:
        # litellm maps the parameters per model (o-series and gpt-5 take max_completion_tokens, no temperature).
        optional = get_litellm().get_optional_params(
            model=self._model_id,
            custom_llm_provider=self.provider,
            temperature=params.temperature,
            max_tokens=params.max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        extra_body = optional.pop("extra_body", None) or {}
        return {"model": self._model_id, "messages": messages, **optional, **extra_body, **params.extra}

    def _stream_fast(self, messages: list[dict], params: CallParams) -> Iterator[Delta]:
        assert self._fast is not None
        try:
            url, headers = self._endpoint()
            body = self._request_body(messages, params)
            yield from self._fast.stream(url, body, headers, params.timeout)
        except Exception as exc:  # KeyboardInterrupt is not an Exception: interrupts pass through untouched
            raise explain(exc, self.name, api_base=self.api_base) from None

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
        key = self._api_key()
        if key:
            kwargs["api_key"] = key
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature
        if params.max_tokens is not None:
            kwargs["max_tokens"] = params.max_tokens
        kwargs.update(params.extra)
        return kwargs

    def _stream_litellm(self, messages: list[dict], params: CallParams) -> Iterator[Delta]:
        litellm = get_litellm()
        usage: Usage | None = None
        finish = None
        started = False
        attempt = 0
        kwargs = self._completion_kwargs(messages, params)
        budget = Budget(params.timeout) if params.timeout else None
        while True:
            if budget is not None:
                kwargs["timeout"] = budget.left()
            try:
                for chunk in litellm.completion(**kwargs):
                    if getattr(chunk, "usage", None):
                        u = chunk.usage
                        usage = Usage(u.prompt_tokens or 0, u.completion_tokens or 0, exact=True)
                    for choice in chunk.choices or ():
                        finish = choice.finish_reason or finish
                        text = getattr(choice.delta, "content", None)
                        if text:
                            started = True
                            yield Delta(text=text)
                break
            except Exception as exc:  # KeyboardInterrupt is not an Exception: interrupts pass through untouched
                if started:  # text is already on screen: report a broken stream, never retry
                    kind = "stalled" if isinstance(exc, litellm.Timeout) else "cut"
                    exc = BrokenStream(kind, f"broke off in the middle of the answer ({short_detail(exc)})")
                delay = next_retry(attempt, self.num_retries, budget, retry_headers(exc)) if is_transient(exc) else None
                if delay is None:
                    raise explain(exc, self.name, api_base=self.api_base) from None
                attempt += 1
                self._sleep(delay)
        yield Delta(usage=usage or Usage(exact=False), finish_reason=finish or "stop")

    def cost(self, usage: Usage) -> float | None:
        try:
            prompt, completion = get_litellm().cost_per_token(
                model=self.name, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
            )
            return float(prompt + completion)
        except Exception:
            return None  # unknown price (custom servers): shown as "-", not as 0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "provider": self.provider, "api_base": self.api_base,
                "streaming": "httpx" if self._fast is not None else "litellm"}
