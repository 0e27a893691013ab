"""A kernel on a team's model: llama.cpp's server <- LiteLLM proxy <- the kernel, all real, on loopback.

Never asserts the model's words (a real SmolLM2 writes them); asserts the path, the accounting and the messages.
"""

from __future__ import annotations

import os
import re

from tests.support.kernel import KernelSession
from tests.support.three_tier import MASTER_KEY, TEAM_MODEL

SECRET_WRONG = "sk-not-the-teams-key-1234"


def served_chat_requests(tiers) -> int:
    """Chat requests the served model answered (uvicorn's access log of the llama.cpp server)."""
    return tiers.served.tail(10**7).count("POST /v1/chat/completions")


def assert_one_clear_error(run, *words: str) -> str:
    assert run.status == "error", run.all_text()
    assert len(run.errors) == 1, run.error_text
    text = run.error_text
    for word in words:
        assert word.lower() in text.lower(), text
    assert "Traceback" not in text and "site-packages" not in text and "llmos_kernel/" not in text
    return text


def test_alias_names_the_proxy_model_with_its_window(team_kernel):
    run = team_kernel.run("%model team")
    assert run.status == "ok", run.error_text
    # the window comes from the proxy's model_info (the server's --n_ctx), not the 8,192 guess
    assert f"litellm_proxy/{TEAM_MODEL}" in run.stdout and "window 4,096 tokens" in run.stdout


def test_prompt_streams_through_proxy_and_server_and_is_accounted(team_kernel, tiers):
    before = served_chat_requests(tiers)
    run = team_kernel.run("%%prompt --max-tokens 24\nSay hello to the team.", cell_id="hello")
    assert run.status == "ok", run.error_text
    assert served_chat_requests(tiers) == before + 1  # it really went through to the served model
    meta = run.final_display()["metadata"]["llmos"]
    assert meta["model"] == f"litellm_proxy/{TEAM_MODEL}" and meta["status"] == "ok"
    assert meta["tokens_in"] > 0 and 0 < meta["tokens_out"] <= 24
    assert meta["cost_usd"] and meta["cost_usd"] > 0  # the proxy's published price (tests/proxy/litellm_config.yaml)
    ps = team_kernel.run("%ps").stdout
    row = next(line for line in ps.splitlines() if TEAM_MODEL in line)
    assert " ok " in row and str(meta["tokens_in"]) in row and str(meta["tokens_out"]) in row
    cost = team_kernel.run("%cost").stdout
    assert re.search(rf"{TEAM_MODEL}\s+1\s+", cost) and "$0.0000" in cost, cost
    # memory kept the turn: the next cell carries it
    assert team_kernel.run("%memory").stdout.count("hello") >= 1


def test_models_lists_what_the_proxy_offers(team_kernel, tiers):
    out = team_kernel.run("%models").stdout
    assert f"endpoint {tiers.proxy_url} (litellm_proxy, key from TEAM_KEY): 2 models" in out, out
    team = next(line for line in out.splitlines() if line.strip().startswith(f"litellm_proxy/{TEAM_MODEL} "))
    assert "window 4,096 (from the proxy's model_info)" in team and "alias team" in team and "wrongkey" in team
    assert "litellm_proxy/team-smol-limited" in out
    assert MASTER_KEY not in out


def test_rate_limit_is_retried_then_one_message_naming_it(team_kernel):
    # rpm 2, counted per calendar minute: a few quick cells reach it (a minute boundary may reset it once)
    for _ in range(6):
        run = team_kernel.run("%%prompt --model limited --max-tokens 2 --no-history\nHi")
        if run.status == "error":
            break
    text = assert_one_clear_error(run, "Rate limited", "2 requests a minute", "retried 2 times", "in a minute")
    assert "team-smol-limited" in text
    assert team_kernel.run("%%python\nprint(1 + 1)").stdout.strip() == "2"


def test_wrong_key_is_not_accepted_and_never_shown(team_kernel):
    run = team_kernel.run("%%prompt --model wrongkey --no-history\nHi")
    assert_one_clear_error(run, "API key rejected", "did not accept the key in WRONG_KEY", "team-smol")
    assert SECRET_WRONG not in run.all_text() and MASTER_KEY not in run.all_text()


def test_no_key_at_all(team_kernel):
    run = team_kernel.run("%%prompt --model nokey --no-history\nHi")
    assert_one_clear_error(run, "401", "none was sent", "--api-key-env")


def test_proxy_down_cannot_reach(team_kernel):
    run = team_kernel.run("%%prompt --model down --no-history --timeout 5\nHi")
    assert_one_clear_error(run, "cannot reach", "connection")
    assert team_kernel.alive()


def test_served_model_killed_midway_then_down_then_back(team_kernel, tiers):
    """The proxy ends a cut stream as if complete (stop, usage, [DONE]): the cell ends, the kernel survives; the
    next cell says the proxy cannot reach the model; after a restart the same kernel works again."""
    kernel = team_kernel
    msg_id = kernel.send("%%prompt --model team --max-tokens 400 --no-history\nWrite a long story about a dragon.")
    seen: list[dict] = []
    while True:  # wait until the answer is streaming, then kill the served model mid-way
        msg = kernel.kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        seen.append(msg)
        if msg["msg_type"] == "update_display_data" and "llmos" not in msg["content"].get("metadata", {}):
            break
    tiers.served.kill()
    run = kernel.collect(msg_id, timeout=120)
    assert run.status in ("ok", "error")  # the proxy may end it as complete; either way the cell ends cleanly
    if run.status == "error":
        assert_one_clear_error(run, "stream")
    assert kernel.alive()

    down = kernel.run("%%prompt --model team --no-history --timeout 20\nAre you there?")
    text = assert_one_clear_error(down, "cannot reach the model behind", "litellm_proxy/team-smol", "retried")
    assert "proxy" in text
    assert kernel.run("%%python\nprint('alive')").stdout.strip() == "alive"

    tiers.restart_served()
    back = kernel.run("%%prompt --model team --max-tokens 8 --no-history\nHello again.")
    assert back.status == "ok", back.error_text


def test_spawner_environment_alone_reaches_the_proxy(tiers, tmp_path):
    """docs/deploy.md's JupyterHub set-up: no config file, only LITELLM_PROXY_API_BASE and a per-user key in
    LITELLM_PROXY_API_KEY from the spawner's environment; `%model litellm_proxy/NAME` then needs nothing else."""
    env = {**os.environ, "LITELLM_PROXY_API_BASE": tiers.proxy_url, "LITELLM_PROXY_API_KEY": MASTER_KEY,
           "LLMOS_STORE": str(tmp_path / "store.db")}
    with KernelSession(env=env, cwd=str(tmp_path)) as kernel:
        run = kernel.run(f"%model litellm_proxy/{TEAM_MODEL}")
        assert run.status == "ok" and "window 4,096 tokens" in run.stdout, run.all_text()
        answer = kernel.run("%%prompt --max-tokens 8\nHello.")
        assert answer.status == "ok", answer.error_text
        out = kernel.run("%models").stdout
        assert f"endpoint {tiers.proxy_url} (litellm_proxy, key from LITELLM_PROXY_API_KEY): 2 models" in out, out
        assert MASTER_KEY not in out
