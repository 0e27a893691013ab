"""What the user is shown of a tool call: the exact text that runs, never cut and never pattern-redacted, with a
sha256 digest to match the approval question with the step, %ps and the output metadata.

Why not ``redact.redact``: its patterns (``Bearer ...``, ``sk-...``, ``user:pass@``) are right for logs, but in
code they hide code: ``# Bearer x\\nos.system(...)`` showed as ``# [redacted]``, was approved, and ran. Here only
KNOWN secret values (the values of credential variables, ``redact.secret_values()``) are masked, and the display
says so next to the text, so nothing is hidden silently. Characters that hide or reorder text (controls other than
newline and tab, bidi overrides, zero-width characters) are shown as visible ``<U+202E>`` escapes.

Tool names shown in the cell come from the registry (checked against ``NAME`` when they are added) or, for a name
the model made up, through ``safe_name``: inert in Markdown and HTML alike.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from dataclasses import dataclass

from ..redact import secret_values

SECRET_MARK = "[secret value hidden]"
# A tool's own name (a user function, an MCP server's tool): no spaces, no line breaks, no Markdown.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_UNUSUAL = re.compile(r"[^\n\t -~]")  # everything but printable ASCII, newline and tab: looked at one by one
_HIDING = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, format (bidi, zero-width), unassigned, separators


def digest(arguments: str) -> str:
    """The sha256 of the exact arguments (UTF-8), as the model sent them and the tool got them."""
    return hashlib.sha256(arguments.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Masked:
    text: str
    secrets: int  # how many occurrences of known secret values were masked


def mask_known(text: str, secrets: list[str] | None = None) -> Masked:
    """``text`` with every known secret value (verbatim or JSON-escaped) replaced by SECRET_MARK; nothing else."""
    count = 0
    for secret in secret_values() if secrets is None else secrets:
        for spelling in dict.fromkeys((secret, json.dumps(secret)[1:-1])):
            found = text.count(spelling)
            if found:
                text = text.replace(spelling, SECRET_MARK)
                count += found
    return Masked(text, count)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return f"<U+{ord(char):04X}>" if unicodedata.category(char) in _HIDING else char


def visible(text: str) -> str:
    """Every character as itself, except those that would hide or reorder text, shown as ``<U+XXXX>``."""
    return _UNUSUAL.sub(_escape, text)


def readable_arguments(arguments: str) -> str:
    """``{"code": "a = 1\\nb"}`` as ``code:`` and the code on its own lines; anything else as written.

    The JSON is read the way the tool reads it (``json.loads``: a repeated key keeps its last value), so what is
    shown is what runs."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if not isinstance(value, dict) or not value:
        return arguments
    lines = []
    for key, item in value.items():
        text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        lines.append(f"{key}:\n{text}" if "\n" in text else f"{key}: {text}")
    return "\n".join(lines)


def shown_arguments(arguments: str) -> str:
    """The arguments as a person reads them: readable, complete, unusual characters made visible."""
    return visible(readable_arguments(arguments))


def secrets_note(count: int) -> str:
    """Said next to the arguments when known secret values were masked in them ("" when none were)."""
    if not count:
        return ""
    what = "a known secret value" if count == 1 else f"{count} occurrences of known secret values"
    return (f"⚠ the arguments contain {what} (an API key or token from the kernel's environment), "
            f"shown as {SECRET_MARK}; the digest is of the real text")


def safe_name(name: object) -> str:
    """A tool name to show: as is when it is a proper name, else every other character as ``\\uXXXX``."""
    text = str(name)
    if NAME.fullmatch(text):
        return text
    cut = text[:100]
    escaped = "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else f"\\u{ord(c):04x}" for c in cut)
    return f"(unusable name) {escaped}" + ("…" if len(text) > len(cut) else "")


def html_text(text: str) -> str:
    """Text for inside an HTML block that Markdown renders: escaped, and on ONE line (``&#10;`` for line
    breaks), since a blank line would end the HTML block and let the rest be read as Markdown."""
    return html.escape(visible(text)).replace("\n", "&#10;").replace("\t", "&#9;")
