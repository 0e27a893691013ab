"""What litellm knows about OpenAI-compatible models (window, prices, parameter names), without importing it.

litellm's figures come from the model map it ships as a JSON file (the one it loads itself when
LITELLM_LOCAL_MODEL_COST_MAP is set, as litellm_loader sets it). Reading that file takes ~20 ms; importing
litellm to ask it takes 3-4 s, which was most of the time from kernel launch to the first answer of a remote
model. So the fast path reads the same data here, and follows litellm's rules for OpenAI's reasoning models;
tests/backends/test_model_map.py checks every answer against litellm itself, for every OpenAI model in the map.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
from typing import Any

_lock = threading.Lock()
_map: dict[str, dict[str, Any]] | None = None
_MAP_FILE = "model_prices_and_context_window_backup.json"
_TIER = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")


def entries() -> dict[str, dict[str, Any]]:
    """litellm's bundled model map ({} when litellm is not installed), loaded once."""
    global _map
    if _map is None:
        with _lock:
            if _map is None:
                _map = _load()
    return _map


def _load() -> dict[str, dict[str, Any]]:
    spec = importlib.util.find_spec("litellm")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = os.path.join(list(spec.submodule_search_locations)[0], _MAP_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def is_openai_model(name: str) -> bool:
    """litellm's ``open_ai_chat_completion_models`` test: the map says the model is OpenAI's (fine-tunes too)."""
    if "ft:gpt-3.5-turbo" in name or "ft:gpt-4" in name:
        return True
    entry = entries().get(name)
    return bool(entry) and entry.get("litellm_provider") == "openai" and not (
        name.startswith("ft:") and name.count(":") <= 1)


def info(provider: str, model_id: str) -> dict[str, Any] | None:
    """The map's entry for a fast-path model, where litellm.get_model_info finds one: OpenAI's models, and any
    model of the map behind a LiteLLM proxy; a vLLM or OpenAI-like server's models are its own (None)."""
    entry = entries().get(model_id)
    if entry is None:
        return None
    if provider == "openai":
        return entry if entry.get("litellm_provider") == "openai" else None
    return entry if provider == "litellm_proxy" else None


def window(provider: str, model_id: str) -> int | None:
    entry = info(provider, model_id)
    size = entry and (entry.get("max_input_tokens") or entry.get("max_tokens"))
    return int(size) if size else None


def cost(provider: str, model_id: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for one call at the map's prices per token (its long-context tier when the prompt is past it)."""
    entry = info(provider, model_id)
    if not entry or entry.get("input_cost_per_token") is None or entry.get("output_cost_per_token") is None:
        return None
    input_price, output_price = entry["input_cost_per_token"], entry["output_cost_per_token"]
    tiers = sorted((int(m.group(1)), key) for key in entry if (m := _TIER.match(key)))
    for threshold, key in tiers:
        if prompt_tokens > threshold * 1000:
            input_price = entry[key]
            output_price = entry.get(key.replace("input_", "output_"), output_price)
    return float(prompt_tokens * input_price + completion_tokens * output_price)


def _supports(model_id: str, capability: str) -> bool:
    entry = entries().get(model_id) or {}
    return entry.get(capability) is True


def request_params(provider: str, model_id: str, temperature: float | None, max_tokens: int | None) -> dict:
    """temperature and the answer cap under the names the endpoint takes, as litellm.get_optional_params maps
    them with drop_params: OpenAI's reasoning models (o1, o3, o4-mini, gpt-5, ...) take max_completion_tokens
    and only temperature 1, unless the map says they accept reasoning_effort "none" (gpt-5.1 and later; the
    gpt-5 search models none at all);
    vLLM, LiteLLM proxies and OpenAI-like servers take the parameters as they are."""
    reasoning = provider == "openai" and (_is_o_series(model_id) or _is_gpt_5(model_id))
    search = reasoning and "search" in model_id  # gpt-5 search models take no sampling parameter at all
    params: dict[str, Any] = {}
    if temperature is not None and not search and (not reasoning or temperature == 1 or (
            _is_gpt_5(model_id) and _supports(model_id, "supports_none_reasoning_effort"))):
        params["temperature"] = temperature
    if max_tokens is not None:
        params["max_completion_tokens" if reasoning else "max_tokens"] = max_tokens
    return params


def _is_o_series(model_id: str) -> bool:
    name = model_id.split("/")[-1]
    return len(name) > 1 and name[0] == "o" and name[1].isdigit() and is_openai_model(name)


def _is_gpt_5(model_id: str) -> bool:
    return "gpt-5" in model_id and "gpt-5-chat" not in model_id
