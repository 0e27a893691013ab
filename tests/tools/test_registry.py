"""The tool registry: schemas from signatures (pydantic), argument checks, patterns, paging of definitions."""

from typing import Literal

import pytest

from llmos_kernel.tools.registry import LOAD_TOOLS, Registry, ToolError, tool_from_function, wire_name


def forecast(city: str, days: int = 3, unit: Literal["c", "f"] = "c") -> str:
    """Weather forecast for a city."""
    return f"{city}:{days}:{unit}"


def test_schema_from_signature_and_docstring():
    tool = tool_from_function(forecast)
    assert tool.path == "user.forecast" and tool.description == "Weather forecast for a city."
    props = tool.parameters["properties"]
    assert props["city"] == {"type": "string"} and props["days"] == {"default": 3, "type": "integer"}
    assert props["unit"]["enum"] == ["c", "f"] and tool.parameters["required"] == ["city"]


def test_arguments_are_checked_and_converted():
    tool = tool_from_function(forecast)
    assert tool.run({"city": "Oslo", "days": "2"}) == "Oslo:2:c"
    with pytest.raises(ToolError, match="days"):
        tool.run({"city": "Oslo", "days": "many"})
    with pytest.raises(ToolError, match="city"):
        tool.run({})
    assert tool_from_function(lambda: [1, 2], name="pair").run({}) == "[1, 2]"  # non-strings as repr


def test_names_and_patterns():
    registry = Registry()
    registry.add(tool_from_function(forecast))
    assert [t.name for t in registry.matching(["user.*"])] == ["forecast"]
    assert registry.matching(["python"]) == []
    assert wire_name("github.search issues") == "github_search_issues"
    with pytest.raises(ToolError):
        tool_from_function(forecast, name="not a name")


def test_many_tools_keep_only_names_resident():
    registry = Registry(resident_limit=4)
    tools = [registry.add(tool_from_function(forecast, name=f"t{i}")) for i in range(10)]
    defs, named = registry.definitions(tools)
    names = [d["function"]["name"] for d in defs]
    assert names[-1] == LOAD_TOOLS and len(named) == 10 and len(defs) == 1
    registry.used("t7")
    defs, named = registry.definitions(tools, paged_in={"t2"})
    names = [d["function"]["name"] for d in defs]
    assert set(names) == {"t7", "t2", LOAD_TOOLS} and len(named) == 8
    assert "t9: Weather forecast" in defs[-1]["function"]["description"]
    small = Registry()
    assert len(small.definitions(tools[:3])[0]) == 3  # few tools: every definition, no loader
