"""model_map answers what litellm answers (window, price, parameter names, provider), without importing litellm:
checked against litellm itself for every OpenAI model in its map and a spread of other names."""

from __future__ import annotations

import subprocess
import sys

import litellm
import pytest

from llmos_kernel.backends import model_map
from llmos_kernel.backends.endpoints import PROVIDERS, fast_provider
from llmos_kernel.backends.litellm_loader import get_litellm

get_litellm()  # litellm configured as the kernel configures it (drop_params, the local map)

# Not "ft:..." (fine-tune price rows, which litellm itself resolves to no provider) nor "openai/container" rows.
OPENAI_MODELS = sorted(k for k, v in litellm.model_cost.items() if v.get("litellm_provider") == "openai"
                       and v.get("mode") == "chat" and not k.startswith("ft:") and "/" not in k)
OTHERS = ["x", "test", "gpt-4o", "gpt-5-custom", "o9-future", "claude-sonnet-4-20250514", "gemini/gemini-2.5-flash",
          "deepseek/deepseek-chat", "mistral/mistral-large-latest", "text-embedding-3-small", "meta-llama/Llama-3-8b"]
NAMES = [f"{p}/{m}" for p in PROVIDERS for m in OTHERS] + [f"openai/{m}" for m in OPENAI_MODELS] + OPENAI_MODELS


def litellm_window(name: str) -> int | None:
    try:
        info = litellm.get_model_info(name)
    except Exception:
        return None
    size = info.get("max_input_tokens") or info.get("max_tokens")
    return int(size) if size else None


def litellm_cost(name: str, prompt: int, completion: int) -> float | None:
    try:
        return float(sum(litellm.cost_per_token(model=name, prompt_tokens=prompt, completion_tokens=completion)))
    except Exception:
        return None


def test_the_map_is_litellms_own():
    assert model_map.entries().keys() == litellm.model_cost.keys() and len(OPENAI_MODELS) > 20


@pytest.mark.parametrize("name", NAMES)
def test_provider_window_and_price_agree_with_litellm(name):
    resolved = fast_provider(name, None)
    assert resolved is not None
    model_id, provider, _, _ = litellm.get_llm_provider(name)
    assert resolved == (provider, model_id)
    assert model_map.window(provider, model_id) == litellm_window(name)
    for prompt, completion in ((1000, 100), (300_000, 2000)):
        ours, theirs = model_map.cost(provider, model_id, prompt, completion), litellm_cost(name, prompt, completion)
        assert ours == pytest.approx(theirs, rel=1e-9) if theirs is not None else ours is None


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_named_as_litellm_names_them(name):
    provider, model_id = fast_provider(name, None)
    for temperature in (None, 0, 0.3, 1):
        theirs = litellm.get_optional_params(model=model_id, custom_llm_provider=provider, temperature=temperature,
                                             max_tokens=20)
        theirs.pop("extra_body", None)
        theirs.pop("stream", None)
        assert model_map.request_params(provider, model_id, temperature, 20) == theirs, (temperature, theirs)


def test_names_litellm_must_resolve_are_left_to_it():
    assert fast_provider("anthropic/claude-sonnet-4-20250514", None) is None
    assert fast_provider("definitely-not-a-model", None) is None
    assert fast_provider("gpt-4o", "https://api.groq.com/openai/v1") is None  # litellm maps known hosts
    assert fast_provider("lm_studio/m", "http://127.0.0.1:9/v1") is None


def test_reading_the_map_does_not_import_litellm():
    code = ("import sys; from llmos_kernel.backends import model_map as m;"
            "assert m.window('openai', 'gpt-4o') and m.cost('openai', 'gpt-4o', 10, 10);"
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
