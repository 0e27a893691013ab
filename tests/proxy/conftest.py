"""The real three tiers for the tests in this folder: llama-cpp-python's server on the embedded GGUF, the LiteLLM
proxy in front of it, and a kernel whose alias `team` names the proxy's model. Marked `proxy`: `make test-proxy`
(and .ci/run) runs them; the default `make test` leaves them out (pyproject's addopts), since the servers live in
a virtualenv of their own that takes a minute or two to build the first time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession
from tests.support.three_tier import LIMITED_MODEL, MASTER_KEY, TEAM_MODEL, ThreeTier, free_port

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.proxy)


@pytest.fixture(scope="package")
def tiers():
    with ThreeTier() as running:
        yield running


def team_config(proxy_url: str) -> str:
    """The user's llmos config a team hands out (docs/deploy.md quotes this shape): aliases on the proxy."""
    nobody = f"http://127.0.0.1:{free_port()}/v1"  # a proxy that is down: nothing listens there
    return f"""
[aliases]
team = {{ model = "litellm_proxy/{TEAM_MODEL}", api_base = "{proxy_url}", api_key_env = "TEAM_KEY" }}
limited = {{ model = "litellm_proxy/{LIMITED_MODEL}", api_base = "{proxy_url}", api_key_env = "TEAM_KEY" }}
wrongkey = {{ model = "litellm_proxy/{TEAM_MODEL}", api_base = "{proxy_url}", api_key_env = "WRONG_KEY" }}
nokey = {{ model = "litellm_proxy/{TEAM_MODEL}", api_base = "{proxy_url}" }}
down = {{ model = "litellm_proxy/{TEAM_MODEL}", api_base = "{nobody}", api_key_env = "TEAM_KEY" }}
"""


@pytest.fixture(scope="module")
def team_kernel(tiers, tmp_path_factory):
    home = tmp_path_factory.mktemp("team")
    config = home / "config.toml"
    config.write_text(team_config(tiers.proxy_url))
    env = {**os.environ, "LLMOS_CONFIG": str(config), "LLMOS_STORE": str(home / "store.db"),
           "TEAM_KEY": MASTER_KEY, "WRONG_KEY": "sk-not-the-teams-key-1234"}
    with KernelSession(env=env, cwd=str(home)) as kernel:
        yield kernel
