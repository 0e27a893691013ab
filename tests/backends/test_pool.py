"""One pooled client per endpoint, shared by backends, kept alive between cells, closed on demand."""

from __future__ import annotations

from llmos_kernel.backends.base import CallParams
from llmos_kernel.backends.litellm_backend import LiteLLMBackend
from llmos_kernel.backends.pool import POOL, ClientPool, endpoint_of
from tests.support.waits import wait_until


def test_one_client_per_scheme_host_and_port():
    pool = ClientPool()
    a = pool.client_for("http://127.0.0.1:4000/v1/chat/completions")
    assert pool.client_for("http://127.0.0.1:4000/v1/models") is a
    assert pool.client_for("http://127.0.0.1:4001/v1") is not a
    assert endpoint_of("https://user:pw@proxy.example/v1") == "https://proxy.example:443"
    pool.close_all()
    assert a.is_closed and pool.endpoints() == []
    assert not pool.client_for("http://127.0.0.1:4000/v1").is_closed  # a closed pool serves new clients


def test_backends_on_one_endpoint_share_a_kept_alive_connection(server):
    params = CallParams(max_tokens=5, timeout=10)
    backends = [LiteLLMBackend(f"openai/{name}", api_base=server.url, window=4000) for name in ("a", "b", "c")]
    for backend in backends * 2:
        server.queue_reply("fine")
        assert "".join(d.text for d in backend.stream([{"role": "user", "content": "hi"}], params)) == "fine"
    assert server.attempts == 6
    assert server.open_connections() == 1  # six cells on three models, one TCP connection
    POOL.close_all()  # what the kernel does at shutdown
    wait_until(lambda: server.open_connections() == 0, "the pooled connection closed at the server")
