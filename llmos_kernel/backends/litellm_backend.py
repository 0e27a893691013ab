"""Every provider litellm knows, and any OpenAI-compatible server or LiteLLM proxy through an api_base."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import MissingAPIKey, ModelNotFound
from ..memory.tokenizers import Tokenizer, tokenizer_for_model
from .base import CallParams, Delta, Usage
from .litellm_loader import get_litellm
from .provider_errors import explain

DEFAULT_WINDOW = 8192  # for models litellm has no figures for (custom servers); %window N sets the truth


class LiteLLMBackend:
    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        api_key_env: str | None = None,
        window: int | None = None,
        num_retries: int = 2,
    ) -> None:
        self.name = name
        self.label = name
        self.api_base = api_base
        self.api_key_env = api_key_env
        self.num_retries = num_retries
        self._window = window
        self._tokenizer: Tokenizer | None = None
        self.provider = self._resolve_provider()

    def _resolve_provider(self) -> str:
        litellm = get_litellm()
        try:
            _, provider, _, _ = litellm.get_llm_provider(self.name, api_base=self.api_base)
        except Exception:
            raise ModelNotFound(
                f"litellm does not know the model '{self.name}'",
                model=self.name,
                hint="Use a provider prefix (openai/NAME, anthropic/NAME, gemini/NAME, ollama/NAME, ...), "
                "add --api-base URL for an OpenAI-compatible server, or run %models to see what is set up.",
            ) from None
        return provider

    # -- keys ------------------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        """Read the key at call time from the environment; it is never stored, printed or persisted."""
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise MissingAPIKey(
                    f"{self.name} needs the environment variable {self.api_key_env}, which is not set",
                    model=self.name,
                    hint=f"Set {self.api_key_env} before starting the kernel (or %env {self.api_key_env}=...).",
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
                hint=f"Set {missing} in the kernel's environment (for example %env {env['missing_keys'][0]}=...), "
                "or use the embedded model: %model smollm2",
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
        litellm = get_litellm()
        self.check_key()
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": params.timeout,
            # The provider SDK's own retries (openai: 408/409/429/5xx with backoff, honouring Retry-After).
            # litellm's num_retries would also retry 401/404/400, which can never succeed.
            "max_retries": self.num_retries,
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
        usage: Usage | None = None
        finish = None
        try:
            response = litellm.completion(**kwargs)
            for chunk in response:
                if getattr(chunk, "usage", None):
                    u = chunk.usage
                    usage = Usage(u.prompt_tokens or 0, u.completion_tokens or 0, exact=True)
                for choice in chunk.choices or ():
                    finish = choice.finish_reason or finish
                    text = getattr(choice.delta, "content", None)
                    if text:
                        yield Delta(text=text)
        except Exception as exc:  # KeyboardInterrupt is not an Exception: interrupts pass through untouched
            raise explain(exc, self.name, api_base=self.api_base) from None
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
        return {"name": self.name, "label": self.label, "provider": self.provider, "api_base": self.api_base}
