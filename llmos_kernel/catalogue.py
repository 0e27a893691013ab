"""The team's model catalogue: what every configured OpenAI-compatible endpoint offers, with windows and prices.

An endpoint is any ``--api-base`` of an alias or of the current model, and a LiteLLM proxy, vLLM or OpenAI-like
server set in the environment (LITELLM_PROXY_API_BASE, ...). Each is asked ``GET /models`` with the key its
route allows (endpoints.py decides, as for a prompt). A model's window comes from that listing's metadata where
the server gives one (vLLM's ``max_model_len``, llama.cpp's ``meta.n_ctx_train``, ``context_length``), else
from a LiteLLM proxy's ``/model/info`` (its configured ``model_info.max_input_tokens``, which also carries the
prices it charges), else from the config (an alias's ``window``). Looks-ups are cached per endpoint for the
session, so a backend's window and cost cost no request per cell; %models refreshes.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .backends.endpoints import PROVIDERS, Route, fast_provider, host_of, route
from .backends.limits import head, loads
from .backends.registry import ModelSpec
from .errors import UserFacingError

LOOKUP_TIMEOUT = 3.0  # seconds for one endpoint's answer: %models must not hang on a dead server
LISTING_BYTES = 16 * 1024 * 1024  # a listing of hundreds of models is a few MB; past this, reading stops
TTL = 300.0  # seconds a listing is trusted before the next use asks again
# Where a model's window is in a /models entry, by server: vLLM, OpenRouter-style, LiteLLM, llama.cpp.
_WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "max_input_tokens")


@dataclass
class Offer:
    model: str  # the id on the endpoint
    window: int | None = None
    window_from: str = ""  # "the server" | "the proxy's model_info"
    input_cost: float | None = None  # per token, as the proxy publishes it
    output_cost: float | None = None


@dataclass
class Listing:
    base: str  # the endpoint's API base (.../v1)
    provider: str
    key_var: str | None
    offers: dict[str, Offer] = field(default_factory=dict)
    error: str | None = None
    fetched: float = field(default_factory=time.monotonic)

    @property
    def who(self) -> str:
        return host_of(self.base)


_CACHE: dict[str, Listing] = {}
_LOCK = threading.Lock()


def _base_of(r: Route) -> str:
    url = r.url
    return url[: -len("/chat/completions")] if url.endswith("/chat/completions") else url


def _window(entry: dict[str, Any]) -> int | None:
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    for value in [entry.get(k) for k in _WINDOW_KEYS] + [meta.get("n_ctx"), meta.get("n_ctx_train")]:
        if isinstance(value, int) and value > 0:
            return value
    return None


def fetch(r: Route) -> Listing:
    """Ask one endpoint what it offers (never raises: an unreachable endpoint is a listing with an error)."""
    import httpx

    from .backends.pool import POOL

    base = _base_of(r)
    listing = Listing(base, r.provider, r.key_var)
    client = POOL.client_for(base)
    try:
        status, data = _get_json(client, base + "/models", r.headers())
        if status >= 400:
            listing.error = f"answered {status} to GET /models"
            return listing
        for entry in data.get("data", []):
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                window = _window(entry)
                listing.offers[entry["id"]] = Offer(entry["id"], window, "the server" if window else "")
        _add_model_info(client, base, r, listing)
    except httpx.HTTPError as exc:
        listing.error = f"cannot reach it ({type(exc).__name__})"
    except (ValueError, AttributeError):
        listing.error = "its GET /models answer is not an OpenAI model list"
    return listing


def _add_model_info(client: Any, base: str, r: Route, listing: Listing) -> None:
    """A LiteLLM proxy's /model/info: each model's configured window and prices (other servers answer 404)."""
    status, data = _get_json(client, base + "/model/info", r.headers())
    if status >= 400:
        return
    for entry in data.get("data", []):
        offer = listing.offers.get(entry.get("model_name", "")) if isinstance(entry, dict) else None
        info = entry.get("model_info") if offer is not None else None
        if not isinstance(info, dict):
            continue
        window = info.get("max_input_tokens")
        if offer.window is None and isinstance(window, int) and window > 0:
            offer.window, offer.window_from = window, "the proxy's model_info"
        params = entry.get("litellm_params") or {}
        for attr, key in (("input_cost", "input_cost_per_token"), ("output_cost", "output_cost_per_token")):
            value = params.get(key, info.get(key))
            if isinstance(value, int | float):
                setattr(offer, attr, float(value))


def _get_json(client: Any, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    """(status, parsed body) of a GET, read up to LISTING_BYTES (backends/limits.py): a body too large or nested too
    deeply raises ValueError, as one that is not JSON does."""
    with client.stream("GET", url, headers=headers, timeout=LOOKUP_TIMEOUT) as response:
        if response.status_code >= 400:
            return response.status_code, None
        data = head(response, LISTING_BYTES + 1)
    if len(data) > LISTING_BYTES:
        raise ValueError("larger than the cap")
    return response.status_code, loads(data)


def listing_for(r: Route, refresh: bool = False) -> Listing:
    base = _base_of(r)
    with _LOCK:
        cached = _CACHE.get(base)
    if cached is not None and not refresh and time.monotonic() - cached.fetched < TTL:
        return cached
    listing = fetch(r)
    with _LOCK:
        _CACHE[base] = listing
    return listing


def offer_for(model: str, provider: str, api_base: str | None, api_key_env: str | None) -> Offer | None:
    """What the endpoint of a model says about it (cached), or None: used for its window and price."""
    try:
        r = route(model, provider, api_base, api_key_env)
    except UserFacingError:
        return None
    _, _, model_id = model.partition("/")
    return listing_for(r).offers.get(model_id)


def routes(aliases: dict[str, ModelSpec], current: ModelSpec | None = None) -> dict[str, Route]:
    """Every configured endpoint (by API base), with the route of its first model: whose key it gets."""
    found: dict[str, Route] = {}
    specs = list(aliases.values()) + ([current] if current else [])
    candidates = [(s.name, s.api_base, s.api_key_env) for s in specs if s.api_base]
    for provider, spec in PROVIDERS.items():
        if provider != "openai" and any(os.environ.get(v) for v in spec.base_vars):
            candidates.append((f"{provider}/*", None, None))
    for name, api_base, key_env in candidates:
        resolved = fast_provider(name, api_base)
        if resolved is None:
            continue
        try:
            r = route(name, resolved[0], api_base, key_env)
        except UserFacingError:
            continue
        found.setdefault(_base_of(r), r)
    return found


def listings(aliases: dict[str, ModelSpec], current: ModelSpec | None = None, refresh: bool = True,
             cached_only: bool = False) -> list[Listing]:
    """Every endpoint's listing, asked concurrently (cached_only: never a request, for the panel)."""
    found = routes(aliases, current)
    if cached_only:
        with _LOCK:
            return [_CACHE[b] for b in found if b in _CACHE]
    if not found:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(found))) as pool:
        return list(pool.map(lambda r: listing_for(r, refresh=refresh), found.values()))


