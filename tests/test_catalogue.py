"""The model catalogue against the real loopback server: listings, windows from metadata, keys, dead endpoints.

Also: the proxy virtualenv installs the very pins the kernel declares (one reviewed litellm, one llama.cpp).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from llmos_kernel import catalogue
from llmos_kernel.backends.registry import ModelSpec
from tests.support.openai_server import MODELS, OpenAIServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh_cache():
    catalogue._CACHE.clear()
    yield
    catalogue._CACHE.clear()


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.mark.parametrize(("entry", "window"), [
    ({"id": "m", "max_model_len": 32768}, 32768),  # vLLM
    ({"id": "m", "context_length": 131072}, 131072),  # OpenRouter-style
    ({"id": "m", "meta": {"n_ctx_train": 8192}}, 8192),  # llama.cpp's server
    ({"id": "m", "max_model_len": "big"}, None),
    ({"id": "m"}, None),
])
def test_windows_from_listing_metadata(entry, window):
    assert catalogue._window(entry) == window


def test_report_lists_each_endpoint_its_models_and_aliases(server):
    aliases = {"fast": ModelSpec("openai/gpt-4o-mini", server.url, None, 16000),
               "gone": ModelSpec("openai/x", dead_url())}
    lines = catalogue.report(aliases)
    head = next(line for line in lines if line.startswith(f"endpoint {server.url} "))
    assert f"(openai, no key sent): {len(MODELS)} models" in head
    mini = next(line for line in lines if line.strip().startswith("openai/gpt-4o-mini "))
    assert "window 16,000 (from config)" in mini and "alias fast" in mini
    assert any("openai/test " in line and "window unknown" in line for line in lines)
    assert any(line.endswith("cannot reach it (ConnectError)") for line in lines)


def test_the_listing_gets_the_key_its_route_allows_and_is_cached(server, monkeypatch):
    monkeypatch.setenv("TEAM_KEY", "sk-team-secret-1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-to-a-custom-server")
    server.require_key = "sk-team-secret-1"  # /models is open on the loopback server; the chat would need it
    seen: list[dict] = []
    real_fetch = catalogue.fetch
    monkeypatch.setattr(catalogue, "fetch", lambda r: seen.append({"key_var": r.key_var}) or real_fetch(r))
    spec = ModelSpec("openai/test", server.url, "TEAM_KEY")
    assert catalogue.offer_for(spec.name, "openai", spec.api_base, spec.api_key_env).model == "test"
    assert catalogue.offer_for(spec.name, "openai", spec.api_base, spec.api_key_env) is not None
    assert seen == [{"key_var": "TEAM_KEY"}]  # asked once, with the named key; OPENAI_API_KEY stays home
    no_key = catalogue.routes({"x": ModelSpec("openai/test", server.url)})
    assert [r.key_var for r in no_key.values()] == [None]


def test_cached_only_never_asks(server, monkeypatch):
    monkeypatch.setattr(catalogue, "fetch", lambda r: pytest.fail("the panel must not wait on a network"))
    assert catalogue.listings({"a": ModelSpec("openai/test", server.url)}, cached_only=True) == []


def test_the_proxy_venv_installs_the_kernels_own_pins():
    declared = (ROOT / "pyproject.toml").read_text()
    wanted = (ROOT / "tests" / "proxy" / "requirements.txt").read_text()
    for package in ("litellm", "llama-cpp-python"):
        pin = re.search(rf'"{re.escape(package)}==([\d.]+)"', declared).group(1)
        assert re.search(rf"^{re.escape(package)}\[\w+\]=={re.escape(pin)}$", wanted, re.M), package
