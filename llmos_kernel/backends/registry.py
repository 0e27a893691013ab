"""Turn a model name into a Backend, and list the models a user can pick."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFound
from ..redact import redact_url, register_key_variable
from .base import Backend
from .endpoints import host_of, same_endpoint
from .llamacpp import EMBEDDED_NAME, LlamaCppBackend, embedded_backend

EMBEDDED_ALIASES = {EMBEDDED_NAME, "embedded", "default", "smollm2-135m", "SmolLM2-135M-Instruct"}

# Provider -> (environment variable, a well-known model): what %models offers when the key is set.
PROVIDER_KEYS: dict[str, tuple[str, list[str]]] = {
    "openai": ("OPENAI_API_KEY", ["gpt-4o", "gpt-4o-mini", "gpt-4.1"]),
    "anthropic": ("ANTHROPIC_API_KEY", ["anthropic/claude-sonnet-4-20250514", "anthropic/claude-3-5-haiku-latest"]),
    "gemini": ("GEMINI_API_KEY", ["gemini/gemini-2.5-flash", "gemini/gemini-2.5-pro"]),
    "mistral": ("MISTRAL_API_KEY", ["mistral/mistral-large-latest"]),
    "groq": ("GROQ_API_KEY", ["groq/llama-3.3-70b-versatile"]),
    "deepseek": ("DEEPSEEK_API_KEY", ["deepseek/deepseek-chat"]),
    "openrouter": ("OPENROUTER_API_KEY", ["openrouter/openai/gpt-4o-mini"]),
}


@dataclass
class ModelSpec:
    """A model as configured by the user: an alias or %model options. Holds no key, only a variable's name."""

    name: str
    api_base: str | None = None
    api_key_env: str | None = None
    window: int | None = None

    def __post_init__(self) -> None:
        register_key_variable(self.api_key_env)  # its value is a secret, whatever the variable is called

    def describe(self) -> str:
        parts = [self.name]
        if self.api_base:  # shown in %model, %alias, the panel and the store: never a user:password@ part
            parts.append(f"--api-base {redact_url(self.api_base)}")
        if self.api_key_env:
            parts.append(f"--api-key-env {self.api_key_env}")
        return " ".join(parts)


    def with_options(self, api_base: str | None = None, api_key_env: str | None = None,
                     window: int | None = None) -> tuple[ModelSpec, str | None]:
        """This spec with the options given on %model (those win), and a note when a key was left behind.

        A key configured for an alias goes only to the alias's own endpoint (issue 21): ``%model ALIAS
        --api-base OTHER`` sends no key to OTHER unless ``--api-key-env`` names one for it. Otherwise the
        alias's key would go to whatever server a cell, a shared notebook or a typo names.
        """
        key = api_key_env or self.api_key_env
        note = None
        elsewhere = api_base is not None and not (self.api_base and same_endpoint(api_base, self.api_base))
        if elsewhere and self.api_key_env and not api_key_env:
            key = None
            note = (f"{self.api_key_env} is the key of {self.name}'s own endpoint, so it is not sent to "
                    f"{host_of(api_base or '')}; add --api-key-env VAR to send a key there.")
        spec = ModelSpec(self.name, api_base if api_base is not None else self.api_base, key,
                         window if window is not None else self.window)
        return spec, note


def is_embedded(name: str) -> bool:
    return name in EMBEDDED_ALIASES


def create_backend(spec: ModelSpec) -> Backend:
    name = spec.name.strip()
    if not name:
        raise ModelNotFound("no model name given", hint="Usage: %model NAME (see %models)")
    if is_embedded(name):
        return embedded_backend()
    if name.startswith("gguf:"):
        path = Path(os.path.expanduser(name[len("gguf:"):]))
        return LlamaCppBackend(path, name, label=path.name, n_ctx=spec.window)
    from .litellm_backend import LiteLLMBackend  # litellm only on first use of a remote model

    return LiteLLMBackend(name, api_base=spec.api_base, api_key_env=spec.api_key_env, window=spec.window)


def available_models(aliases: dict[str, ModelSpec]) -> list[tuple[str, str]]:
    """(name, why it is listed) for the embedded model, providers whose key is set, and configured aliases."""
    rows: list[tuple[str, str]] = [(EMBEDDED_NAME, "embedded, offline (SmolLM2-135M-Instruct on llama.cpp)")]
    for provider, (env, models) in PROVIDER_KEYS.items():
        if os.environ.get(env):
            rows += [(m, f"{provider}: {env} is set") for m in models]
    for alias, spec in aliases.items():
        rows.append((alias, f"alias: {spec.describe()}"))
    return rows
