"""The access policy: every tool call is allowed, asked about, or denied, by rules the user controls.

Rules are glob patterns over a tool's path (``python``, ``fs.*``, ``mcp.github.*``), set with
``%tools allow|ask|deny PATTERN`` or in a trusted config file. The most specific matching rule wins (the
longest pattern without wildcards counted first), so ``%tools allow mcp.github.search`` beats
``mcp.github.*``; among equally specific rules the newest wins.

Taint: once content from a file, a folder listing, an MCP server (its results or its tools' descriptions) or
a user tool has entered the window, or anything made from it (memory/taint.py), a tool with side effects
(``python``, MCP tools not declared read-only, user tools) is asked about even when a rule allows it, until the
user clears the taint (``%tools trust``). That is the guard against the "lethal trifecta": untrusted input,
private data, and a way out.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

ACTIONS = ("allow", "ask", "deny")

DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("*", "ask"),  # anything not named below: user tools, MCP tools
    ("memory.*", "allow"),  # reading and noting in the kernel's own memory
    ("fs.list_files", "allow"),  # names only, confined to the notebook's folder (the names still taint)
    ("fs.read_file", "ask"),
    ("python", "ask"),
    ("mcp.*", "ask"),
)


@dataclass(frozen=True)
class Decision:
    action: str  # allow | ask | deny
    rule: str  # the pattern that decided, for the approval prompt and %ps
    tainted: bool = False  # asked only because untrusted content is in the window


def _specificity(pattern: str) -> tuple[int, int]:
    literal = len(pattern.replace("*", "").replace("?", ""))
    return (0 if any(c in pattern for c in "*?[") else 1, literal)


@dataclass
class Policy:
    rules: list[tuple[str, str]] = field(default_factory=lambda: list(DEFAULT_RULES))

    def set(self, pattern: str, action: str) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}: use allow, ask or deny")
        if not pattern.strip():
            raise ValueError("empty pattern")
        self.rules = [r for r in self.rules if r[0] != pattern] + [(pattern, action)]

    def rule_for(self, path: str) -> tuple[str, str]:
        matches = [(i, r) for i, r in enumerate(self.rules) if fnmatch.fnmatchcase(path, r[0])]
        if not matches:
            return ("*", "ask")
        return max(matches, key=lambda m: (_specificity(m[1][0]), m[0]))[1]

    def decide(self, path: str, *, side_effects: bool, tainted: bool) -> Decision:
        pattern, action = self.rule_for(path)
        if action == "allow" and tainted and side_effects:
            return Decision("ask", pattern, tainted=True)
        return Decision(action, pattern)

    def table(self) -> list[tuple[str, str]]:
        """The rules as the user reads them, most specific first."""
        return sorted(self.rules, key=lambda r: _specificity(r[0]), reverse=True)
