"""The panel notebook, a real JupyterLab server, and the widget models of an executed notebook."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

# %%python: register %panel (until the kernel does; then this does nothing) and an alias for the second model.
SETUP = """\
%%python
from llmos_kernel.backends.registry import ModelSpec
from llmos_kernel.widgets.magics import PanelMagics
ip = get_ipython()
if "panel" not in ip.magics_manager.magics["line"]:
    ip.register_magics(PanelMagics(ip, ip.kernel.runtime))
ip.kernel.runtime.aliases["fast"] = ModelSpec("openai/test", api_base={api_base!r}, window=16000)
"""
# Tiny answers: the embedded model runs on two CPU cores here.
FIRST_PROMPT = "%%prompt --max-tokens 16 --temperature 0\nName one planet."
SECOND_PROMPT = "%%prompt --max-tokens 16 --temperature 0\nName one colour."


def panel_notebook(api_base: str) -> nbformat.NotebookNode:
    """Cells: setup, a prompt, %panel, another prompt (it must move the panel above), %panel again."""
    notebook = new_notebook(cells=[
        new_code_cell(SETUP.format(api_base=api_base)),
        new_code_cell(FIRST_PROMPT),
        new_code_cell("%panel"),
        new_code_cell(SECOND_PROMPT),
        new_code_cell("%panel"),
    ])
    notebook.metadata["kernelspec"] = {"name": "llmos", "display_name": "LLM OS", "language": "markdown"}
    return notebook


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """`python -m jupyter lab` on 127.0.0.1 in a subprocess, with its own settings and workspaces."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.port = free_port()
        self.token = os.urandom(12).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = home / "lab-settings"
        # No news or update checks: no network, and no toast over the panel in the screenshot.
        notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        # The JUPYTER_* directories are already isolated by tests/conftest.py; this adds JupyterLab's own.
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"))
        self.log = (home / "jupyterlab.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={self.port}",
             # IdentityProvider.token is ServerApp.token's current name; root: CI containers run as root.
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--ServerApp.allow_root=True"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.log_path = home / "jupyterlab.log"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab not ready in {timeout} s: {self.log_path.read_text()[-3000:]}")

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()
