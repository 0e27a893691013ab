"""LiteLLMBackend: which path a provider takes, how the endpoint, key and parameters are resolved, and the
litellm.completion path's retries, against the real loopback server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmos_kernel.backends.base import CallParams
from llmos_kernel.backends.litellm_backend import LiteLLMBackend
from llmos_kernel.backends.provider_errors import ContextTooLong, StreamCut
from llmos_kernel.errors import MissingAPIKey, ModelNotFound, ProviderError

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize(
    ("name", "api_base", "fast"),
    [
        ("openai/x", "http://127.0.0.1:9/v1", True),
        ("gpt-4o-mini", None, True),
        ("hosted_vllm/m", "http://127.0.0.1:9/v1", True),
        ("litellm_proxy/m", "http://127.0.0.1:9", True),
        ("openai_like/m", "http://127.0.0.1:9/v1", True),
        ("lm_studio/m", "http://127.0.0.1:9/v1", False),
        ("anthropic/claude-3-5-haiku-latest", None, False),
        ("ollama/llama3", None, False),
    ],
)
def test_openai_compatible_providers_take_the_fast_path(name, api_base, fast):
    assert LiteLLMBackend(name, api_base=api_base).fast_path is fast


def test_parameters_are_mapped_per_model():
    body = LiteLLMBackend("o3-mini")._request_body(MESSAGES, CallParams(temperature=0.3, max_tokens=20))
    assert body["model"] == "o3-mini" and body["max_completion_tokens"] == 20 and "max_tokens" not in body
    assert "temperature" not in body  # o-series: temperature 1 only, dropped like litellm drops it
    body = LiteLLMBackend("openai/gpt-4o")._request_body(MESSAGES, CallParams(temperature=0.3, max_tokens=20))
    assert body["model"] == "gpt-4o" and body["max_tokens"] == 20 and body["temperature"] == 0.3
    assert body["stream_options"] == {"include_usage": True} and body["messages"] == MESSAGES
    body = LiteLLMBackend("hosted_vllm/o3-mini", api_base="http://h/v1")._request_body(
        MESSAGES, CallParams(temperature=0.3, max_tokens=20, extra={"top_p": 0.5}))
    assert body["max_tokens"] == 20 and body["temperature"] == 0.3 and body["top_p"] == 0.5


def test_endpoints_and_keys_come_from_the_environment(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORGANIZATION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-endpoint-test-0123456789")
    sent = LiteLLMBackend("gpt-4o").route()
    assert sent.url == "https://api.openai.com/v1/chat/completions"
    assert sent.headers() == {"Authorization": "Bearer sk-endpoint-test-0123456789"}

    monkeypatch.setenv("OPENAI_BASE_URL", "http://gateway.local/v1/")  # the user's own endpoint for OpenAI
    monkeypatch.setenv("OPENAI_ORGANIZATION", "org-123")
    sent = LiteLLMBackend("gpt-4o").route()
    assert sent.url == "http://gateway.local/v1/chat/completions" and sent.headers()["OpenAI-Organization"] == "org-123"
    assert sent.headers()["Authorization"] == "Bearer sk-endpoint-test-0123456789"

    monkeypatch.setenv("LITELLM_PROXY_API_BASE", "http://proxy.local:4000")
    monkeypatch.setenv("LITELLM_PROXY_API_KEY", "sk-proxy-key-0123456789")
    sent = LiteLLMBackend("litellm_proxy/team-model").route()
    assert sent.url == "http://proxy.local:4000/chat/completions"
    assert sent.headers() == {"Authorization": "Bearer sk-proxy-key-0123456789"}

    monkeypatch.delenv("OPENAI_ORGANIZATION")
    monkeypatch.setenv("MY_SERVER_KEY", "sk-from-named-var-0123456789")
    backend = LiteLLMBackend("openai/x", api_base="http://h/v1/chat/completions", api_key_env="MY_SERVER_KEY")
    sent = backend.route()
    assert (sent.url, sent.headers()) == ("http://h/v1/chat/completions",
                                          {"Authorization": "Bearer sk-from-named-var-0123456789"})
    assert "sk-from-named-var" not in repr(vars(backend)) + repr(sent)  # read at call time, never kept


@pytest.mark.parametrize(
    ("name", "api_base"),
    [
        ("openai/x", "http://10.9.9.9/v1"),  # a custom server: OpenAI's key is not its to have
        ("openai/x", "https://api.openai.com.evil.example/v1"),
        ("hosted_vllm/m", "http://10.9.9.9/v1"),  # vLLM's key only to the vLLM endpoint set for it
        ("litellm_proxy/m", "http://10.9.9.9"),
        ("openai_like/m", "http://10.9.9.9/v1"),
    ],
)
def test_a_providers_key_goes_only_to_its_own_endpoint(monkeypatch, name, api_base):
    for var, value in (("OPENAI_API_KEY", "sk-openai"), ("OPENAI_ORGANIZATION", "org-1"),
                       ("HOSTED_VLLM_API_KEY", "sk-vllm"), ("HOSTED_VLLM_API_BASE", "http://vllm.local/v1"),
                       ("LITELLM_PROXY_API_KEY", "sk-proxy"), ("LITELLM_PROXY_API_BASE", "http://proxy.local"),
                       ("OPENAI_LIKE_API_KEY", "sk-like"), ("OPENAI_LIKE_API_BASE", "http://like.local/v1")):
        monkeypatch.setenv(var, value)
    backend = LiteLLMBackend(name, api_base=api_base)
    backend.check_key()  # no key needed: none is sent
    assert backend.route().headers() == {}
    own = LiteLLMBackend(name).route()  # without --api-base: the provider's own endpoint gets its own key
    assert own.headers()["Authorization"].startswith("Bearer sk-") and own.own_endpoint
    monkeypatch.setenv("NAMED_CRED", "named-value")
    named = LiteLLMBackend(name, api_base=api_base, api_key_env="NAMED_CRED").route()
    assert named.headers() == {"Authorization": "Bearer named-value"}


def test_the_litellm_path_never_forwards_an_environment_key_to_a_custom_server(server, monkeypatch, slept):
    secret = "sk-lm-studio-secret-0000"
    monkeypatch.setenv("LM_STUDIO_API_KEY", secret)  # litellm reads it for lm_studio/ when given no key
    server.require_key = secret  # the server would take the environment's key: it must not get it
    with pytest.raises(MissingAPIKey, match="none was sent"):
        list(litellm_path(server, slept).stream(MESSAGES, CallParams()))
    assert server.requests[-1]["outcome"] == "unauthorized" and server.attempts == 1
    monkeypatch.setenv("NAMED_CRED", secret)  # named with --api-key-env, it goes
    server.queue_reply("ok")
    backend = LiteLLMBackend("lm_studio/test", api_base=server.url, api_key_env="NAMED_CRED", sleep=slept.append)
    assert "".join(d.text for d in backend.stream(MESSAGES, CallParams())) == "ok"


def test_fast_path_models_never_import_litellm(server):
    code = (
        "import sys\n"
        "from llmos_kernel.backends.litellm_backend import LiteLLMBackend\n"
        "from llmos_kernel.backends.base import CallParams, Usage\n"
        f"b = LiteLLMBackend('openai/gpt-4o', api_base={server.url!r})\n"
        "b.check_key(); w = b.window(); c = b.cost(Usage(1000, 100))\n"
        "text = ''.join(d.text for d in b.stream([{'role': 'user', 'content': 'hi'}], CallParams(max_tokens=5)))\n"
        "print(w, round(c, 6), text, 'litellm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["128000", "0.0035", "Echo:", "hi", "False"]


def test_missing_server_address_and_missing_key_are_clear(monkeypatch):
    monkeypatch.delenv("OPENAI_LIKE_API_BASE", raising=False)
    with pytest.raises(ModelNotFound, match="server address") as info:
        LiteLLMBackend("openai_like/m").route()
    assert "--api-base" in info.value.hint
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match="NOT_SET_KEY"):
        LiteLLMBackend("openai/x", api_base="http://h/v1", api_key_env="NOT_SET_KEY").check_key()


def test_fast_path_maps_errors_to_one_clear_message(server, slept):
    backend = LiteLLMBackend("openai/test", api_base=server.url, sleep=slept.append)
    server.queue_fault("context_length", limit=100)
    with pytest.raises(ContextTooLong, match="maximum context length is 100"):
        list(backend.stream(MESSAGES, CallParams()))
    server.queue_fault("cut", after=1)
    with pytest.raises(StreamCut) as info:
        list(backend.stream(MESSAGES, CallParams()))
    assert "openai/test" in str(info.value) and info.value.hint


# -- the litellm.completion path (every provider that is not OpenAI-compatible) --------------------------------

def litellm_path(server, slept) -> LiteLLMBackend:
    # lm_studio speaks the OpenAI format but is not on the fast path: litellm.completion against a real server.
    backend = LiteLLMBackend("lm_studio/test", api_base=server.url, sleep=slept.append)
    assert not backend.fast_path
    return backend


def test_litellm_path_streams_with_usage(server, slept):
    expected = server.queue_reply("Streamed through litellm.", chunks=4)
    deltas = list(litellm_path(server, slept).stream(MESSAGES, CallParams(max_tokens=10)))
    assert "".join(d.text for d in deltas) == expected and deltas[-1].usage.exact


def test_litellm_path_retries_are_ours_only(server, slept):
    server.set_fault_always("500")
    with pytest.raises(ProviderError, match="server error"):
        list(litellm_path(server, slept).stream(MESSAGES, CallParams()))
    # 3, not 9: the provider SDK's own retries are off, so the limit means what it says
    assert server.attempts == 3 and len(slept) == 2


def test_litellm_path_timeout_is_one_budget_for_every_attempt(server, slept):
    # No clock: a timeout not honoured would get the echo after 30 s (no error); one per attempt would retry.
    server.set_fault_always("hang", seconds=30)
    with pytest.raises(ProviderError, match="in time"):
        list(litellm_path(server, slept).stream(MESSAGES, CallParams(timeout=1.0)))
    assert server.attempts == 1 and slept == []
    server.reset()
    server.set_fault_always("500")
    with pytest.raises(ProviderError):
        list(litellm_path(server, slept).stream(MESSAGES, CallParams(timeout=10.0)))
    assert server.attempts == 3  # fast failures still get their retries


def test_litellm_path_honours_retry_after_and_never_retries_401(server, slept):
    server.queue_fault("429", retry_after=1)
    server.queue_reply("after the wait")
    backend = litellm_path(server, slept)
    list(backend.stream(MESSAGES, CallParams()))
    assert slept == [1.0] and server.attempts == 2
    server.reset()
    server.set_fault_always("401")
    with pytest.raises(MissingAPIKey, match="none was sent"):  # no key was named for this --api-base
        list(backend.stream(MESSAGES, CallParams()))
    assert server.attempts == 1


def test_litellm_path_cut_after_content_is_a_broken_stream_not_a_retry(server, slept):
    server.queue_fault("cut", after=2)
    with pytest.raises(StreamCut):
        list(litellm_path(server, slept).stream(MESSAGES, CallParams()))
    assert server.attempts == 1 and slept == []
