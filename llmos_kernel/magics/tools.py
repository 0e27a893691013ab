"""Syscall magics: which tools cells may call, the access policy, user tools and MCP servers."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from ..errors import UserFacingError
from ..memory.taint import notice
from ..runtime import Runtime
from ..tools import user
from ..tools.approval import watch_widget_frontend
from ..tools.builtins import builtin_tools
from ..tools.policy import ACTIONS
from ..tools.registry import Tool, ToolError, tool_from_function, wire_name
from ..tools.shown import safe_name
from .args import usage_line

APPROVAL_MODES = ("auto", "widget", "stdin")


class ToolsError(UserFacingError):
    title = "Tools"


@magics_class
class ToolMagics(Magics):
    def __init__(self, shell: Any, runtime: Runtime, root: Path | None = None) -> None:
        super().__init__(shell)
        self.runtime = runtime
        self.syscalls = runtime.syscalls
        folder = (root or Path.cwd()).resolve()  # the notebook's folder, fixed at start: a chdir cannot widen it
        for tool in builtin_tools(lambda: shell.user_ns, lambda: folder, lambda: runtime.memory,
                                  lambda: self.syscalls.max_result_chars, self.syscalls.cell_tainted):
            self.syscalls.registry.add(tool)
        user.activate(self.syscalls)
        watch_widget_frontend()  # so "auto" approval knows whether this frontend shows widgets
        self._read_only: dict[str, set[str]] = {}  # MCP tools the user declared read-only, by server

    @line_magic
    def tools(self, line: str) -> None:
        """%tools [on|off | allow|ask|deny PATTERN | rounds N | approval auto|widget|stdin | trust] - tools the model may call, and the access policy

        Without arguments: every tool with the rule that applies to it, the policy's rules, and whether
        untrusted content entered the session (then tools with side effects ask even when allowed). It stays
        so after that content is evicted; ``%tools trust`` says you vouch for what is in the window now and
        clears it (swapped untrusted segments keep their mark and taint the session again if paged back in).
        """
        words = shlex.split(line)
        if not words:
            self._show()
            return
        verb, rest = words[0], words[1:]
        if verb in ("on", "off") and not rest:
            self.syscalls.enabled = verb == "on"
            print(f"tools {verb}: prompt cells {'may' if verb == 'on' else 'may not'} call tools"
                  + (" (a cell can still say --tools PATTERN)" if verb == "off" else " (--no-tools for one cell)"))
        elif verb in ACTIONS and len(rest) == 1:
            self.syscalls.policy.set(rest[0], verb)
            matched = [t.path for t in self.syscalls.registry.matching([rest[0]])]
            print(f"{verb} {rest[0]}" + (f" ({', '.join(matched)})" if matched else " (no tool matches it yet)"))
        elif verb == "rounds" and len(rest) == 1 and rest[0].isdigit() and 1 <= int(rest[0]) <= 1000:
            self.syscalls.max_rounds = int(rest[0])
            print(f"at most {rest[0]} tool rounds per cell")
        elif verb == "trust" and not rest:
            self._trust()
        elif verb == "approval" and len(rest) == 1 and rest[0] in APPROVAL_MODES:
            self.syscalls.approver.mode = rest[0]
            print(f"approval: {rest[0]}")
        else:
            raise ToolsError(f"cannot read %tools {line.strip()}", hint="Usage: " + _usage(ToolMagics.tools))

    def _show(self) -> None:
        syscalls = self.syscalls
        state = "on" if syscalls.enabled else "off (a cell can say --tools PATTERN; %tools on for every cell)"
        print(f"tools: {state}; at most {syscalls.max_rounds} rounds per cell; approval: {syscalls.approver.mode}")
        memory = self.runtime.loaded_memory
        if memory is not None and memory.tainted:
            print(notice(memory.taint_report()))
        print(f"\n{'tool':<28} {'rule':<6} {'side effects':<12} source")
        for tool in sorted(syscalls.registry.tools.values(), key=lambda t: t.path):
            pattern, action = syscalls.policy.rule_for(tool.path)
            print(f"{tool.path[:28]:<28} {action:<6} {'yes' if tool.side_effects else 'no':<12} {tool.source}"
                  + ("" if pattern == tool.path else f"  (by {pattern})"))
        print("\npolicy (the most specific pattern wins):")
        for pattern, action in syscalls.policy.table():
            print(f"  {action:<6} {pattern}")

    def _trust(self) -> None:
        memory = self.runtime.loaded_memory
        cleared = memory.trust() if memory is not None else []
        self.runtime.notify("memory")  # the panel's badge goes
        print("trusted: tools with side effects follow their rules again"
              + (f" (cleared: {'; '.join(cleared)})" if cleared else " (nothing was tainted)"))
        swapped = memory.swap.untrusted_count() if memory is not None else 0
        if swapped:
            print(f"{swapped} untrusted segment(s) in swap keep their mark: recalling one taints the session again")

    @line_magic
    def tool(self, line: str) -> None:
        """%tool add NAME [--read-only] | %tool remove NAME - make a Python function of the notebook a tool (or use @tool)"""
        words = shlex.split(line)
        if len(words) >= 2 and words[0] == "add" and set(words[2:]) <= {"--read-only"}:
            name = words[1]
            func = self.shell.user_ns.get(name)
            if not callable(func):
                raise ToolsError(f"{name} is not a function in the notebook's namespace",
                                 hint="Define it in a %%python cell first, or decorate it with @tool.")
            try:
                added = self.syscalls.registry.add(tool_from_function(func, name,
                                                                      side_effects="--read-only" not in words))
            except ToolError as exc:
                raise ToolsError(str(exc)) from None
            except Exception as exc:  # pydantic cannot build a schema for some signatures: say which
                raise ToolsError(f"{name}: no JSON schema for its arguments ({type(exc).__name__}: {exc})",
                                 hint="Give its parameters plain type hints (str, int, float, bool, list, ...).") \
                    from None
            print(f"tool {added.path}: {', '.join(added.parameters.get('properties', {})) or 'no arguments'}")
        elif len(words) == 2 and words[0] == "remove":
            removed = self.syscalls.registry.remove(words[1]) or self.syscalls.registry.remove(f"user.{words[1]}")
            if removed is None:
                raise ToolsError(f"no tool {words[1]}", hint="%tools lists them.")
            print(f"removed {removed.path}")
        else:
            raise ToolsError(f"cannot read %tool {line.strip()}", hint="Usage: " + _usage(ToolMagics.tool))

    @line_magic
    def mcp(self, line: str) -> None:
        """%mcp [add NAME [--env VAR]... [--read-only TOOL[,TOOL]] -- COMMAND ARGS | add NAME --url URL [--read-only TOOL[,TOOL]] | restart NAME | remove NAME] - MCP servers as peripherals (list them without arguments)

        A stdio server gets only a minimal environment (PATH, HOME, ...) plus the variables named with --env:
        your API keys do not reach it unless you say so. Every MCP tool counts as having side effects (so it
        asks while untrusted content is in the window) unless YOU name it with --read-only: a server's own
        readOnlyHint is shown by %mcp but never trusted.
        """
        head, sep, command = line.partition(" -- ")
        words = shlex.split(head)
        if not words:
            self._list_servers()
            return
        verb = words[0]
        env_vars = _option(words, "--env")
        read_only = {name for value in _option(words, "--read-only") for name in value.split(",") if name}
        words = [w for i, w in enumerate(words)
                 if w not in ("--env", "--read-only") and (i == 0 or words[i - 1] not in ("--env", "--read-only"))]
        if verb == "add" and len(words) >= 2:
            self._read_only[words[1]] = read_only
        if verb == "add" and len(words) == 2 and sep and command.strip():
            missing = [var for var in env_vars if var not in os.environ]
            if missing:
                raise ToolsError(f"--env {missing[0]}: no such variable in the kernel's environment")
            env = {var: os.environ[var] for var in env_vars}  # only what the user names reaches the server
            self._added(self._manager().add(words[1], command=shlex.split(command), env=env or None))
        elif verb == "add" and len(words) == 4 and words[2] == "--url":
            self._added(self._manager().add(words[1], url=words[3]))
        elif verb == "restart" and len(words) == 2:
            self._added(self._manager().restart(words[1]))
        elif verb == "remove" and len(words) == 2:
            self._manager().remove(words[1])
            self._read_only.pop(words[1], None)
            self.syscalls.registry.remove_source(f"mcp:{words[1]}")
            print(f"removed MCP server {words[1]}")
        else:
            raise ToolsError(f"cannot read %mcp {line.strip()}", hint="Usage: " + _usage(ToolMagics.mcp))

    def _manager(self) -> Any:
        if self.syscalls.mcp is None:
            from ..tools.mcp import MCPManager

            self.syscalls.mcp = MCPManager()
        return _Reported(self.syscalls.mcp)

    def _added(self, info: Any) -> None:
        registry = self.syscalls.registry
        registry.remove_source(f"mcp:{info.name}")
        declared = self._read_only.get(info.name, set())
        skipped = list(info.skipped)
        for found in info.tools:
            try:
                registry.add(mcp_tool(self.syscalls, found, read_only=found.name in declared))
            except ToolError:
                skipped.append(safe_name(found.name))
        names = ", ".join(f"{info.name}.{t.name}" for t in info.tools if safe_name(t.name) not in skipped)
        print(f"MCP server {info.name} ({info.transport}): {info.state}; tools: {names or 'no tools'}")
        if skipped:
            print(f"skipped {len(skipped)} tool(s) with unusable names (letters, digits, '_', '.', '-' only): "
                  + ", ".join(skipped))
        unknown = sorted(declared - {t.name for t in info.tools})
        if unknown:
            print(f"--read-only names no tool of {info.name}: {', '.join(safe_name(n) for n in unknown)}")

    def _list_servers(self) -> None:
        if self.syscalls.mcp is None or not self.syscalls.mcp.servers():
            print("no MCP servers (add one: %mcp add NAME -- COMMAND ARGS, or %mcp add NAME --url URL)")
            return
        for info in self.syscalls.mcp.servers():
            state = info.state + (f": {info.error}" if info.error else "")
            print(f"{info.name:<16} {info.transport:<6} {state:<30} {info.target}")
            declared = self._read_only.get(info.name, set())
            for found in info.tools:
                # Only the user's word makes a tool read-only; the server's claim is shown as a claim.
                flag = ("read-only" if found.name in declared
                        else "side effects (server claims read-only; not trusted)" if found.read_only
                        else "side effects")
                print(f"    {info.name}.{found.name:<24} {flag:<13} {found.description.splitlines()[0][:60] if found.description else ''}")


class _Reported:
    """The MCP manager, with its errors as one clear message in the cell."""

    def __init__(self, manager: Any) -> None:
        self._manager = manager

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._manager, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            from ..tools.mcp import MCPError

            try:
                return method(*args, **kwargs)
            except MCPError as exc:
                raise ToolsError(str(exc), hint="%mcp lists the servers and their state.") from None

        return call


def _option(words: list[str], flag: str) -> list[str]:
    """The values given after each ``flag`` in ``words``."""
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == flag]


def mcp_tool(syscalls: Any, found: Any, *, read_only: bool = False) -> Tool:
    """An MCP server's tool as a registry entry: NAME.tool to the user, mcp.NAME.tool to the policy. It has side
    effects unless the user declared it read-only (``read_only``); the server's readOnlyHint does not count."""
    server, name = found.server, found.name

    def run(arguments: dict[str, Any]) -> str:
        from ..tools.mcp import MCPError

        try:
            result = syscalls.mcp.call(server, name, arguments)
        except MCPError as exc:
            raise ToolError(str(exc)) from None
        if result.is_error:
            raise ToolError(result.text or "the server reported an error")
        return result.text

    return Tool(wire_name(f"{server}__{name}"), f"mcp.{server}.{name}", found.description or name,
                found.input_schema or {"type": "object", "properties": {}}, run,
                side_effects=not read_only, taints=True, source=f"mcp:{server}")


def _usage(func: Any) -> str:
    return usage_line(func).split(" - ")[0]  # the docstring's usage line, as every magic's error shows it
