"""A tool step cannot break out into Markdown in JupyterLab (issue 21): the loopback server plays a model that calls
a tool by a made-up name holding a blank line, an image and a javascript: link, and the python tool with the same
payloads (blank lines, carriage returns) in its arguments and its result. The cell's output is the user's own,
so JupyterLab renders its Markdown trusted: a step that ended its HTML block early would load the image at once
(a request to a server, no click needed) and plant a live link.

A control cell afterwards shows an image of the same kind as the user's own output: its request proves images load
in this page, and by the time it arrives the earlier output has been rendered.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import Page, expect

from tests.support.openai_server import OpenAIServer

from .support import JupyterLab
from .test_panel_browser import ARTIFACTS, run_cell, wait_for_kernel
from .test_xss_browser import active_in

pytestmark = pytest.mark.slow

JAVASCRIPT_LINKS = """() => [...document.querySelectorAll('a[href]')]
  .filter((a) => !['http:', 'https:', 'mailto:'].includes(a.protocol)
                 || /^\\s*javascript:/i.test(a.getAttribute('href')))
  .map((a) => a.outerHTML.slice(0, 200))"""


def payload(beacon: str, tag: str) -> str:
    """Markdown after a blank line (of newlines, then of carriage returns): an image and a javascript: link."""
    return f"x\n\n![{tag}]({beacon}?{tag})\n\n[click {tag}](javascript:alert(1))\r\r![{tag}-cr]({beacon}?{tag}-cr)"


def step_notebook(api_base: str, control: str) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=[
        new_code_cell(f"%alias fast openai/fast --api-base {api_base} --window 16000\n%model fast\n%tools on\n"
                      "%tools allow python"),
        new_code_cell("Call the tools."),
        new_code_cell(f"%%python\nfrom IPython.display import display\n"
                      f"display({{'text/markdown': '![control]({control})'}}, raw=True)"),
    ])
    notebook.metadata["kernelspec"] = {"name": "llmos", "display_name": "LLM OS", "language": "markdown"}
    return notebook


def test_tool_names_arguments_and_results_stay_text(lab: JupyterLab, server: OpenAIServer, page: Page):
    base = server.url.rsplit("/v1", 1)[0]
    beacon, control = f"{base}/leak.png", f"{base}/control.png"
    leaked: list[str] = []
    page.context.on("request", lambda request: leaked.append(request.url) if "leak.png" in request.url else None)
    # Real blank lines in the arguments (a string literal over several lines), and the same printed as the result.
    code = 's = """' + payload(beacon, "args") + '"""\nprint(s.replace("args", "result"))'
    server.queue_tool_calls([{"name": payload(beacon, "name"), "arguments": {"q": payload(beacon, "json")}},
                             {"name": "python", "arguments": {"code": code}}])
    server.queue_reply("Done.")
    nbformat.write(step_notebook(server.url, control), lab.root / "steps.ipynb")
    page.goto(lab.notebook_url("steps.ipynb"))
    try:
        wait_for_kernel(page)
        run_cell(page, 0)
        run_cell(page, 1)
        output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output").last
        steps = output.locator("details.llmos-tool-step")
        expect(steps).to_have_count(2)
        expect(output).to_contain_text("Done.")
        with page.expect_request(lambda request: "control.png" in request.url, timeout=60_000):
            run_cell(page, 2)  # the user's own image loads: images do load in this page
        assert active_in(output) == []  # no <img>, no handler, no link but http(s)/mailto in the answer
        assert page.evaluate(JAVASCRIPT_LINKS) == []  # nowhere in the page
        assert leaked == []  # no request left for the loopback server
        expect(steps.first.locator("summary")).to_contain_text("unusable name")  # the made-up name, escaped
        steps.nth(1).locator("summary").click()  # expanded, the payloads are text in the step
        expect(steps.nth(1).locator("pre").first).to_contain_text("![args](")
        ARTIFACTS.mkdir(exist_ok=True)
        output.screenshot(path=str(ARTIFACTS / "tool-step.png"))
        assert active_in(output) == [] and leaked == []
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "tool-step-failure.png"), full_page=True)
        raise
