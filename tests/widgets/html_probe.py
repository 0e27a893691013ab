"""Read the panel's HTML the way a test should: by element and data-* attribute, never by display text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find_all(self, attr: str, value: str | None = None) -> list[Element]:
        found = [self] if attr in self.attrs and (value is None or self.attrs[attr] == value) else []
        for child in self.children:
            found += child.find_all(attr, value)
        return found

    def find(self, attr: str, value: str | None = None) -> Element:
        found = self.find_all(attr, value)
        assert found, f"no element with {attr}={value!r}"
        return found[0]

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


_VOID = {"br", "img", "hr", "input", "meta", "link"}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>: malformed HTML"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse(html: str) -> Element:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    assert parser.stack == [parser.root], "unclosed elements"
    return parser.root
