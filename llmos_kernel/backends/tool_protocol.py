"""Tool calls for a local model whose chat template has no tool support: a small JSON text protocol.

The definitions go at the end of the system prompt; the model calls a tool by answering with one JSON object
``{"tool": NAME, "arguments": {...}}`` and nothing else. The same parser reads the formats that tool-trained
models emit on their own (Hermes/Qwen ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``, Llama 3.1's
``{"name": ..., "parameters": ...}``), so a template that does render ``tools`` works with it too.
Earlier rounds are turned back into plain turns: the assistant's call as its JSON, a result as a user message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import ToolCall
from .limits import nested_deeper

_TAGGED = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def system_text(definitions: list[dict[str, Any]]) -> str:
    lines = ["You can call tools. To call one, answer with only this JSON, and nothing else:",
             '{"tool": "NAME", "arguments": {...}}',
             "The result comes back in the next message. When you need no tool, answer normally.", "Tools:"]
    for definition in definitions:
        function = definition["function"]
        params = json.dumps(function.get("parameters", {}).get("properties", {}), separators=(",", ":"))
        lines.append(f"- {function['name']}: {function.get('description', '')} Arguments: {params}")
    return "\n".join(lines)


def with_tools(messages: list[dict[str, Any]], definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request as plain chat turns, with the protocol in the system prompt."""
    text = system_text(definitions)
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            calls = [{"tool": c["function"]["name"], "arguments": _loads(c["function"].get("arguments"))}
                     for c in message["tool_calls"]]
            body = (message.get("content") or "") + "\n".join(json.dumps(c) for c in calls)
            out.append({"role": "assistant", "content": body.strip()})
        elif role == "tool":
            out.append({"role": "user", "content": f"[Tool result]\n{message.get('content', '')}"})
        else:
            out.append({"role": role, "content": message.get("content") or ""})
    if out and out[0]["role"] == "system":
        out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{text}"}
    else:
        out.insert(0, {"role": "system", "content": text})
    return out


def _loads(text: Any) -> Any:
    try:
        return json.loads(text or "{}")
    except (ValueError, RecursionError):
        return text


def parse_calls(text: str, known: set[str]) -> list[ToolCall]:
    """The tool calls in an answer, if the answer is only calls (else [] and the text is the answer)."""
    stripped = text.strip()
    if not stripped:
        return []
    tagged = _TAGGED.findall(stripped)
    candidates = tagged or [stripped.removeprefix("```json").removeprefix("```").removesuffix("```").strip()]
    calls: list[ToolCall] = []
    for n, candidate in enumerate(candidates):
        if nested_deeper(candidate):  # limits.py: no call nests past the cap, whichever path it came by
            return []
        try:
            data = json.loads(candidate)
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        name = data.get("tool") or data.get("name")
        arguments = data.get("arguments", data.get("parameters", {}))
        if not isinstance(name, str) or name not in known or not isinstance(arguments, dict):
            return []
        calls.append(ToolCall(f"call_{n}", name, json.dumps(arguments)))
    return calls


def looks_like_call(text: str) -> bool:
    """While streaming: could this start of an answer be a call (so hold it back instead of showing it)?"""
    head = text.lstrip()[:12]
    return head.startswith(("{", "<tool_call>", "```json", "```\n{")) or (head and "<tool_call>".startswith(head))
