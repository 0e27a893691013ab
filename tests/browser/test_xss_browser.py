"""Model output cannot run script in JupyterLab: answers carrying script payloads, streamed from the loopback
server into a real JupyterLab in headless Chromium, render as harmless text (issue 13, "Safe rendering").

Every payload calls window.__pwn(name), defined in the page (and every frame) before JupyterLab loads. A
control cell shows the same kind of payload as the user's own trusted output, and it must run: so an empty
record afterwards means the answers were defused, not that the payloads could never have run here. Links are
clicked too, but JupyterLab opens a clicked link in a new tab, where a javascript: URL does not run even for
trusted output; so links are also checked by what they point to: nothing but http, https and mailto.
"""

from __future__ import annotations

import json
import random
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import Locator, Page, expect

from tests.support.openai_server import OpenAIServer

from .support import JupyterLab
from .test_panel_browser import ARTIFACTS, run_cell, wait_for_kernel

pytestmark = pytest.mark.slow

RECORD = "window.__pwned = []; window.__pwn = (name) => window.__pwned.push(name);"


def pwn(name: str) -> str:
    return f"__pwn('{name}')"


FENCE = "```"
# (A few payloads call __pwn with a number: a quote would keep them from parsing as what they imitate.)
# The prompt carries payloads too, as a user's {var} brings untrusted text into it; the panel previews it.
UNTRUSTED = (f"<img src=x onerror=\"{pwn('preview-img')}\"> $x^2$ "
             f"$\\href{{javascript:{pwn('preview-math')}}}{{m}}$")
PROMPT = "Show me the payloads in {untrusted}"
MARKDOWN_ANSWER = f"""# Safe rendering check

Inline `<script>{pwn('inline-code')}</script>` stays code, and 2 < 3 stays a comparison.

{FENCE}html
<img src=x onerror="{pwn('in-code-block')}">
{FENCE}

<img src=x onerror="{pwn('img')}">
<script>{pwn('script')}</script>
<svg onload="{pwn('svg')}"><circle r="1"></circle></svg>
<iframe srcdoc="<script>parent.{pwn('iframe')}</script>"></iframe>
<details open ontoggle="{pwn('details')}"><summary>more</summary>x</details>

Text <b onmouseover="{pwn('hover')}">hover me</b>, <b>bold</b> and H<sub>2</sub>O.

[markdown link](javascript:{pwn('md-link')}) · [entity link](jav&#x61;script:{pwn('entity-link')}) ·
<a href="javascript:{pwn('raw-link')}">raw link</a> · <javascript:{pwn('autolink')}> ·
[a safe link](https://example.com/docs) · [marked reads this as a link<https://example.com/](javascript:__pwn(7))>

![picture](javascript:{pwn('md-image')}) ![beacon](BEACON)

Math: $a < b$ and $\\href{{javascript:{pwn('mathjax')}}}{{math link}}$

- {FENCE}
  ~~~
  {FENCE}
  <img src=x onerror="{pwn('desync')}">
  ~~~
"""
HTML_ANSWER = f"""<h2>HTML answer</h2><table><tr><td>cell</td></tr></table>
<img src=x onerror="{pwn('html-img')}"><script>{pwn('html-script')}</script>
<svg><animate onbegin="{pwn('html-svg')}" attributeName="x" dur="1s"/></svg>
<iframe srcdoc="<script>parent.{pwn('html-iframe')}</script>"></iframe>
<a href="javascript:{pwn('html-link')}">html link</a>
<form><button formaction="javascript:{pwn('html-form')}">go</button></form>"""
COMPARE_ANSWER = f"""<img src=x onerror="{pwn('compare-img')}"> [compare link](javascript:{pwn('compare-link')})
$\\href{{javascript:{pwn('compare-math')}}}{{x}}$"""
CONTROL = f"""%%python
from IPython.display import display
display({{"text/markdown": "<img src=x onerror=\\"{pwn('control-markdown')}\\">"}}, raw=True)
display({{"text/html": "<svg><animate onbegin=\\"{pwn('control-html')}\\" attributeName=x dur=1s /></svg>"}},
        raw=True)
"""
PANEL_SETUP = """%%python
from llmos_kernel.widgets.magics import PanelMagics
ip = get_ipython()
if "panel" not in ip.magics_manager.magics["line"]:
    ip.register_magics(PanelMagics(ip, ip.kernel.runtime))
"""
# Random documents through JupyterLab's own Markdown renderer (marked), each its own trusted output.
STRUCTURES = [
    "```", "````", "~~~", "``` python", "```a`b", "   ```", "    ```", "\t```", "- ```", "1. ```", "> ```",
    "`", "``", "$", "$$", "[", "](", "]:", "!", "<", "<b>", "</b>", "<br>", "<div>", "<pre>", "<!--", "-->",
    "text", "a < b", "\n", "\n\n", "    ", "- ", "> ",
]
FUZZ_PAYLOADS = [
    f'<img src=x onerror="{pwn("fuzz-img")}">', f'<svg onload="{pwn("fuzz-svg")}">',
    f"<script>{pwn('fuzz-script')}</script>", f"[f](javascript:{pwn('fuzz-link')})",
    f"<a href=\"javascript:{pwn('fuzz-a')}\">a</a>", f'<details open ontoggle="{pwn("fuzz-details")}">',
    f"$\\href{{javascript:{pwn('fuzz-math')}}}{{m}}$", "<https://example.com/", "](javascript:__pwn(8))>",
]
FUZZ_DOCUMENTS = 50  # per cell: JupyterLab shows the first 50 outputs of a cell and folds the rest
FUZZ_CELLS = 3


