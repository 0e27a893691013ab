"""One MCP server's link, on the manager's loop thread: its state, and the task that owns its transport and session.

The runner task owns the transport and the ``ClientSession`` from start to end (anyio's cancel scopes must be
entered and left by the same task); calls are tasks of their own. The runner relays the transport's incoming
messages to the session, so it sees the moment that stream ends (a stdio server that exited, a closed connection)
and marks the server dead at once, with a reason. ``mcp`` is imported inside functions only (see mcp.py).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from llmos_kernel.backends.limits import RESULT_CHARS, cut
from llmos_kernel.errors import UserFacingError
from llmos_kernel.redact import is_secret, redact, redact_url, secret_values

from .mcp_content import result_text
from .shown import NAME, safe_name

STOP_TIMEOUT = 10.0  # a stdio server's shutdown in the SDK: close stdin, 2 s, SIGTERM, 2 s, SIGKILL, 2 s
MAX_PAGES = 100  # tools/list pages: a server whose cursor never ends cannot hang add()
STDERR_TAIL = 4096  # bytes of a server's stderr read to find its last words
HTTP_TIMEOUT = 30.0  # connect/write, as the SDK's own default HTTP client
HTTP_READ_TIMEOUT = 300.0  # a server may hold a response stream open


class MCPError(UserFacingError):
    """An MCP server could not be started, reached or called; the message is one line for the user."""

    title = "MCP error"


@dataclass
class MCPTool:
    """One tool a server offers."""

    server: str
    name: str
    description: str
    input_schema: dict
    # The server's readOnlyHint annotation; False when absent. Only a claim: shown by %mcp, never trusted to
    # relax asking (the user declares read-only tools with %mcp add NAME --read-only TOOL[,TOOL]).
    read_only: bool


@dataclass
class MCPServerInfo:
    name: str
    transport: str  # "stdio" | "http"
    target: str  # the command line or the URL, with secrets redacted
    state: str  # "starting" | "ready" | "dead" | "stopped"
    error: str  # one line when dead
    tools: list[MCPTool]
    skipped: list[str] = field(default_factory=list)  # tools with unusable names, escaped (shown.safe_name)


@dataclass
class MCPResult:
    text: str
    is_error: bool


@dataclass
class Link:
    """A server's parameters and live state. The loop thread changes the state; the main thread reads copies."""

    name: str
    command: list[str] | None
    url: str | None
    env: dict[str, str]
    headers: dict[str, str]
    state: str = "starting"
    error: str = ""
    tools: list[MCPTool] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # offered tools whose names are unusable, escaped
    session: Any = None  # the ClientSession while ready
    stderr: IO[bytes] | None = None
    heard_at: int = 0  # stderr's size when the server last answered
    runner: asyncio.Task | None = None
    scope: Any = None  # the anyio.CancelScope of the session: cancelled, the runner closes session and transport

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    @property
    def target(self) -> str:
        if self.command:
            return redact(shlex.join(self.command), self.secrets())
        return redact(redact_url(self.url or ""), self.secrets())

    def secrets(self) -> list[str]:
        """What must never show: the kernel's credentials, secret-looking env values, every header value."""
        values = [v for k, v in self.env.items() if is_secret(k, v)] + list(self.headers.values())
        return sorted({v for v in values if v}, key=len, reverse=True) + secret_values()

    def info(self) -> MCPServerInfo:
        return MCPServerInfo(self.name, self.transport, self.target, self.state, self.error, list(self.tools),
                             list(self.skipped))

    def die(self, reason: str) -> None:
        if self.state in ("starting", "ready"):
            self.state, self.error, self.session = "dead", redact(reason, self.secrets()), None

    def _stderr_size(self) -> int:
        if self.stderr is None or self.stderr.closed or not hasattr(os, "pread"):
            return 0
        return os.fstat(self.stderr.fileno()).st_size

    def heard(self) -> None:
        """The server just answered: what it wrote to stderr so far (logged tool errors) is not why it may die."""
        self.heard_at = self._stderr_size()

    def last_words(self) -> str:
        """The last line the server wrote to stderr since it last answered (a crash's traceback ends with why)."""
        size = self._stderr_size()
        if size <= self.heard_at:
            return ""
        start = max(self.heard_at, size - STDERR_TAIL)
        # pread leaves the file offset alone: the server's writes go on at the offset it shares with us.
        tail = os.pread(self.stderr.fileno(), size - start, start).decode("utf-8", "replace")  # type: ignore[union-attr]
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def ended(self) -> str:
        """Why the server's message stream ended, in one line."""
        if not self.command:
            return "the server closed the connection"
        words = self.last_words()
        return f"the server exited: {words}" if words else "the server exited"


