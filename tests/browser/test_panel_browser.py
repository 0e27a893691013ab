"""The memory-map panel as a user meets it: a real JupyterLab, headless Chromium (Debian's), the llmos kernel.

Also the same notebook run headlessly by nbclient, whose saved outputs must carry the static HTML map.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from playwright.sync_api import Locator, Page, expect

from tests.support.openai_server import OpenAIServer
from tests.widgets.html_probe import parse

from .support import JupyterLab, panel_notebook

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT_MS = 240_000  # the embedded model shares two cores with everything else on these machines

pytestmark = pytest.mark.slow


def start_cell(page: Page, index: int) -> Locator:
    """Select a cell (command mode) and Shift+Enter, without waiting for it to finish; the cell."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for _attempt in range(3):
        prompt.click()
        page.keyboard.press("Shift+Enter")
        # "[*]:" or "[n]:" as soon as the run is queued; a cell still at "[ ]:" was never sent (a key press
        # that raced the kernel connection), so pressing again cannot run it twice.
        try:
            expect(prompt).not_to_have_text(re.compile(r"\[ \]"), timeout=10_000)
            break
        except AssertionError:
            continue
    return cell


def run_cell(page: Page, index: int) -> None:
    """Run a cell and wait until its prompt shows an execution count and the kernel is idle."""
    prompt = start_cell(page, index).locator(".jp-InputPrompt")
    expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=CELL_TIMEOUT_MS)
    expect(page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).to_have_count(
        1, timeout=CELL_TIMEOUT_MS)


def wait_for_kernel(page: Page) -> None:
    """The kernel is connected and idle: the status bar names it ("LLM OS | Idle")."""
    expect(page.locator(".jp-Notebook .jp-Cell")).not_to_have_count(0, timeout=120_000)
    expect(page.locator("#jp-main-statusbar").get_by_text(re.compile(r"LLM OS \| Idle"))).to_be_visible(
        timeout=120_000)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def picture(target: Page | Locator, name: str) -> None:
    """A screenshot in test-artifacts/: of the panel once it settled, or of the whole page on a failure."""
    ARTIFACTS.mkdir(exist_ok=True)
    if isinstance(target, Page):
        target.screenshot(path=str(ARTIFACTS / name), full_page=True)
        return
    target.scroll_into_view_if_needed()
    # No pause: a locator's screenshot waits until the element is visible and stable (not moving between frames).
    target.screenshot(path=str(ARTIFACTS / name), animations="disabled")


def used(header: Locator) -> int:
    return int(header.get_attribute("data-used") or "-1")


def test_panel_follows_the_notebook_in_jupyterlab(lab: JupyterLab, server: OpenAIServer, page: Page):
    nbformat.write(panel_notebook(server.url), lab.root / "panel.ipynb")
    page.goto(lab.notebook_url("panel.ipynb"))
    try:
        wait_for_kernel(page)
        for index in range(3):  # setup, a prompt, %panel
            run_cell(page, index)
        panels = page.locator(".llmos-panel")
        expect(panels).to_have_count(1)
        panel = panels.first
        header = panel.locator("[data-llmos-header]")
        expect(header).to_have_attribute("data-model", "smollm2")
        first = used(header)
        assert first > 0
        rows = panel.locator(".llmos-row")
        expect(rows).to_have_count(2)  # the system prompt and the first turn

        run_cell(page, 3)  # another prompt: the panel above must follow without being shown again
        wait_for(lambda: used(header) > first, "the used-token figure to rise")
        expect(rows).to_have_count(3)

        run_cell(page, 4)  # %panel again: a second view of the same widgets
        expect(panels).to_have_count(2)
        headers = page.locator(".llmos-panel [data-llmos-header]")
        expect(headers.nth(1)).to_have_attribute("data-used", str(used(header)))

        # Evict the first turn from its row in the first view: both views show it swapped, with fewer tokens.
        turn = rows.filter(has=page.locator('[data-kind="history"][data-state="resident"]')).first
        segment = turn.locator("[data-segment-id]").get_attribute("data-segment-id")
        before_evict = used(header)
        turn.locator("button.llmos-evict").click()
        swapped = page.locator(f'.llmos-panel [data-segment-id="{segment}"][data-state="swapped"]')
        expect(swapped).to_have_count(2)
        wait_for(lambda: used(header) < before_evict, "the evicted turn's tokens to be freed")
        expect(headers.nth(1)).to_have_attribute("data-used", str(used(header)))
        expect(panel.locator('[data-llmos-message="info"]')).to_have_count(1)

        # Switch the backing model from the second view's dropdown: every header names the new model.
        select = panels.nth(1).locator(".llmos-models select")
        option = select.locator('option[data-value^="fast"]').get_attribute("value")
        assert option, "the alias should be offered"
        select.select_option(value=option)
        served = re.compile(r"^openai/test @ 127\.0\.0\.1:\d+$")
        expect(header).to_have_attribute("data-model", served, timeout=120_000)
        expect(headers.nth(1)).to_have_attribute("data-model", served)
        expect(header).to_have_attribute("data-usable", re.compile(r"^1\d{4}$"))  # a 16,000-token window
        expect(panel.locator(".llmos-models select")).to_have_value(option)
        stderr = page.locator(".jp-OutputArea-output .jp-RenderedText[data-mime-type*=stderr]")
        expect(stderr).to_have_count(0)  # no traceback or warning from a click, in any cell
        picture(panel, "panel.png")
    except BaseException:
        picture(page, "panel-failure.png")
        raise
    assert (ARTIFACTS / "panel.png").stat().st_size > 10_000


