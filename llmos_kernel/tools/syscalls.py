"""The syscall table of one kernel: the registry, the access policy, the approver and the settings, and the
choice of which tools a cell gets. The runtime asks this room for a ToolLoop; the magics change its state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..backends.base import tool_calling
from ..errors import ToolsUnsupported
from .approval import Approver
from .policy import Policy
from .registry import Registry, Tool, definitions_text

if TYPE_CHECKING:
    from .loop import CallRecord, ToolLoop

MAX_ROUNDS = 10
MAX_RESULT_CHARS = 16_000  # about 4,000 tokens: a bigger result is cut, with a marker the model can read


@dataclass
class Syscalls:
    registry: Registry = field(default_factory=Registry)
    policy: Policy = field(default_factory=Policy)
    approver: Approver = field(default_factory=Approver)
    enabled: bool = False  # %tools on: every prompt cell may call tools (a cell can say --tools / --no-tools)
    max_rounds: int = MAX_ROUNDS
    max_result_chars: int = MAX_RESULT_CHARS
    mcp: Any = None  # tools.mcp.MCPManager, created by the first %mcp add
    active: Any = None  # the running cell's ToolLoop (None: the cell calls no tools)

    @classmethod
    def from_settings(cls, settings: Any) -> Syscalls:
        """From a trusted config's [tools] (validate.ToolSettings)."""
        syscalls = cls(enabled=bool(settings.enabled), max_rounds=int(settings.max_rounds))
        for action in ("allow", "ask", "deny"):
            for pattern in getattr(settings, action):
                syscalls.policy.set(pattern, action)
        return syscalls

    def for_cell(self, patterns: list[str] | None, no_tools: bool) -> list[Tool]:
        """The tools a cell may call: none with --no-tools; those matching --tools; all when tools are on."""
        if no_tools or (patterns is None and not self.enabled):
            return []
        return self.registry.matching(patterns)

    def loop_for(self, backend: Any, patterns: list[str] | None, no_tools: bool, *,
                 on_call: Callable[[CallRecord], None], memory: Callable[[], Any] | None,
                 resident: Any = None) -> ToolLoop | None:
        """A cell's tool loop, or None when it calls no tools. The definitions it sends are counted in memory
        (``memory``; None for a --no-history cell), as JSON for a native caller, as the protocol text it adds to
        the system prompt otherwise; a cell without tools takes them off the map (``resident``: the memory if
        it exists)."""
        tools = self.for_cell(patterns, no_tools)
        self.active = None
        if not tools:
            if resident is not None:
                resident.set_tools(None)
            return None
        mode = tool_calling(backend)
        if mode == "none":
            raise ToolsUnsupported(
                f"{backend.name} cannot call tools (litellm's model map says it has no function calling)",
                model=backend.name, hint="Run the cell with --no-tools, or %tools off, or pick a model that can.")
        from .loop import ToolLoop  # loaded with the first cell that calls tools

        loop = self.active = ToolLoop(self, tools, on_call=on_call, on_step=lambda *_: None)
        # A server wrote its tools' descriptions: they reach the model as untrusted content (memory/taint.py).
        from_servers = any(tool.source.startswith("mcp:") for tool in tools)
        defs = loop.definitions()
        text = definitions_text(defs) if mode == "native" else backend.tool_prompt(defs)
        if memory is not None:
            memory().set_tools(text, names=[d["function"]["name"] for d in defs], from_servers=from_servers)
        elif from_servers:  # a --no-history cell: nothing resident, but its request carries them
            loop.tainted_here = resident is None or resident.taint.definitions_untrusted(text, from_servers)
        return loop

    def cell_tainted(self) -> bool:
        """Untrusted content arrived in the running cell (its calls reach memory only when it ends)."""
        return self.active is not None and bool(self.active.tainted_here)

    def close(self) -> None:
        if self.mcp is not None:
            self.mcp.close()