def offered_specs(listing: Listing) -> list[tuple[str, ModelSpec, Offer]]:
    """(name to use, its spec, the offer) for each model of an endpoint: %model NAME reaches it as listed."""
    return [(f"{listing.provider}/{o.model}",
             ModelSpec(f"{listing.provider}/{o.model}", listing.base, listing.key_var, None), o)
            for o in listing.offers.values()]


def describe_offer(offer: Offer | None, configured: int | None = None) -> str:
    if offer is not None and offer.window:
        return f"window {offer.window:,} (from {offer.window_from})"
    if configured:
        return f"window {configured:,} (from config)"
    return "window unknown (set one: --window N)"


def report(aliases: dict[str, ModelSpec], current: ModelSpec | None = None) -> list[str]:
    """%models' lines for the endpoints: each one's models, windows and the aliases that name them."""
    named: dict[tuple[str, str], list[str]] = {}
    for alias, spec in aliases.items():
        if spec.api_base and "/" in spec.name:
            named.setdefault((spec.api_base.rstrip("/"), spec.name.split("/", 1)[1]), []).append(alias)
    lines: list[str] = []
    for listing in listings(aliases, current):
        key = f", key from {listing.key_var}" if listing.key_var else ", no key sent"
        if listing.error:
            lines.append(f"endpoint {listing.base} ({listing.provider}{key}): {listing.error}")
            continue
        count = len(listing.offers)
        lines.append(f"endpoint {listing.base} ({listing.provider}{key}): {count} model{'s' if count != 1 else ''}")
        for name, _spec, offer in offered_specs(listing):
            aliases_of = named.get((listing.base.rstrip("/"), offer.model), [])
            configured = next((aliases[a].window for a in aliases_of if aliases[a].window), None)
            suffix = f" · alias {', '.join(aliases_of)}" if aliases_of else ""
            lines.append(f"  {name:<40} {describe_offer(offer, configured)}{suffix}")
    return lines
