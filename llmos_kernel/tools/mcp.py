"""MCP servers as peripherals: start them, list their tools, call them, notice when one dies.

The official `mcp` SDK is async (anyio), and the kernel's main thread runs IPython cells next to ipykernel's own
event loop. So every MCP session lives on ONE background thread with its own asyncio loop; the synchronous
methods below submit coroutines to it (``asyncio.run_coroutine_threadsafe``) and wait in short slices, so an
interrupt stops the wait promptly, and every wait is bounded.

Each server is a Link (mcp_link.py): its state, and one task on that loop that owns its transport and session.

``mcp`` is imported inside functions only: importing it takes about two seconds, which kernel start-up must not pay.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from . import mcp_link as link
from .mcp_link import STOP_TIMEOUT, Link, MCPError, MCPResult, MCPServerInfo, MCPTool

__all__ = ["MCPError", "MCPManager", "MCPResult", "MCPServerInfo", "MCPTool"]

T = TypeVar("T")

SERVER_NAME = re.compile(r"[A-Za-z0-9_-]+")  # tools join the registry as NAME.tool: no dots, no spaces
POLL = 0.1  # seconds between checks for an interrupt while the main thread waits
CALL_MARGIN = 5.0  # beyond a call's own timeout (the SDK's clock starts after the request is written)


class MCPManager:
    """The kernel's MCP servers, by name. Every method is synchronous and bounded; call close() at shutdown."""

    def __init__(self) -> None:
        self._servers: dict[str, Link] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- the synchronous interface (main thread) ---

    def add(self, name: str, *, command: list[str] | None = None, url: str | None = None,
            env: dict[str, str] | None = None, headers: dict[str, str] | None = None,
            timeout: float = 30.0) -> MCPServerInfo:
        """Start a server (stdio ``command`` or streamable HTTP ``url``), initialize it and list its tools.

        A name already used replaces the old server. On failure nothing is kept and MCPError says why.
        """
        _check(name, command, url)
        server = Link(name, list(command) if command else None, url, dict(env or {}), dict(headers or {}))
        if name in self._servers:
            self.remove(name)
        self._servers[name] = server
        try:
            self._start(server, timeout)
        except BaseException:
            self._servers.pop(name, None)
            raise
        return server.info()

    def remove(self, name: str) -> None:
        server = self._get(name)
        self._stop(server)
        del self._servers[name]

    def restart(self, name: str, timeout: float = 30.0) -> MCPServerInfo:
        old = self._get(name)
        self._stop(old)
        server = Link(name, old.command, old.url, old.env, old.headers)
        self._servers[name] = server
        self._start(server, timeout)  # a failure leaves the server listed as dead, ready for another restart
        return server.info()

    def servers(self) -> list[MCPServerInfo]:
        return [server.info() for server in self._servers.values()]

    def tools(self) -> list[MCPTool]:
        return [tool for server in self._servers.values() if server.state == "ready" for tool in server.tools]

    def call(self, server: str, tool: str, arguments: dict, timeout: float = 60.0) -> MCPResult:
        """Call one tool. A tool's own failure is an MCPResult with is_error; MCPError when the call cannot happen."""
        target = self._get(server)
        if target.state != "ready":
            raise MCPError(link.unavailable(target))
        if not isinstance(arguments, dict):
            return MCPResult(f"the arguments of {server}.{tool} must be a JSON object, not {type(arguments).__name__}",
                             True)
        future = self._submit(link.call(target, tool, arguments, timeout))
        return self._wait(future, timeout + CALL_MARGIN, f"{server}.{tool} did not answer within {timeout:g} s")

    def close(self) -> None:
        """Stop every server and the loop thread. Idempotent."""
        for name in list(self._servers):
            self.remove(name)
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT)
            if not thread.is_alive():
                loop.close()

    # --- helpers (main thread) ---

    def _get(self, name: str) -> Link:
        try:
            return self._servers[name]
        except KeyError:
            known = ", ".join(sorted(self._servers)) or "none"
            raise MCPError(f"no MCP server named {name!r} (servers: {known})") from None

    def _start(self, server: Link, timeout: float) -> None:
        late = f"MCP server {server.name} did not start within {timeout:g} s"
        try:
            self._wait(self._submit(link.start(server, timeout)), timeout + STOP_TIMEOUT, late)
        except MCPError as exc:
            server.die(str(exc))
            raise

    def _stop(self, server: Link) -> None:
        if server.runner is not None and self._loop is not None:
            self._wait(self._submit(link.stop(server)), STOP_TIMEOUT + 2, f"MCP server {server.name} did not stop")
        server.state, server.session = "stopped", None

    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            # A daemon thread: a kernel that exits without close() must not hang on it.
            self._thread = threading.Thread(target=self._loop.run_forever, name="llmos-mcp", daemon=True)
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    @staticmethod
    def _wait(future: concurrent.futures.Future[T], timeout: float, late: str) -> T:
        """The future's result, waiting in short slices so KeyboardInterrupt stops the wait (and cancels the work)."""
        deadline = time.monotonic() + timeout
        try:
            while not future.done():
                if time.monotonic() >= deadline:
                    future.cancel()
                    raise MCPError(late)
                concurrent.futures.wait([future], timeout=POLL)
        except KeyboardInterrupt:
            future.cancel()
            raise
        return future.result()



def _check(name: str, command: list[str] | None, url: str | None) -> None:
    if not SERVER_NAME.fullmatch(name or ""):
        raise MCPError(f"MCP server name {name!r}: use letters, digits, '_' and '-' only")
    if (command is None) == (url is None):
        raise MCPError(f"MCP server {name}: give either a command (stdio) or a URL (streamable HTTP)")
    if command is not None and not command:
        raise MCPError(f"MCP server {name}: the command is empty")
    if url is not None and not url.startswith(("http://", "https://")):
        raise MCPError(f"MCP server {name}: the URL must start with http:// or https://")
