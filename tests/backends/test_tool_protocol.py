"""The JSON text protocol for local models, and assembling streamed tool_calls deltas (pure logic)."""

import json

from llmos_kernel.backends.base import ToolCallAssembler
from llmos_kernel.backends.tool_protocol import looks_like_call, parse_calls, system_text, with_tools

CODE = {"type": "object", "properties": {"code": {"type": "string"}}}
DEFS = [{"type": "function", "function": {"name": "python", "description": "Run code.", "parameters": CODE}}]


def test_system_text_and_message_conversion():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "python", "arguments": "{\"code\": \"1\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "1"}]
    out = with_tools(messages, DEFS)
    assert out[0]["content"].startswith("Be brief.") and "- python: Run code." in out[0]["content"]
    assert json.loads(out[2]["content"]) == {"tool": "python", "arguments": {"code": "1"}}
    assert out[3] == {"role": "user", "content": "[Tool result]\n1"}
    assert system_text(DEFS) in out[0]["content"]


def test_parse_calls():
    known = {"python"}
    assert parse_calls('{"tool": "python", "arguments": {"code": "2"}}', known)[0].arguments == '{"code": "2"}'
    tagged = '<tool_call>{"name": "python", "arguments": {"code": "3"}}</tool_call>'
    assert parse_calls(tagged, known)[0].name == "python"
    assert parse_calls('```json\n{"name": "python", "parameters": {"code": "4"}}\n```', known)
    assert parse_calls('{"tool": "rm", "arguments": {}}', known) == []  # unknown tools are just text
    assert parse_calls("The answer is {x}.", known) == [] and parse_calls("", known) == []
    assert looks_like_call('  {"to') and looks_like_call("<tool_") and not looks_like_call("Sure, ")


def test_assembler_interleaved_parallel_fragments():
    calls = ToolCallAssembler()
    calls.add([{"index": 0, "id": "a", "function": {"name": "python", "arguments": ""}}])
    calls.add([{"index": 1, "id": "b", "function": {"name": "read_file", "arguments": "{\"pa"}}])
    calls.add([{"index": 0, "function": {"arguments": "{\"code\": "}}])
    calls.add([{"index": 1, "function": {"arguments": "th\": \"x\"}"}},
               {"index": 0, "function": {"arguments": "\"1\"}"}}])
    done = calls.calls()
    assert [(c.id, c.name, json.loads(c.arguments)) for c in done] == [
        ("a", "python", {"code": "1"}), ("b", "read_file", {"path": "x"})]
