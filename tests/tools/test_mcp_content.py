"""A tool result as text, from the SDK's own content types."""

from __future__ import annotations

import base64

from mcp.types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from llmos_kernel.tools.mcp_content import result_text

PNG = base64.b64encode(b"\x89PNG" + bytes(96)).decode()  # 100 bytes


def test_text_parts_are_joined_and_other_content_is_described():
    result = CallToolResult(content=[
        TextContent(text="first"),
        ImageContent(data=PNG, mime_type="image/png"),
        ResourceLink(uri="file:///data/report.csv", name="report"),
        EmbeddedResource(resource=TextResourceContents(uri="file:///a.txt", text="inline text")),
        EmbeddedResource(resource=BlobResourceContents(uri="file:///b.bin", blob=PNG, mime_type="application/x")),
        TextContent(text="last"),
    ])
    assert result_text(result).splitlines() == [
        "first",
        "[image image/png, 100 bytes]",
        "[resource link file:///data/report.csv (report)]",
        "inline text",
        "[resource file:///b.bin application/x, 100 bytes]",
        "last",
    ]


def test_structured_content_stands_in_for_missing_text():
    assert result_text(CallToolResult(content=[], structured_content={"n": 1, "é": [2]})) == '{"n": 1, "é": [2]}'
    assert result_text(CallToolResult(content=[])) == ""
