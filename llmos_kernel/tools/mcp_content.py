"""An MCP tool result as text for the model: text parts joined, anything else described in a few words."""

from __future__ import annotations

import json
from typing import Any


def result_text(result: Any) -> str:
    """The text of a ``CallToolResult``: its content blocks in order, else its structured content as JSON."""
    parts = [block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n".join(parts)


def block_text(block: Any) -> str:
    """One content block: text as it is; images, audio and resources as a short bracketed note."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return block.text
    if kind in ("image", "audio"):
        return f"[{kind} {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if kind == "resource_link":
        return f"[resource link {block.uri}" + (f" ({block.name})" if block.name else "") + "]"
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        if text is not None:
            return text
        mime = f" {resource.mime_type}" if resource.mime_type else ""
        return f"[resource {resource.uri}{mime}, {_decoded_size(resource.blob)} bytes]"
    return f"[{kind or type(block).__name__} content]"


def _decoded_size(base64_text: str) -> int:
    return len(base64_text) * 3 // 4 - base64_text[-2:].count("=")
