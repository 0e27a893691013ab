"""One pooled HTTP client per endpoint (scheme, host and port), shared by every backend that talks to it.

Every alias on a team's proxy reaches the same host: one client each would open a connection per alias and
model, and %%compare over three proxy models would pay three handshakes. A shared ``httpx.Client`` keeps its
connections alive between cells and serves concurrent requests (%%compare's threads) from one pool; httpx
clients are safe to share between threads. The kernel closes them all at shutdown (kernel.py).
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import httpx

# Per endpoint: %%compare's columns and the catalogue's look-ups at once, with room to spare; a proxy's HTTP/1.1
# connection carries one stream at a time.
LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=60)


def endpoint_of(url: str) -> str:
    """scheme://host:port of a URL: what one client serves (paths and credentials play no part)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


class ClientPool:
    def __init__(self) -> None:
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def client_for(self, url: str) -> httpx.Client:
        key = endpoint_of(url)
        with self._lock:
            client = self._clients.get(key)
            if client is None or client.is_closed:
                client = self._clients[key] = httpx.Client(limits=LIMITS)
            return client

    def endpoints(self) -> list[str]:
        with self._lock:
            return [k for k, c in self._clients.items() if not c.is_closed]

    def close_all(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


POOL = ClientPool()  # the kernel process's pool