def fuzz_cell(seed: int) -> str:
    rng = random.Random(seed)
    pieces = STRUCTURES + FUZZ_PAYLOADS
    docs = ["".join(rng.choice(pieces) + rng.choice(["", " ", "\n", "\n\n"]) for _ in range(rng.randint(3, 12)))
            for _ in range(FUZZ_DOCUMENTS)]
    return ("%%python\nimport json\nfrom IPython.display import display\n"
            "from llmos_kernel.sanitize import sanitize_markdown\n"
            f"for doc in json.loads({json.dumps(json.dumps(docs))}):\n"
            "    display({'text/markdown': sanitize_markdown(doc)}, raw=True)\n")


def xss_notebook(api_base: str) -> nbformat.NotebookNode:
    cells = [
        CONTROL,
        f"%alias fast openai/fast --api-base {api_base} --window 16000",
        f"%alias slow openai/slow --api-base {api_base} --window 16000",
        "%model fast",
        f"%%python\nuntrusted = {UNTRUSTED!r}",
        PROMPT,
        "%%prompt --format html\nThe same as HTML.",
        "%%compare fast slow\nBoth of you.",
        PANEL_SETUP,
        "%panel",
        *(fuzz_cell(seed) for seed in range(FUZZ_CELLS)),
    ]
    notebook = new_notebook(cells=[new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = {"name": "llmos", "display_name": "LLM OS", "language": "markdown"}
    return notebook


ACTIVE_JS = """(roots) => roots.flatMap((root) => {
  const active = ['script', 'iframe', 'frame', 'object', 'embed', 'img', 'svg', 'video', 'audio', 'form',
                  'input', 'button', 'style', 'link', 'meta', 'base', 'template'];
  const found = [];
  for (const el of root.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    const where = ' in ' + (el.parentElement ? el.parentElement.outerHTML.slice(0, 300) : '');
    if (active.includes(tag)) found.push('<' + tag + '>' + where);
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on') || attr.name === 'srcdoc' || attr.name === 'formaction')
        found.push('<' + tag + ' ' + attr.name + '>' + where);
    }
    if (tag === 'a' && el.hasAttribute('href') && !['http:', 'https:', 'mailto:'].includes(el.protocol))
      found.push('<a href=' + el.getAttribute('href') + '>' + where);
  }
  return found;
})"""


def cell(page: Page, index: int) -> Locator:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def pwned(page: Page) -> list[str]:
    return page.evaluate("window.__pwned")


def active_in(elements: Locator) -> list[str]:
    """Active content inside every element the locator matches."""
    return elements.evaluate_all(ACTIVE_JS)


def click_every_link(page: Page, output: Locator) -> int:
    """Click each link in an output, closing whatever tab it opens; the number of links clicked."""
    links = output.locator("a")
    count = links.count()
    for index in range(count):
        link = links.nth(index)
        if not link.is_visible():
            continue
        link.click(no_wait_after=True)
        page.wait_for_timeout(300)
        for other in page.context.pages:
            if other != page:
                other.close()
    return count


def test_answers_cannot_run_script_in_jupyterlab(lab: JupyterLab, server: OpenAIServer, page: Page):
    beacon = f"{server.url.rsplit('/v1', 1)[0]}/beacon.png"
    fetched: list[str] = []
    page.context.on("request", lambda request: fetched.append(request.url) if "beacon" in request.url else None)
    page.context.add_init_script(RECORD)
    server.queue_reply(MARKDOWN_ANSWER.replace("BEACON", beacon), chunks=25)
    server.queue_reply(HTML_ANSWER, chunks=10)
    server.queue_reply(COMPARE_ANSWER, chunks=5)
    server.queue_reply(COMPARE_ANSWER, chunks=5)
    nbformat.write(xss_notebook(server.url), lab.root / "xss.ipynb")
    page.goto(lab.notebook_url("xss.ipynb"))
    try:
        wait_for_kernel(page)
        # The control: the user's own outputs are trusted, so their payloads run here. Detection works.
        run_cell(page, 0)
        page.wait_for_function("['control-markdown', 'control-html'].every((n) => window.__pwned.includes(n))",
                               timeout=60_000)
        page.evaluate("window.__pwned = []")

        for index in range(1, 8):
            run_cell(page, index)
        answer = cell(page, 5).locator(".jp-OutputArea-output").last
        expect(answer.locator("h1")).to_have_text(re.compile("Safe rendering check"))
        expect(answer.locator("pre code").first).to_contain_text(f'<img src=x onerror="{pwn("in-code-block")}">')
        expect(answer.locator("code").first).to_have_text(f"<script>{pwn('inline-code')}</script>")
        expect(answer.locator("b")).to_have_text(["bold"])  # the one with a handler is shown as text
        expect(answer.locator("sub").first).to_have_text("2")
        expect(answer.locator("mjx-container").first).to_be_attached(timeout=30_000)  # $a < b$ typeset
        expect(answer.locator('a[href="https://example.com/docs"]')).to_have_count(1)
        assert "javascript:" in answer.inner_text()  # defused links are shown as text
        html_answer = cell(page, 6).locator(".jp-OutputArea-output").last
        expect(html_answer.locator("h2")).to_have_text("HTML answer")
        expect(html_answer.locator("td")).to_have_text("cell")
        compare = cell(page, 7).locator(".llmos-compare")
        expect(compare).to_contain_text("compare link")
        page.wait_for_timeout(1_500)  # handlers, MathJax and iframes have had time to act
        for output in (answer, html_answer, compare):
            assert active_in(output) == []
        assert fetched == []  # the image was not loaded: an answer makes no request without a click
        links = sum(click_every_link(page, output) for output in (answer, html_answer, compare))
        assert links >= 2

        run_cell(page, 8)
        run_cell(page, 9)  # the panel: every answer's preview, shown in HTML widgets
        panel = page.locator(".llmos-panel").first
        expect(panel.locator(".llmos-row")).not_to_have_count(0)
        expect(panel).to_contain_text("Show me the payloads in <img src=x")
        # a row's columns (its buttons are the panel's own)
        assert active_in(panel.locator(".llmos-row [data-segment-id]")) == []
        expect(panel.locator("mjx-container")).to_have_count(0)  # previews are text, not math

        for index in range(10, 10 + FUZZ_CELLS):  # random documents through JupyterLab's Markdown renderer
            run_cell(page, index)
            fuzz = cell(page, index).locator(".jp-OutputArea")
            expect(fuzz.locator(".jp-OutputArea-output")).to_have_count(FUZZ_DOCUMENTS, timeout=60_000)
            page.wait_for_timeout(1_000)
            assert active_in(fuzz.locator(".jp-OutputArea-output")) == []
            click_every_link(page, fuzz)

        answer.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        cell(page, 5).screenshot(path=str(ARTIFACTS / "xss.png"))
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "xss-failure.png"), full_page=True)
        raise
    assert pwned(page) == []
    assert server.pending() == 0
    assert (ARTIFACTS / "xss.png").stat().st_size > 10_000
