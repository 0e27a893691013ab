"""render.py: every answer leaves the kernel sanitized, in every format, while it streams and when it ends."""

from __future__ import annotations

from llmos_kernel.render import CompareDisplay, format_body
from llmos_kernel.sanitize import NO_MATH
from tests.test_prompt_programs import k, server  # noqa: F401  (a kernel on the loopback server: fast, slow)

PAYLOAD = "<img src=x onerror=alert(1)>"
ANSWER = f"Hi {PAYLOAD} and [x](javascript:alert(1))\n\n```html\n<b>kept as code</b>\n```\n\n$a < b$"


def test_text_and_code_formats_cannot_be_closed_by_the_answer():
    text = f"a\n```\n{PAYLOAD}\n```\nb"
    body = format_body(text, "text")
    assert body == f"````text\n{text}\n````"  # the whole answer is the code block's text
    assert format_body("x = 1", "code") == "```\nx = 1\n```"
    assert format_body('{"a": 1}', "json") == '```json\n{"a": 1}\n```'
    assert format_body("x^2", "math") == "$$\nx^2\n$$"


def test_compare_columns_are_text_in_html_and_sanitized_in_markdown():
    view = CompareDisplay(["<b>m1</b>", "m2"])
    view.columns[0].text = ANSWER
    view.columns[1].error = f"provider said {PAYLOAD}"
    view.columns[1].footer = "<i>f</i>"
    html_text = view.html()
    assert "<img" not in html_text and "<b>m1</b>" not in html_text and "&lt;img" in html_text
    assert NO_MATH in html_text  # raw text: "$" in an answer must not become MathJax (nor \href links)
    markdown = view.markdown()
    assert "<img" not in markdown and "<b>m1</b>" not in markdown and "]\\(javascript:" in markdown
    assert "```html\n<b>kept as code</b>\n```" in markdown
    assert PAYLOAD in view.plain()  # plain text is shown as text: the answer as it came


def displays(run) -> list[dict]:
    return [m["content"]["data"] for m in run.of_type("display_data", "update_display_data")]


def test_markdown_answers_are_sanitized_while_streaming_and_at_the_end(k, server):  # noqa: F811
    server.queue_reply(ANSWER, chunks=12, chunk_delay=0.12)
    run = k.run("Show me")
    assert run.status == "ok", run.error_text
    shown = displays(run)
    assert len(shown) > 3  # streamed: the partial answers went out too
    for data in shown:
        assert "<img" not in data["text/markdown"] and "](javascript:" not in data["text/markdown"]
    final = run.final_display()["data"]
    assert final["text/markdown"].startswith("Hi &lt;img src=x onerror=alert(1)> and [x]\\(javascript:")
    assert "```html\n<b>kept as code</b>\n```" in final["text/markdown"]
    assert "$a \\lt  b$" in final["text/markdown"]
    assert final["text/plain"] == ANSWER


def test_html_answers_keep_the_allow_list(k, server):  # noqa: F811
    server.queue_reply(f"<h2>Title</h2><b>ok</b>{PAYLOAD}<a href='javascript:alert(1)'>x</a><script>x()</script>",
                       chunks=6)
    run = k.run("%%prompt --format html\nShow me")
    assert run.status == "ok", run.error_text
    for data in displays(run):
        assert "<img" not in data["text/html"] and "javascript:" not in data["text/html"]
        assert "<script" not in data["text/html"]
    final = run.final_display()["data"]["text/html"]
    assert final.startswith("<h2>Title</h2><b>ok</b>") and '<a rel="noopener noreferrer">x</a>' in final


def test_text_format_shows_the_whole_answer_as_text(k, server):  # noqa: F811
    reply = f"line\n```\n{PAYLOAD}\n```"
    server.queue_reply(reply)
    run = k.run("%%prompt --format text\nShow me")
    final = run.final_display()["data"]["text/markdown"]
    assert final.startswith(f"````text\n{reply}\n````")


def test_compare_publishes_sanitized_columns(k, server):  # noqa: F811
    server.queue_reply(ANSWER)
    server.queue_reply(ANSWER)
    run = k.run("%%compare fast slow\nShow me")
    assert run.status == "ok", run.error_text
    for data in displays(run):
        assert "<img" not in data["text/html"] and "<img" not in data["text/markdown"]
    final = run.final_display()["data"]
    assert final["text/html"].count("&lt;img src=x onerror=alert(1)&gt;") == 2
