"""Every notebook in notebooks/ runs headlessly with nbclient on the embedded model, with no error outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

# syscalls.ipynb needs a model that makes the tool calls its cells describe: it runs against the scripted
# loopback server in tests/test_syscalls_notebook.py instead.
SCRIPTED = {"syscalls.ipynb"}
NOTEBOOKS = sorted(p for p in (Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")
                   if p.name not in SCRIPTED)


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "memory-tour.ipynb", "prompt-programs.ipynb"} <= names


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
