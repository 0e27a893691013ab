"""Fixtures of the browser tests: the loopback model server, a real JupyterLab, and headless Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.support.openai_server import OpenAIServer

from .support import JupyterLab

# Chromium without the background traffic that a closed network refuses (and --no-sandbox: CI runs as root).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


# Web-first assertions retry until they hold; their timeout is only the guard for a broken page. Playwright's
# 5 s default is a speed limit on a loaded 2-core runner (JupyterLab re-rendering while a model runs), not a guard.
expect.set_options(timeout=30_000)


def chromium_path() -> str:
    """$LLMOS_CHROMIUM, else chromium (Debian) or chromium-browser (Ubuntu) from PATH. Playwright's own
    browser download is never used: the suite must run offline."""
    configured = os.environ.get("LLMOS_CHROMIUM")
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("no Chromium: install Debian's chromium (make setup-browser) or set LLMOS_CHROMIUM")
    return found


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[JupyterLab]:
    root = tmp_path / "notebooks"
    root.mkdir()
    lab = JupyterLab(root, tmp_path)
    try:
        lab.wait_ready()
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000})
        finally:
            browser.close()