def unavailable(server: Link) -> str:
    why = f" ({server.error})" if server.error else ""
    return f"MCP server {server.name} is {server.state}{why}; restart it with %mcp restart {server.name}"


# --- coroutines ---


async def start(server: Link, timeout: float) -> None:
    """Start the server's runner and wait until it is ready; on failure stop it and raise MCPError."""
    import anyio

    server.scope = anyio.CancelScope()  # before the runner starts: a stop may come before it enters the scope
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server.runner = asyncio.create_task(_run(server, ready))
    try:
        failure = await asyncio.wait_for(asyncio.shield(ready), timeout)
    except asyncio.TimeoutError:
        words = server.last_words()
        failure = f"did not answer within {timeout:g} s" + (f" (its last words: {words})" if words else "")
    except BaseException:  # cancelled: an interrupt in the main thread
        await stop(server)
        raise
    if failure:
        server.die(failure)
        await stop(server)
        raise MCPError(f"MCP server {server.name}: {server.error}")


async def stop(server: Link) -> None:
    """Let the runner close its session and transport; cancel its task only if that takes too long."""
    if server.state in ("starting", "ready"):
        server.state = "stopped"  # first: a call that sees the connection close now must not report a death
    runner = server.runner
    if runner is None or runner.done():
        return
    server.scope.cancel()
    done, _ = await asyncio.wait({runner}, timeout=STOP_TIMEOUT)
    if not done:  # a native cancel can cut the SDK's shielded shutdown short: only when it is stuck anyway
        runner.cancel()
        await asyncio.wait({runner}, timeout=1.0)


async def _run(server: Link, ready: asyncio.Future[str]) -> None:
    """Own the server's transport and session from start to end; set ``ready`` to "" or to the reason it failed.

    Cancelling ``server.scope`` (a stop, a failed start, the transport's end) closes the session; the transport
    then shuts down outside that scope, so a stdio server gets the SDK's whole shutdown (close stdin, then
    SIGTERM, then SIGKILL) and an HTTP session its DELETE.
    """
    import anyio
    from mcp import ClientSession

    try:
        async with _connect(server) as (read, write), anyio.create_task_group() as relay:
            send, receive = anyio.create_memory_object_stream(0)
            relay.start_soon(_relay, server, read, send)
            with server.scope:
                async with ClientSession(receive, write) as session:
                    initialized = await session.initialize()
                    tools = await _list_tools(session, server) if initialized.capabilities.tools else []
                    server.tools, server.session, server.state = tools, session, "ready"
                    server.heard()
                    ready.set_result("")
                    await anyio.sleep_forever()
            relay.cancel_scope.cancel()
    except Exception as exc:  # noqa: BLE001 - any failure of a peripheral is reported, never raised into the loop
        server.die(server.error or _describe(exc, server))
    finally:
        server.session = None
        if not ready.done():
            ready.set_result(server.error or "stopped during start-up")
        if server.stderr is not None:
            server.stderr.close()


async def _relay(server: Link, read: Any, send: Any) -> None:
    """Pass the transport's messages to the session; when the transport's stream ends, the server is dead."""
    import anyio

    try:
        async for item in read:
            await send.send(item)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        return  # the session or the transport is closing: our own shutdown, or a failure the runner reports
    else:
        server.die(server.ended())  # before the session hears of it, so a pending call sees the reason
        server.scope.cancel()
    finally:
        await send.aclose()


