"""docs/deploy.md: every snippet marked tested is the very text the three-tier tests run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.proxy.conftest import team_config
from tests.support.three_tier import PROXY_CONFIG, SERVER_WITHOUT_REPACKING, litellm_proxy, served_model

DOC = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
DOC_URL = "http://litellm.team.svc:4000/v1"


def snippet(mark: str) -> str:
    found = re.search(rf"<!-- tested: {re.escape(mark)} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"no tested snippet {mark} in {DOC}"
    return found.group(1)


def options(argv: list[str]) -> dict[str, str]:
    """--flag value pairs of a command line (the values of --model, --config, --host and --port vary)."""
    pairs = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    return {k: ("*" if k in ("--model", "--config", "--host", "--port") else v) for k, v in pairs.items()}


def test_the_proxy_config_is_the_one_the_tests_run():
    assert snippet("tests/proxy/litellm_config.yaml") == PROXY_CONFIG.read_text()


def test_the_served_model_command_is_the_harness_one(tmp_path):
    documented = shlex.split(snippet("served-model"))
    harness = served_model(tmp_path / "python").argv
    # The harness runs the same module through `-c` with ggml's weight repacking off (AMX CPUs crash with it).
    assert documented[:3] == ["python", "-m", "llama_cpp.server"] and harness[1:3] == ["-c", SERVER_WITHOUT_REPACKING]
    assert 'run_module("llama_cpp.server"' in harness[2]
    assert options(documented) == options(harness)


def test_the_proxy_command_is_the_harness_one(tmp_path):
    words = shlex.split(snippet("proxy-command"))
    env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    command = [w for w in words if not ("=" in w and not w.startswith("-"))]
    proxy = litellm_proxy(tmp_path / "python", served_model(tmp_path / "python"))
    assert command[0] == "litellm" and Path(proxy.argv[0]).name == "litellm"
    assert options(command) == options(proxy.argv)
    assert set(env) == {"LLMOS_SERVED_BASE", "LITELLM_MASTER_KEY", "LITELLM_LOCAL_MODEL_COST_MAP"}
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == proxy.env["LITELLM_LOCAL_MODEL_COST_MAP"]


def test_the_team_alias_is_the_one_the_tests_write():
    written = team_config(DOC_URL).splitlines()
    for line in snippet("team-alias").splitlines():
        assert line in written, line
