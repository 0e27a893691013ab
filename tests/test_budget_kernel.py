"""Cost before sending, through real kernels: dry runs send nothing and count what the real send reports,
budgets refuse before sending, --confirm-above asks through input_request and refuses headless runs."""

from __future__ import annotations

import re

import pytest

from tests.support.kernel import KernelSession
from tests.test_prompt_programs import server  # noqa: F401 - the loopback server, one per test module


@pytest.fixture(scope="module")
def k(server):
    """gpt-4o-mini's prices (litellm's map) on the loopback server."""
    session = KernelSession()
    run = session.run(f"%alias mini openai/gpt-4o-mini --api-base {server.url}\n%model mini")
    assert run.status == "ok", run.error_text
    yield session
    session.close()


def dry_tokens(stdout: str) -> int:
    found = re.search(r"request: ~?([\d,]+) tokens", stdout)
    assert found, stdout
    return int(found.group(1).replace(",", ""))


def test_dry_run_sends_nothing_and_prices_the_worst_case(k, server):
    before, rows = server.attempts, k.run("%ps").stdout
    run = k.run("%%prompt --dry-run --max-tokens 100\nName three rivers.")
    assert run.status == "ok", run.error_text
    assert server.attempts == before and k.run("%ps").stdout == rows  # nothing sent, no process
    out = run.stdout
    assert "dry run: nothing was sent" in out and "up to 100 tokens (--max-tokens)" in out
    low, high = (float(x) for x in re.search(r"cost: \$([\d.]+) to \$([\d.]+)", out).groups())
    assert 0 < low < high  # litellm's prices for gpt-4o-mini: the answer's maximum costs more than none
    assert "digest:" in out
    assert "dry run: on" in k.run("%dryrun on").stdout
    assert "dry run: nothing was sent" in k.run("Name three lakes.").stdout and server.attempts == before
    assert "dry run: off" in k.run("%dryrun off").stdout
    assert "request:" in k.run("%dryrun Name three seas.").stdout and server.attempts == before


def test_a_budget_refuses_a_cell_before_sending(k, server):
    assert "budget: $0.000001" in k.run("%budget 0.000001").stdout
    before = server.attempts
    run = k.run("%%prompt --max-tokens 500\nWrite a long essay about rivers.")
    assert run.status == "error" and len(run.errors) == 1
    assert "Over budget" in run.error_text and "session budget of $0.000001" in run.error_text
    assert "Nothing was sent" in run.error_text and "Traceback" not in run.error_text
    assert server.attempts == before
    run = k.run("%%prompt --budget 0.0000001 --max-tokens 500\nAnother essay.")
    assert run.status == "error" and "over its budget of $0.0000001" in run.error_text
    assert server.attempts == before
    assert "budget: none" in k.run("%budget off").stdout
    server.queue_reply("fine")
    run = k.run("%%prompt --budget 1 --max-tokens 20\nShort, please.")
    assert run.status == "ok", run.error_text
    assert server.attempts == before + 1
    spent = k.run("%budget").stdout
    assert "spent $0.0000" in spent  # the answer's real cost counts as spend


def test_bad_budgets_are_one_clear_message(k, server):
    before = server.attempts
    for cell in ("%budget lots", "%budget -1", "%%prompt --budget nan\nhi", "%%prompt --budget -2\nhi"):
        run = k.run(cell)
        assert run.status == "error" and len(run.errors) == 1 and "Traceback" not in run.error_text, cell
    assert server.attempts == before


def ask_and_answer(k: KernelSession, code: str, reply: str | None):
    """Run `code` as a frontend that can answer input_request does (JupyterLab), replying `reply`."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": True, "stop_on_error": False}
    msg = k.kc.session.msg("execute_request", content)
    k.kc.shell_channel.send(msg)
    request = k.kc.stdin_channel.get_msg(timeout=60)
    assert request["msg_type"] == "input_request"
    k.kc.input(reply)
    return request["content"]["prompt"], k.collect(msg["header"]["msg_id"])


def test_confirm_above_asks_through_input_request_and_denies_headless(k, server):
    assert "asks above $0.0000001" in k.run("%budget off --confirm-above 0.0000001").stdout
    before = server.attempts
    server.queue_reply("confirmed answer")
    question, run = ask_and_answer(k, "%%prompt --max-tokens 30\nSay yes.", "y")
    assert "Send? [y/N]" in question and "may cost up to $" in question
    assert run.status == "ok", run.error_text
    assert server.attempts == before + 1
    question, run = ask_and_answer(k, "%%prompt --max-tokens 30\nSay no.", "n")
    assert run.status == "error" and "not confirmed" in run.error_text and server.attempts == before + 1
    run = k.run("%%prompt --max-tokens 30\nHeadless.")  # allow_stdin false: nbclient, papermill, CI
    assert run.status == "error" and "cannot ask for confirmation" in run.error_text
    assert "Traceback" not in run.error_text and server.attempts == before + 1
    assert "budget: none" in k.run("%budget off --confirm-above off").stdout


def test_dry_run_counts_exactly_what_the_embedded_model_then_reports():
    with KernelSession() as k:
        run = k.run("%%prompt --dry-run --max-tokens 8\nName a colour.")
        assert run.status == "ok", run.error_text
        assert "(exact)" in run.stdout and "cost: $0 to $0" in run.stdout
        planned = dry_tokens(run.stdout)
        assert "no prompt has run yet" in k.run("%ps").stdout  # nothing was sent
        run = k.run("%%prompt --max-tokens 8\nName a colour.")
        assert run.status == "ok", run.error_text
        meta = run.final_display()["metadata"]["llmos"]
        assert meta["exact"] and meta["tokens_in"] == planned


def test_the_panel_shows_spend_beside_the_budget(k, server):
    server.queue_reply("priced")
    assert k.run("%%prompt --max-tokens 10\nA priced answer.").status == "ok"
    panel = ("%%python\nfrom llmos_kernel.widgets.panel import panel_for\n"
             "print(panel_for(get_ipython().kernel.runtime).spend.value)")
    assert 'data-budget=""' in k.run(panel).stdout  # no budget set
    assert k.run("%budget 0.5").status == "ok"
    html = k.run(panel).stdout
    assert "of a $0.5 budget (0% used)" in html and 'data-budget="0.5"' in html
    assert k.run("%budget off").status == "ok"
