"""The kernel stays a real Python kernel: cell numbers as the frontend shows them, and routing of only the typed cell.

Both run on every supported IPython (CI runs the suite on the newest and on the oldest declared version): IPython
9 moves ``execution_count`` on before a cell runs, IPython 8 after, and nothing here may depend on which.
"""

from __future__ import annotations

import json

import pytest

# A kernel on the loopback server, shared by the module (the same fixtures as the prompt-program tests).
from tests.test_prompt_programs import k, server  # noqa: F401


def shown_count(run) -> int:
    """The number the frontend shows for the cell: the execute_reply's execution_count."""
    return run.reply["content"]["execution_count"]


def test_out_ps_memory_and_the_store_agree_with_the_number_shown(k, server):
    server.queue_reply("The first answer.")
    first = k.run("First question", cell_id="cell-a")
    assert first.status == "ok", first.error_text
    n = shown_count(first)
    assert k.eval(f"Out[{n}]") == "The first answer."
    assert k.eval(f"{n + 1} in Out") is False  # nothing under the next number

    # {Out[n]} and {In[n]} in the next prompt fill from the same numbers.
    server.queue_reply("ok")
    second = k.run(f"Repeat: {{Out[{n}]}} / {{In[{n}]}}", cell_id="cell-b")
    assert second.status == "ok", second.error_text
    sent = server.requests[-1]["body"]["messages"][-1]["content"]
    assert sent == "Repeat: The first answer. / First question"

    ps = k.run("%ps").stdout.splitlines()
    rows = [line.split() for line in ps[1:]]
    assert [int(r[0]) for r in rows[-2:]] == [n, shown_count(second)]

    memory = json.loads(k.run("%memory --json").stdout)
    counts = {s["cell_id"]: s["execution_count"] for s in memory["segments"] if s.get("cell_id")}
    assert counts["cell-a"] == n and counts["cell-b"] == shown_count(second)

    # %pin N pins the turn shown as In [N], not its neighbour.
    pinned = k.run(f"%pin {n}")
    assert pinned.status == "ok" and f"cell {n})" in pinned.stdout, pinned.all_text()
    k.run(f"%unpin {n}")


def test_err_n_is_the_failed_cells_number(k):
    run = k.run("%model no-such-provider-model-xyz")
    assert run.status == "error"
    n = shown_count(run)
    assert "no-such-provider-model-xyz" in k.eval(f"Err[{n}]")


def test_a_prompt_may_start_with_percent(k, server):
    for text in ("% of users who click the button leave", "%5 growth is expected", "%) is not a magic"):
        server.queue_reply("noted")
        run = k.run(text)
        assert run.status == "ok", run.error_text
        assert server.requests[-1]["body"]["messages"][-1]["content"] == text


def test_leading_magics_still_run_before_the_prompt(k, server):
    server.queue_reply("ok")
    run = k.run("%system Be brief.\nWhat is RAM?")
    assert run.status == "ok", run.error_text
    body = server.requests[-1]["body"]
    assert body["messages"][0]["content"] == "Be brief." and body["messages"][-1]["content"] == "What is RAM?"
    k.run("%system You are a helpful assistant.")


@pytest.mark.parametrize(
    ("cell", "expect", "name"),
    [
        ("%time y = 21 * 2", "Wall time", "y"),
        ("%timeit -n 2 -r 1 z = 21 * 2", "per loop", None),
        ("%%time\nw = 21 * 2\nprint(w)", "42", "w"),
        ("%%capture captured\nprint('inside')", "", "captured"),
        ("%%python\nget_ipython().run_cell('v = 21 * 2'); print(v)", "42", "v"),
        ("%prun -q u = 21 * 2", "", "u"),
        ("%%python\nget_ipython().run_line_magic('time', 't = 21 * 2')", "Wall time", "t"),
    ],
)
def test_ipythons_own_code_paths_run_python(k, server, cell, expect, name):
    before = server.attempts
    run = k.run(cell)
    assert run.status == "ok", run.all_text()
    assert expect in run.stdout
    assert server.attempts == before  # nothing went to the model
    if name and name != "captured":
        assert k.eval(name) == 42


def test_capture_holds_the_output_and_run_ipy_runs_python(k, server, tmp_path):
    assert k.eval("captured.stdout") == "inside\n"
    script = tmp_path / "script.ipy"
    script.write_text("%time r = 21 * 2\nprint('ran', r)\n")
    before = server.attempts
    run = k.run(f"%run {script}")
    assert run.status == "ok", run.all_text()
    assert "ran 42" in run.stdout and server.attempts == before
