"""Every notebook in notebooks/ runs headlessly with nbclient, with no error outputs: the tours on the embedded
model, batch-and-replay on the loopback server, and then again offline from its exported recordings."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.openai_server import OpenAIServer

ALL = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
# These need an OpenAI-compatible server: batch-and-replay is tested below with the loopback one; syscalls needs
# a model that makes the tool calls its cells describe, scripted in tests/test_syscalls_notebook.py.
LOOPBACK = {"batch-and-replay.ipynb", "syscalls.ipynb"}
NOTEBOOKS = [p for p in ALL if p.name not in LOOPBACK]


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "memory-tour.ipynb", "prompt-programs.ipynb"} <= names
    assert {p.name for p in ALL} >= LOOPBACK


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_clean(path: Path, tmp_path: Path):
    work = tmp_path / path.name
    shutil.copy(path, work)
    nb = nbformat.read(work, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="llmos", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells)
    errors = [(c.source, o) for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    answers = [o for c in code_cells for o in c.outputs if "llmos" in o.get("metadata", {})]
    assert answers, "a notebook tour must run at least one prompt"


def execute(path: Path, folder: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="llmos", resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def errors_of(nb: nbformat.NotebookNode, tagged: bool) -> list:
    """Error outputs of the cells tagged raises-exception (tagged=True), or of every other cell."""
    return [(c.source, o) for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error" and ("raises-exception" in c.metadata.get("tags", [])) == tagged]


def visible(nb: nbformat.NotebookNode) -> list[str]:
    """What the reader sees, minus what differs between runs by nature (timings, widget ids)."""
    shown = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream" and o.name == "stdout":
                shown.append(re.sub(r"\d+\.\d+s|\d+\.\d+ s", "T", o.text))
            elif o.output_type in ("display_data", "execute_result") and "text/html" in o.get("data", {}):
                shown.append(o.data["text/html"])
    return shown


def test_batch_and_replay_runs_on_the_loopback_server_then_offline_from_its_recordings(tmp_path, monkeypatch):
    notebook = next(p for p in ALL if p.name == "batch-and-replay.ipynb")
    online, offline = tmp_path / "online", tmp_path / "offline"
    for folder in (online, offline):
        folder.mkdir()
        shutil.copy(notebook, folder / notebook.name)
    with OpenAIServer() as server:
        server.default_delay = 0.5  # a slow provider: the notebook's timer interrupts the batch mid-way
        monkeypatch.setenv("LLMOS_DEMO_API_BASE", server.url)
        monkeypatch.setenv("LLMOS_STORE", str(online / "store.db"))
        first = execute(online / notebook.name, online)
        assert not errors_of(first, tagged=False)
        interrupted = errors_of(first, tagged=True)
        assert len(interrupted) == 1 and "stopped after" in interrupted[0][1].evalue
        sent = server.attempts
        # Each review once, plus the (at most 2) that were in flight when the interrupt dropped them.
        assert 6 <= sent <= 8
        recordings = online / "batch-and-replay.recordings.jsonl"
        assert len(recordings.read_text().splitlines()) == 6
        # CI: a fresh store, the recordings file next to the notebook, and no call allowed
        shutil.copy(recordings, offline / recordings.name)
        monkeypatch.setenv("LLMOS_STORE", str(offline / "store.db"))
        monkeypatch.setenv("LLMOS_REPLAY", "only")
        second = execute(offline / notebook.name, offline)
        assert server.attempts == sent  # nothing was sent
    assert not errors_of(second, tagged=False) and not errors_of(second, tagged=True)
    labelled = [shown for shown in visible(second) if "<th>label</th>" in shown]
    assert labelled and all(f"Echo: Classify this review by {name}" in labelled[-1] for name in ("Ann", "Flo"))
    assert labelled[-1] in visible(first)  # the same table as the run that asked the model
    assert visible(second)[-1] == visible(first)[-1].replace(str(online), str(offline))  # the export line
