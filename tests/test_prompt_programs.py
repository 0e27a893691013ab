"""Prompt-programs through a real kernel: options, interpolation, formats, compare, aliases, config, %ps, help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession
from tests.support.openai_server import OpenAIServer


@pytest.fixture(scope="module")
def server():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def k(server):
    session = KernelSession()
    run = session.run(f"%alias fast openai/fast --api-base {server.url} --window 16000")
    assert run.status == "ok", run.error_text
    run = session.run(f"%alias slow openai/slow --api-base {server.url} --window 16000")
    assert session.run("%model fast").status == "ok"
    yield session
    session.close()


def last_body(server):
    return server.requests[-1]["body"]


def test_options_reach_the_provider(k, server):
    server.queue_reply("ok")
    run = k.run("%%prompt --temperature 0.3 --max-tokens 7 --system 'Be terse.'\nHello there")
    assert run.status == "ok", run.error_text
    body = last_body(server)
    assert body["temperature"] == 0.3 and body["max_tokens"] == 7
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}


def test_per_cell_model_and_no_history(k, server):
    server.queue_reply("one")
    assert k.run("%%prompt --model slow --no-history\nOnly this", cell_id="nh").status == "ok"
    body = last_body(server)
    assert body["model"] == "slow" and [m["role"] for m in body["messages"]] == ["system", "user"]
    ctx = json.loads(k.run("%context --json").stdout)
    assert "Only this" not in [m["content"] for m in ctx["messages"]]  # --no-history commits nothing


def test_bad_options_give_usage(k, server):
    before = server.attempts
    for cell in ("%%prompt --bogus\nhi", "%%prompt --temperature hot\nhi", "%%prompt --format pdf\nhi"):
        run = k.run(cell)
        assert run.status == "error" and len(run.errors) == 1
        assert "Usage: %%prompt" in run.error_text and "Traceback" not in run.error_text
    assert server.attempts == before


def test_interpolation(k, server):
    assert k.py("import types\nitems = ['a', 'b']\nobj = types.SimpleNamespace(shape=(3, 4))\nn = 41").status == "ok"
    failing = k.py("1 / 0")
    fail_count = failing.reply["content"]["execution_count"]
    typed = k.run("%%python\nlabel = 'typed'")
    typed_count = typed.reply["content"]["execution_count"]
    server.queue_reply("ok")
    cell = f"{{n}} {{items[1]}} {{obj.shape}} {{{{x}}}} {{\"json\": 1}} {{In[{typed_count}]}} {{Err[{fail_count}]}}"
    run = k.run(cell)
    assert run.status == "ok", run.error_text
    sent = last_body(server)["messages"][-1]["content"]
    assert sent.startswith("41 b (3, 4) {x} {\"json\": 1} %%python\nlabel = 'typed'")
    assert "ZeroDivisionError" in sent
    count = run.reply["content"]["execution_count"]
    server.queue_reply("ok")
    assert k.run(f"Previous answer: {{Out[{count}]}}").status == "ok"
    assert last_body(server)["messages"][-1]["content"] == "Previous answer: ok"


def test_undefined_name_fails_before_sending(k, server):
    before = server.attempts
    run = k.run("Tell me about {no_such_variable}")
    assert run.status == "error" and len(run.errors) == 1
    assert "no_such_variable" in run.error_text and "not defined" in run.error_text
    assert server.attempts == before


def test_as_json_and_formats(k, server):
    server.queue_reply('```json\n{"a": [1, 2]}\n```')
    run = k.run("%%prompt --format json --as data\nGive JSON")
    assert run.status == "ok", run.error_text
    assert k.eval("data") == {"a": [1, 2]}
    server.queue_reply("not json at all")
    run = k.run("%%prompt --format json --as bad\nGive JSON")
    assert run.status == "error" and "not valid JSON" in run.error_text
    server.queue_reply("<b>bold</b>")
    run = k.run("%%prompt --format html\nGive HTML")
    assert run.final_display()["data"]["text/html"].startswith("<b>bold</b>")
    server.queue_reply("x = 1")
    run = k.run("%%prompt --format code --as snippet\nGive code")
    assert run.final_display()["data"]["text/markdown"].startswith("```\nx = 1\n```")
    assert k.eval("snippet") == "x = 1"


def test_status_line_and_footer(k, server):
    server.queue_reply("one two three four five six", chunk_delay=0.3)
    run = k.run("Count slowly")
    displays = run.of_type("display_data", "update_display_data")
    first = displays[0]["content"]["data"]["text/markdown"]
    assert "fast" in first and "waiting" in first
    assert any("tok/s" in m["content"]["data"]["text/markdown"] and "▶" in m["content"]["data"]["text/markdown"]
               for m in displays[1:-1])
    footer = run.final_display()["data"]["text/markdown"]
    assert " in · " in footer and " out · " in footer and " s · " in footer


def test_compare_side_by_side(k, server):
    server.queue_reply("answer A")
    server.queue_reply("answer B")
    run = k.run("%%compare fast slow\nWhich is better?")
    assert run.status == "ok", run.error_text
    final = run.final_display()
    rows = final["metadata"]["llmos"]["compare"]
    assert [r["model"] for r in rows] == ["openai/fast", "openai/slow"]
    assert all(r["status"] == "ok" and r["tokens_out"] > 0 and r["latency_s"] >= 0 for r in rows)
    html = final["data"]["text/html"]
    assert "answer A" in html and "answer B" in html and "display:flex" in html
    run = k.run("%%compare fast no-such-model-anywhere\nHi")
    assert run.status == "error" and "no-such-model-anywhere" in run.error_text


def test_process_table_and_cost(k, server):
    server.queue_reply("ok")
    assert k.run("One more").status == "ok"
    ps = k.run("%ps").stdout.splitlines()
    assert ps[0].split()[:3] == ["cell", "model", "status"]
    assert any("openai/fast" in line and " ok " in line for line in ps[1:])
    cost = k.run("%cost").stdout
    assert "openai/fast" in cost and "total" in cost


def test_every_option_of_every_magic_is_in_its_usage_line(k):
    """%help is built from usage lines: an option missing from one is an option nobody finds."""
    missing = k.eval(
        "[(n, o) for kind in ('line', 'cell') for n, f in get_ipython().magics_manager.magics[kind].items()"
        " if getattr(f, '__module__', '').startswith('llmos_kernel') and hasattr(f, 'parser')"
        " for a in f.parser._actions for o in a.option_strings if o.startswith('--') and o != '--help'"
        " and o not in __import__('llmos_kernel.magics.args', fromlist=['x']).usage_line(f)]"
    )
    checked = k.eval("sum(hasattr(f, 'parser') for f in get_ipython().magics_manager.magics['cell'].values())")
    assert checked >= 2 and missing == []


def test_help_inspect_and_complete(k):
    assert k.py("items = ['a', 'b']").status == "ok"  # what "{ite" completes to: this test's own, in any order
    run = k.run("%help")
    page = run.stdout
    assert not run.reply["content"].get("payload")  # in the cell's output, where every frontend shows it
    for usage in ("%model [NAME]", "%%prompt [--model M]", "%%compare M1 M2", "%alias", "%ps", "%cost",
                  "%memory", "%recall", "%compact", "%window"):
        assert usage in page
    run = k.run("%model?")
    assert "show or switch the backing model" in run.reply["content"]["payload"][0]["data"]["text/plain"]
    k.kc.inspect("%alias", 6)
    reply = k.kc.get_shell_msg(timeout=10)
    assert reply["content"]["found"] and "name a model" in reply["content"]["data"]["text/plain"]
    for text, expected in (("%%prompt --tem", "--temperature"), ("%model fa", "fast"), ("%%compare fast sl", "slow"),
                           ("Tell me about {ite", "{items"), ("%rec", "%recall")):
        k.kc.complete(text, len(text))
        reply = k.kc.get_shell_msg(timeout=10)
        assert expected in reply["content"]["matches"], (text, reply["content"]["matches"])
    for code, status in (("About {items", "incomplete"), ("About {items}", "complete"), ("{{ literal", "complete")):
        k.kc.is_complete(code)
        assert k.kc.get_shell_msg(timeout=10)["content"]["status"] == status


def test_toml_config(tmp_path: Path, server):
    (tmp_path / "llmos.toml").write_text(
        'default_model = "cfg"\n[defaults]\ntemperature = 0.9\n'
        f'[aliases]\ncfg = {{ model = "openai/cfg", api_base = "{server.url}", window = 9000 }}\n'
        '[memory]\npolicy = "strict"\n'
    )
    session = KernelSession(cwd=str(tmp_path))
    try:
        assert session.run("%config trust").status == "ok"  # a project file sets the model only once trusted
        assert "openai/cfg" in session.run("%model").stdout
        server.queue_reply("configured")
        assert session.run("Hi").status == "ok"
        assert last_body(server)["model"] == "cfg" and last_body(server)["temperature"] == 0.9
        assert "policy: strict" in session.run("%policy").stdout
        (tmp_path / "llmos.toml").write_text("this is not toml = = =")
    finally:
        session.close()
    broken = KernelSession(cwd=str(tmp_path))
    try:
        server.queue_reply("fine")
        run = broken.run(f"%model openai/x --api-base {server.url}\nHi")  # leading magic, then the prompt
        assert run.status == "ok", run.error_text
        assert "note: config:" in run.stdout and "llmos.toml" in run.stdout
    finally:
        broken.close()