def test_nbclient_run_keeps_the_html_map_in_the_outputs(tmp_path: Path, server: OpenAIServer):
    notebook = panel_notebook(server.url)
    NotebookClient(notebook, kernel_name="llmos", timeout=CELL_TIMEOUT_MS // 1000,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    (shown,) = [out for out in notebook.cells[2].outputs if out.output_type == "display_data"]
    assert {WIDGET_VIEW, "text/html", "text/plain"} <= set(shown.data)
    (again,) = [out for out in notebook.cells[4].outputs if out.output_type == "display_data"]
    assert again.data[WIDGET_VIEW]["model_id"] == shown.data[WIDGET_VIEW]["model_id"]  # one panel, two views
    later = parse(again.data["text/html"]).find("data-llmos-header")
    the_map = parse(shown.data["text/html"]).find("data-llmos-map")
    header = the_map.find("data-llmos-header")
    assert header.attrs["data-model"] == "smollm2" and int(header.attrs["data-used"]) > 0
    assert int(later.attrs["data-used"]) > int(header.attrs["data-used"])  # the second prompt is in it
    rows = the_map.find("data-llmos-table").find_all("data-segment-id")
    assert {row.attrs["data-kind"] for row in rows} == {"system", "history"}
    assert the_map.find_all("data-legend", "history") and the_map.find("data-llmos-spend")

    # nbconvert renders the live widget when its state was saved; without it (a viewer that does not keep
    # widget state), the export shows the HTML map.
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert shown.data[WIDGET_VIEW]["model_id"] in state
    del notebook.metadata["widgets"]
    body, _ = HTMLExporter().from_notebook_node(notebook)
    assert body.count("data-llmos-map") == 2  # both displays of the panel


RECALL_FILLER = " ".join(["The crates waited by the north dock before dawn while the cranes idled."] * 6)


def recall_notebook(api_base: str) -> nbformat.NotebookNode:
    """A fact told, paged out, then needed again: the prompt's page fault brings its page back."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        f"%model openai/test --api-base {api_base} --window 2000\n%reserve 256",
        "%%prompt --max-tokens 8\nNotes on the farm.\n\nLena Voss keeps three zebras called Stripe, Dot and Dash."
        f"\n\n{RECALL_FILLER}\n\n{RECALL_FILLER}",
        "%evict 2",
        "%%prompt --max-tokens 8\nHow many zebras does Lena Voss keep, and what are they called?",
        "%panel",
    )])
    notebook.metadata["kernelspec"] = {"name": "llmos", "display_name": "LLM OS", "language": "markdown"}
    return notebook


def test_panel_shows_recalled_pages_with_their_origin(lab: JupyterLab, server: OpenAIServer, page: Page):
    nbformat.write(recall_notebook(server.url), lab.root / "recall.ipynb")
    page.goto(lab.notebook_url("recall.ipynb"))
    try:
        wait_for_kernel(page)
        for index in range(5):
            run_cell(page, index)
        panel = page.locator(".llmos-panel").first
        recalled = panel.locator('[data-kind="recalled"][data-state="resident"]')
        expect(recalled).to_have_count(1)
        source = recalled.get_attribute("data-source")
        assert source and source.startswith("s")
        origin = recalled.locator("[data-llmos-origin]")
        expect(origin).to_contain_text("cell [2]")
        expect(origin).to_contain_text("matched")
        expect(panel.locator(f'[data-segment-id="{source}"][data-state="swapped"]')).to_have_count(1)
        paging = panel.locator("[data-llmos-paging]")
        expect(paging).to_have_attribute("data-faults", "1")
        expect(paging).to_contain_text("last recall")
        legend = panel.locator('[data-legend="recalled"]')
        expect(legend).to_have_count(1)  # its own kind, with its own colour, in the legend
        picture(panel, "panel-recall.png")
    except BaseException:
        picture(page, "panel-recall-failure.png")
        raise
    assert (ARTIFACTS / "panel-recall.png").stat().st_size > 10_000
