"""The tool registry: every tool the model may call, with the JSON schema the model sees.

Names: ``name`` is what the model calls (OpenAI allows only ``[A-Za-z0-9_-]``), ``path`` is what the user and
the access policy see: ``python``, ``fs.read_file``, ``memory.recall``, ``user.NAME``, ``mcp.SERVER.TOOL``.
A user function's schema comes from its signature, type hints and docstring through pydantic (``TypeAdapter``
builds the JSON schema, ``validate_call`` checks and converts the model's arguments), not by hand.

Both are checked when a tool is added (``Registry.add``): names are shown in the cell's Markdown, where a line
break or Markdown in a name (an MCP server chooses its tools' names) could load images or plant links.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_WIRE_NAME = re.compile(r"[^A-Za-z0-9_-]")
WIRE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what OpenAI accepts as a function name
USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # a user tool: also its wire name, so no dots
PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")  # dotted plain names: mcp.srv.tool
MAX_PATH = 160


class ToolError(Exception):
    """A tool failed in a way the model should hear about (bad arguments, a refused path, ...)."""


@dataclass
class Tool:
    name: str  # what the model calls
    path: str  # what the policy and the user see
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any]], str]
    side_effects: bool = True  # the taint guard makes these ask while untrusted content is in the window
    taints: bool = True  # its results are untrusted content (files, servers, program output)
    source: str = "builtin"  # builtin | user | mcp:SERVER

    def definition(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def stub(self) -> str:
        """One line for a tool whose full definition is not resident (see Registry.definitions)."""
        first = self.description.strip().splitlines()[0] if self.description.strip() else ""
        return f"{self.name}: {first[:80]}"


def wire_name(text: str) -> str:
    return _WIRE_NAME.sub("_", text)[:64]


def schema_of(func: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema of a function's arguments, from its signature and type hints (pydantic)."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(func).json_schema()
    schema.pop("additionalProperties", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)  # "title": "City" for city tells the model nothing and costs tokens
    return schema


def tool_from_function(func: Callable[..., Any], name: str | None = None, *, side_effects: bool = True) -> Tool:
    """A user tool from any Python function; its result is sent back as ``repr`` unless it is a string."""
    from pydantic import ValidationError, validate_call

    tool_name = name or func.__name__
    if not isinstance(tool_name, str) or not USER_NAME.fullmatch(tool_name):
        raise ToolError(f"{tool_name!r} is not a usable tool name (ASCII letters, digits and _, at most 64, "
                        "not starting with a digit)")
    checked = validate_call(func)

    def run(arguments: dict[str, Any]) -> str:
        try:
            result = checked(**arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            raise ToolError(f"bad arguments for {tool_name}: {problems}") from None
        return result if isinstance(result, str) else repr(result)

    doc = inspect.cleandoc(func.__doc__ or "") or f"The Python function {tool_name}."
    return Tool(tool_name, f"user.{tool_name}", doc, schema_of(func), run, side_effects=side_effects,
                source="user")


@dataclass
class Registry:
    tools: dict[str, Tool] = field(default_factory=dict)  # by wire name
    # With more tools than this, only the names of the others are resident; a definition is paged in on use.
    resident_limit: int = 12
    recently_used: list[str] = field(default_factory=list)  # wire names, most recent last

    def add(self, tool: Tool) -> Tool:
        if not WIRE_NAME.fullmatch(tool.name) or len(tool.path) > MAX_PATH or not PATH.fullmatch(tool.path):
            raise ToolError(f"{tool.path!r} is not a usable tool name (ASCII letters, digits, '_', '-' and '.')")
        self.tools[tool.name] = tool
        return tool

    def remove(self, name: str) -> Tool | None:
        """By the name the model calls or the path the user sees."""
        tool = self.tools.get(name) or next((t for t in self.tools.values() if t.path == name), None)
        return self.tools.pop(tool.name) if tool else None

    def remove_source(self, source: str) -> None:
        for tool in [t for t in self.tools.values() if t.source == source]:
            del self.tools[tool.name]

    def get(self, name: str) -> Tool | None:
        return self.tools.get(name)

    def matching(self, patterns: Iterable[str] | None) -> list[Tool]:
        """Tools whose path or name matches one of the patterns (all tools when None)."""
        tools = list(self.tools.values())
        if patterns is None:
            return tools
        pats = list(patterns)
        return [t for t in tools if any(fnmatch.fnmatchcase(t.path, p) or fnmatch.fnmatchcase(t.name, p)
                                        for p in pats)]

    def used(self, name: str) -> None:
        if name in self.recently_used:
            self.recently_used.remove(name)
        self.recently_used.append(name)

    def definitions(self, tools: list[Tool], paged_in: set[str] | None = None) -> tuple[list[dict], list[Tool]]:
        """The ``tools`` parameter for a request, and which tools are only named in it.

        With at most ``resident_limit`` tools every definition is sent. Beyond that (MCP servers can offer
        dozens, each costing hundreds of tokens), the most recently used and those paged in for this cell are
        sent in full, and the rest are listed by name in one ``load_tools`` tool that pages them in.
        """
        if len(tools) <= self.resident_limit:
            return [t.definition() for t in tools], []
        wanted = set(paged_in or ())
        for name in reversed(self.recently_used):
            if len(wanted) >= self.resident_limit - 1:
                break
            wanted.add(name)
        full = [t for t in tools if t.name in wanted]
        named = [t for t in tools if t.name not in wanted]
        loader = {"type": "function", "function": {
            "name": LOAD_TOOLS,
            "description": "Load the full definitions of tools you want to call; then call them. "
                           "Available: " + "; ".join(t.stub() for t in named),
            "parameters": {"type": "object", "properties": {
                "names": {"type": "array", "items": {"type": "string"}}}, "required": ["names"]},
        }}
        return [t.definition() for t in full] + [loader], named


LOAD_TOOLS = "load_tools"


def definitions_text(definitions: list[dict]) -> str:
    """The definitions as counted in memory: the JSON that is sent."""
    return json.dumps(definitions, separators=(",", ":"), ensure_ascii=False)
