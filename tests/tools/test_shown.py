"""What a tool call shows (tools/shown.py), the names the registry accepts, and read_file's bounded read: pure logic.
The kernel-level behaviour is in test_call_disclosure_kernel.py."""

from __future__ import annotations

import hashlib
import json

import pytest

from llmos_kernel.tools.files import Sandbox
from llmos_kernel.tools.registry import Registry, Tool, ToolError, tool_from_function
from llmos_kernel.tools.shown import (
    SECRET_MARK,
    digest,
    html_text,
    mask_known,
    safe_name,
    secrets_note,
    shown_arguments,
    visible,
)


def test_arguments_are_shown_whole_with_only_known_secrets_masked():
    code = "# Bearer x\nos.system('id')\nurl = 'http://a:b@host'\nkey = 'sk-abcdefgh12345'\n" + "y = 1\n" * 600
    args = json.dumps({"code": code})
    assert shown_arguments(args) == "code:\n" + code  # every character, nothing pattern-redacted
    masked = mask_known(json.dumps({"code": "t = 'supersecret-123'\nu = 'supersecret-123'"}), ["supersecret-123"])
    assert "supersecret" not in masked.text and masked.text.count(SECRET_MARK) == 2 and masked.secrets == 2
    quoted = mask_known(json.dumps('a"quoted\\secret'), ['a"quoted\\secret'])  # the JSON-escaped spelling too
    assert quoted.secrets == 1 and "quoted" not in quoted.text
    assert "known secret value" in secrets_note(1) and secrets_note(0) == ""
    assert digest(args) == hashlib.sha256(args.encode()).hexdigest()


def test_characters_that_hide_text_are_made_visible():
    assert visible("a\u202eb\u200bc\rd\te\nf é 日本") == "a<U+202E>b<U+200B>c<U+000D>d\te\nf é 日本"
    one_line = html_text("x\n\ny\r\r<img src=x>")
    assert "\n" not in one_line and "\r" not in one_line and "<img" not in one_line


@pytest.mark.parametrize("name", ["x\n\n![i](http://h/i.png)", "a b", "tóol", "[c](javascript:alert(1))", "", "1" * 70])
def test_unusable_names_are_shown_inert_and_refused(name):
    shown = safe_name(name)
    assert shown.startswith("(unusable name)") and not set(shown) & set("\n\r[]!:<>`*")
    with pytest.raises(ToolError):
        tool_from_function(lambda: "x", name=name)
    with pytest.raises(ToolError):
        Registry().add(Tool("ok", f"mcp.s.{name}", "", {}, lambda a: ""))


def test_proper_names_pass():
    assert safe_name("fs.read_file") == "fs.read_file"
    registry = Registry()
    registry.add(tool_from_function(lambda: "x", name="weather_2"))
    registry.add(Tool("srv__get-item", "mcp.srv.get-item.v2", "", {}, lambda a: ""))
    assert set(registry.tools) == {"weather_2", "srv__get-item"}


def test_read_file_reads_only_what_it_shows(tmp_path):
    (tmp_path / "accents.txt").write_text("é" * 5000, encoding="utf-8")
    (tmp_path / "small.txt").write_text("é" * 300, encoding="utf-8")
    box = Sandbox(tmp_path)
    cut = box.read("accents.txt", 210)  # keeps 10 characters; a character split by the byte limit is left out
    assert cut.startswith("é" * 10 + "\n[... truncated") and "10,000 bytes" in cut
    assert box.read("small.txt", 400) == "é" * 300  # 600 bytes, more than the limit's 4 per kept character
