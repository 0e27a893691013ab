"""A tool call asks for approval in JupyterLab: the loopback server plays a model that calls the python tool,
the approval widget appears in the prompt cell (real JupyterLab, headless Chromium, the llmos kernel), a click
on "allow once" lets the call run, and the answer shows it as a collapsible step (issue 15).

Approval is left at ``auto``: JupyterLab's widget manager opens ipywidgets' control comm when it connects to
the kernel, and that is what makes ``auto`` choose the widget (a frontend without widgets gets stdin).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import Locator, Page, expect

from tests.support.openai_server import OpenAIServer

from .support import JupyterLab
from .test_panel_browser import ARTIFACTS, CELL_TIMEOUT_MS, picture, run_cell, start_cell, wait_for_kernel

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs"
CODE = "answer = 6 * 7\nprint(f'six times seven is {answer}')\nanswer"
REPLY = "Python says **42**: six times seven, kept in `answer`."
PROBE = ("%%python\nfrom llmos_kernel.tools.approval import frontend_renders_widgets\n"
         "print('widgets:', frontend_renders_widgets())")


def approval_notebook(api_base: str) -> nbformat.NotebookNode:
    """Cells: the model and tools, whether the frontend renders widgets, the prompt, the variable it set."""
    notebook = new_notebook(cells=[
        new_code_cell(f"%alias fast openai/fast --api-base {api_base} --window 16000\n%model fast\n%tools on"),
        new_code_cell(PROBE),
        new_code_cell("Compute six times seven with Python and keep it as `answer`."),
        new_code_cell("%%python\nprint('answer =', answer)"),
    ])
    notebook.metadata["kernelspec"] = {"name": "llmos", "display_name": "LLM OS", "language": "markdown"}
    return notebook


def output_text(page: Page, index: int) -> str:
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea").inner_text()


def snap(target: Locator, name: str, tmp_path: Path) -> None:
    """The picture, in test-artifacts/ and the test's tmp dir; into docs/ only when LLMOS_UPDATE_DOCS=1, so a
    test run never changes the tree."""
    picture(target, name)
    if os.environ.get("LLMOS_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(ARTIFACTS / name, DOCS / name)
    shutil.copy(ARTIFACTS / name, tmp_path / name)


def test_allow_once_in_the_approval_widget(lab: JupyterLab, server: OpenAIServer, page: Page, tmp_path: Path):
    nbformat.write(approval_notebook(server.url), lab.root / "approval.ipynb")
    page.goto(lab.notebook_url("approval.ipynb"))
    try:
        wait_for_kernel(page)
        run_cell(page, 0)
        run_cell(page, 1)
        assert "widgets: True" in output_text(page, 1)  # JupyterLab opened the control comm: auto -> widget

        before = len(server.requests)
        (call,) = server.queue_tool_calls([{"name": "python", "arguments": {"code": CODE}}])
        server.queue_reply(REPLY)
        cell = start_cell(page, 2)  # it waits for a click: not run_cell
        approval = cell.locator(".llmos-approval")
        expect(approval).to_be_visible(timeout=CELL_TIMEOUT_MS)
        expect(approval).to_contain_text("python")
        expect(approval).to_contain_text("six times seven is")  # the exact arguments are shown
        for label in ("allow once", "allow for this cell", "always allow this tool", "deny"):
            expect(approval.get_by_role("button", name=label, exact=True)).to_be_visible()
        assert len(server.requests) == before + 1  # the model waits for the answer to its call
        # The answer's status line says a tool is being called, not that the model is still awaited.
        status = cell.locator(".jp-RenderedMarkdown").first
        expect(status).to_contain_text("calling python")
        page.wait_for_timeout(1500)  # a "waiting N s" ticker would have overwritten it by now
        expect(status).to_contain_text("calling python")
        expect(status).not_to_contain_text("waiting")
        snap(cell, "approval-widget.png", tmp_path)

        approval.get_by_role("button", name="allow once", exact=True).click()
        prompt = cell.locator(".jp-InputPrompt")
        expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=CELL_TIMEOUT_MS)
        expect(approval).to_contain_text("allow once")  # the widget became a line saying what was decided
        expect(approval.get_by_role("button")).to_have_count(0)

        # The server got a second request carrying the tool's result for that call.
        assert len(server.requests) == before + 2
        (result,) = [m for m in server.requests[-1]["body"]["messages"] if m.get("role") == "tool"]
        assert result["tool_call_id"] == call["id"]
        assert result["content"] == "six times seven is 42\n42"

        # The answer: the collapsed step (a real <details>, not escaped text), then the model's text.
        step = cell.locator("details.llmos-tool-step")
        expect(step).to_have_count(1)
        expect(step.locator("summary")).to_contain_text("python · ok · approved once")
        assert step.get_attribute("open") is None
        expect(cell.locator(".jp-RenderedMarkdown")).to_contain_text("Python says 42")
        assert "<details" not in output_text(page, 2)

        run_cell(page, 3)  # the call ran in the notebook's namespace
        assert "answer = 42" in output_text(page, 3)

        step.locator("summary").click()
        expect(step).to_have_attribute("open", "")
        expect(step).to_contain_text("six times seven is 42")  # the result preview, now visible
        expect(step.locator("pre").first).to_have_text("code:\n" + CODE)  # the code as code, not as JSON
        stderr = page.locator(".jp-OutputArea-output .jp-RenderedText[data-mime-type*=stderr]")
        expect(stderr).to_have_count(0)
        snap(cell, "tool-step.png", tmp_path)
    except BaseException:
        picture(page, "approval-failure.png")
        raise
    for name in ("approval-widget.png", "tool-step.png"):
        assert (tmp_path / name).stat().st_size > 5_000
