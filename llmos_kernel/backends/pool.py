"""One pooled HTTP client per endpoint (scheme, host and port), shared by every backend that talks to it.

Every alias on a team's proxy reaches the same host: one client each would open a connection per alias and
model, and %%compare over three proxy models would pay three handshakes. A shared ``httpx.Client`` keeps its
connections alive between cells and serves concurrent requests (%%compare's threads) from one pool; httpx
clients are safe to share between threads. The kernel closes them all at shutdown (kernel.py).

One client serves requests made with different keys (an alias per team member's key on one proxy), so it keeps
no cookies (issue 21): a ``Set-Cookie`` on an answer to one key's request would otherwise ride along on the
next key's requests, and a session cookie can stand for the key that earned it. No API we speak needs cookies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

import httpx

# Per endpoint: %%compare's columns and the catalogue's look-ups at once, with room to spare; a proxy's HTTP/1.1
# connection carries one stream at a time.
LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=60)


class _NoCookies(DefaultCookiePolicy):
    """A cookie policy that accepts none and returns none."""

    def set_ok(self, cookie: object, request: object) -> bool:
        return False

    def return_ok(self, cookie: object, request: object) -> bool:
        return False


def new_client() -> httpx.Client:
    """A client for one endpoint: pooled connections, and a cookie jar that stays empty."""
    return httpx.Client(limits=LIMITS, cookies=CookieJar(policy=_NoCookies()))


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
                client = self._clients[key] = new_client()
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



def finish_body(blocks: Iterator[bytes], max_reads: int = 8) -> None:
    """Read what is left of a streamed body once the answer is complete, so its connection returns to the pool.

    The SSE parser stops at ``data: [DONE]``, before the chunked body's terminator: closing the response there
    drops the connection (measured: every cell opened a new one). The rest is a few bytes, usually received
    already. It must come from the same iterator: a second one over the response would leave the first to close
    the connection later, under whichever request uses it then. A server that keeps sending after [DONE] is cut
    off after ``max_reads`` reads.
    """
    try:
        for reads, _ in enumerate(blocks, 1):
            if reads >= max_reads:
                return
    except httpx.HTTPError:
        return  # the connection is dropped on close, as before