def _connect(server: Link) -> Any:
    """The SDK's transport context for the server: a subprocess over stdio, or streamable HTTP."""
    if server.command:
        from mcp import StdioServerParameters, stdio_client

        # stderr goes to a file: the server's logs stay out of the cells (ipykernel forwards fd 2), and its last
        # line says why it died. env is merged by the SDK over a minimal inherited set (PATH, HOME, ...), so the
        # kernel's own credentials do not reach a server unless the user passes them.
        server.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the runner closes it when the server ends
        parameters = StdioServerParameters(command=server.command[0], args=server.command[1:], env=server.env or None)
        return stdio_client(parameters, errlog=server.stderr)
    return _http(server)


def _http(server: Link) -> Any:
    import contextlib

    import httpx2  # the SDK's own HTTP client library (a dependency of mcp 2.x)
    from mcp.client.streamable_http import streamable_http_client

    @contextlib.asynccontextmanager
    async def connect() -> Any:
        timeout = httpx2.Timeout(HTTP_TIMEOUT, read=HTTP_READ_TIMEOUT)
        async with httpx2.AsyncClient(headers=server.headers, timeout=timeout) as client, \
                streamable_http_client(server.url or "", http_client=client) as streams:
            yield streams

    return connect()


async def _list_tools(session: Any, server: Link) -> list[MCPTool]:
    """The server's tools; one whose name is not a plain name (shown.NAME) is skipped and noted: names are
    shown in the cell, where a line break or Markdown in one would be rendered."""
    from mcp.types import PaginatedRequestParams

    tools: list[MCPTool] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        for tool in page.tools:
            if not NAME.fullmatch(tool.name):
                server.skipped.append(safe_name(tool.name))
                continue
            read_only = bool(tool.annotations and tool.annotations.read_only_hint)
            tools.append(MCPTool(server.name, tool.name, tool.description or "", dict(tool.input_schema), read_only))
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


async def call(server: Link, tool: str, arguments: dict, timeout: float) -> MCPResult:
    from mcp import MCPError as ProtocolError
    from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

    session = server.session
    if session is None:
        raise MCPError(unavailable(server))
    try:
        result = await session.call_tool(tool, arguments, read_timeout_seconds=timeout)
        server.heard()
    except ProtocolError as exc:
        if exc.code not in (CONNECTION_CLOSED, REQUEST_TIMEOUT):
            server.heard()
        if exc.code == REQUEST_TIMEOUT:
            raise MCPError(f"{server.name}.{tool} did not answer within {timeout:g} s") from None
        if exc.code != CONNECTION_CLOSED:  # the server refused this call (unknown tool, bad arguments): the model
            return MCPResult(redact(str(exc), server.secrets()), True)  # can read that and go on
        if server.runner is not None:  # the runner records why the connection closed
            await asyncio.wait({server.runner}, timeout=2.0)
        server.die(server.ended())
        server.scope.cancel()  # a runner still holding the transport lets go of it
        raise MCPError(unavailable(server)) from None
    except RuntimeError as exc:  # a result that breaks the tool's declared output schema
        return MCPResult(redact(str(exc), server.secrets()), True)
    except Exception as exc:  # noqa: BLE001 - a malformed answer: one line, not a traceback of the SDK
        raise MCPError(f"{server.name}.{tool} failed: {redact(_describe(exc, server), server.secrets())}") from None
    # Cut before it is masked and kept (limits.py): a server may answer with any amount; the loop cuts it again.
    text = cut(result_text(result), RESULT_CHARS, "the server's result")
    return MCPResult(redact(text, server.secrets()), bool(result.is_error))


def _describe(exc: BaseException, server: Link) -> str:
    """One line for a failure of the runner: the innermost exception of any exception group, in words."""
    while getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    if server.command and isinstance(exc, FileNotFoundError):
        return f"cannot start {server.command[0]!r}: command not found"
    if server.command and isinstance(exc, PermissionError):
        return f"cannot start {server.command[0]!r}: permission denied"
    if server.command and isinstance(exc, OSError) and exc.strerror:
        return f"cannot start {server.command[0]!r}: {exc.strerror}"
    name = type(exc).__name__
    if not server.command and ("Connect" in name or isinstance(exc, OSError)):
        return f"cannot reach {server.target}"
    text = (str(exc).strip().splitlines() or [""])[0]
    if type(exc).__module__.startswith("mcp"):
        return f"the server answered with an error: {text}"
    return f"{name}: {text}" if text else name
