"""Where a request to an OpenAI-compatible provider goes, and which key goes with it: decided here, only here.

The rule (issue 13): a provider's key goes only to that provider's own endpoint. OpenAI's key goes to
api.openai.com, or to the endpoint the user set for OpenAI in the environment (OPENAI_BASE_URL or
OPENAI_API_BASE); a vLLM, LiteLLM-proxy or OpenAI-like server's key to the endpoint set in its own variable. A
server given with ``--api-base`` gets a key only when the user names its variable (``--api-key-env VAR``, or
an alias of the trusted config with ``api_key_env``); otherwise no Authorization header is sent at all, so an
``OPENAI_API_KEY`` in the environment never reaches someone else's server.

Resolving these providers needs no litellm: the provider is the name's prefix and the endpoint comes from
``--api-base`` or the environment, with the variables litellm itself reads, so a user's setup means the same on
both paths. Importing litellm only to learn this cost 3-4 s before the first answer (benchmarks/bench_first_remote.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import MissingAPIKey, ModelNotFound
from . import model_map


@dataclass(frozen=True)
class Provider:
    base_vars: tuple[str, ...]  # variables that set the provider's own endpoint (litellm's names)
    key_var: str  # the variable holding the provider's key
    default_base: str | None = None  # its endpoint when no variable sets one
    key_required: bool = False  # a request without a key cannot succeed (OpenAI's own API)


# litellm providers that speak the OpenAI chat wire format: OpenAI itself, vLLM, LiteLLM proxies, and any
# OpenAI-compatible server given with --api-base (Ollama's /v1, llama.cpp's server, LM Studio, ...).
PROVIDERS: dict[str, Provider] = {
    "openai": Provider(("OPENAI_BASE_URL", "OPENAI_API_BASE"), "OPENAI_API_KEY", "https://api.openai.com/v1",
                       key_required=True),
    "hosted_vllm": Provider(("HOSTED_VLLM_API_BASE",), "HOSTED_VLLM_API_KEY"),
    "litellm_proxy": Provider(("LITELLM_PROXY_API_BASE",), "LITELLM_PROXY_API_KEY"),
    "openai_like": Provider(("OPENAI_LIKE_API_BASE",), "OPENAI_LIKE_API_KEY"),
}
OPENAI_COMPATIBLE = frozenset(PROVIDERS)

KEY_HINT = ("Set it before starting the kernel, or without writing it into the notebook: "
            '%%python import os, getpass; os.environ["{var}"] = getpass.getpass()')


def fast_provider(name: str, api_base: str | None) -> tuple[str, str] | None:
    """(provider, model id) for a name the fast path serves, as litellm.get_llm_provider would say; None when
    litellm has to decide (another provider, or a bare name with an --api-base, which litellm may map to the
    provider that host belongs to)."""
    prefix, _, rest = name.partition("/")
    if rest and prefix in PROVIDERS:
        return prefix, rest
    if not rest and api_base is None and model_map.is_openai_model(name):
        return "openai", name
    return None


def host_of(url: str) -> str:
    """host[:port] of a URL: who receives a request; never the user:password a URL may carry."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    host = parts.hostname or url
    return f"{host}:{parts.port}" if parts.port else host


def same_endpoint(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        url = url.strip().rstrip("/")
        return url[: -len("/chat/completions")] if url.endswith("/chat/completions") else url

    return norm(a) == norm(b)


@dataclass(frozen=True)
class Route:
    """Where a request goes and which variable's key goes with it (its name: the value is read per call)."""

    url: str  # the chat completions URL ("" on the litellm path without --api-base: litellm knows it)
    key_var: str | None  # None: no key is sent
    provider: str
    own_endpoint: bool  # the provider's own endpoint (not a server the user named with --api-base)

    @property
    def who(self) -> str:
        """Who receives the request: the host of its URL, or the provider when litellm decides the URL."""
        return host_of(self.url) if self.url else self.provider

    def headers(self) -> dict[str, str]:
        """The request's headers, built per call so that the key is never kept in an object."""
        headers: dict[str, str] = {}
        key = os.environ.get(self.key_var) if self.key_var else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        organization = os.environ.get("OPENAI_ORGANIZATION") if self.provider == "openai" else None
        if organization and self.own_endpoint:
            headers["OpenAI-Organization"] = organization
        return headers


def own_bases(provider: str) -> list[str]:
    """The provider's own endpoints, first the one its requests go to: what the user set in the environment
    for it, and its public API."""
    spec = PROVIDERS[provider]
    bases = [os.environ[v] for v in spec.base_vars if os.environ.get(v)][:1]
    return bases + ([spec.default_base] if spec.default_base else [])


def route(model: str, provider: str, api_base: str | None, api_key_env: str | None) -> Route:
    """The endpoint and key of one request; raises a clear error for a missing address or key."""
    spec = PROVIDERS[provider]
    own = own_bases(provider)
    base = api_base or (own[0] if own else None)
    if not base:
        raise ModelNotFound(f"{model} needs a server address", model=model,
                            hint=f"Use %model {model} --api-base URL (or set {spec.base_vars[0]}).")
    own_endpoint = any(same_endpoint(base, b) for b in own)
    if api_key_env:
        if not os.environ.get(api_key_env):
            raise MissingAPIKey(f"{model} needs the environment variable {api_key_env}, which is not set",
                                model=model, hint=KEY_HINT.format(var=api_key_env))
        key_var: str | None = api_key_env
    elif own_endpoint and os.environ.get(spec.key_var):
        key_var = spec.key_var
    elif own_endpoint and spec.key_required:
        raise MissingAPIKey(f"{model} needs {spec.key_var}, which is not set", model=model,
                            hint=KEY_HINT.format(var=spec.key_var) + "; or use the embedded model: %model smollm2")
    else:
        key_var = None
    url = base.rstrip("/")
    if not url.endswith("/chat/completions"):
        url += "/chat/completions"
    return Route(url, key_var, provider, own_endpoint)
