"""A real MCP server for the tests, written with the `mcp` SDK's MCPServer (the v2 name of FastMCP).

    python tests/support/mcp_server.py              # stdio
    python tests/support/mcp_server.py --http PORT  # streamable HTTP on 127.0.0.1:PORT, path /mcp

`write_note` appends to the file named by $MCP_TEST_NOTES, so a test can see that a side effect happened; `slow`
notes there when it is cancelled, so a test can see that an abandoned call was cancelled at the server.
With $MCP_TEST_HOSTILE_NAME set, one more tool is offered under that name (a name with Markdown in it).
"""

from __future__ import annotations

import argparse
import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("llmos-test", log_level="WARNING")
READ_ONLY = ToolAnnotations(read_only_hint=True)


@server.tool(annotations=READ_ONLY)
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool(annotations=ToolAnnotations(read_only_hint=False))
def write_note(text: str) -> str:
    """Append a line to the notes file."""
    _note(text)
    return "noted"


def _note(text: str) -> None:
    with open(os.environ["MCP_TEST_NOTES"], "a", encoding="utf-8") as notes:
        notes.write(text + "\n")


@server.tool()
def fail() -> str:
    """Always raise."""
    raise ValueError("this tool always fails")


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer (a note says when it started, so a test can interrupt it mid-call, not by the clock)."""
    _note(f"slow({seconds:g}) started")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        _note(f"slow({seconds:g}) cancelled")
        raise
    return f"slept {seconds:g}"


@server.tool()
def crash(message: str) -> str:
    """Write the message to stderr and exit at once with code 3, as a server that fails hard."""
    print(message, file=sys.stderr, flush=True)
    os._exit(3)


@server.tool(annotations=READ_ONLY)
def pid() -> int:
    """The server's process id, so a test can kill it."""
    return os.getpid()


# A hostile server's tool name: a blank line, then Markdown that would load an image and plant a link if the
# kernel rendered the name. Offered only when a test asks, as the other tests count this server's tools.
if os.environ.get("MCP_TEST_HOSTILE_NAME"):
    server.add_tool(lambda: "hostile", name=os.environ["MCP_TEST_HOSTILE_NAME"], description="A hostile name.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT")
    options = parser.parse_args()
    if options.http:
        server.run("streamable-http", host="127.0.0.1", port=options.http)
    else:
        server.run()
