"""ModelSpec.with_options: %model's options win, but an alias's key never follows it to another endpoint."""

from __future__ import annotations

from llmos_kernel.backends.registry import ModelSpec

ALIAS = ModelSpec("openai/qwen", "http://127.0.0.1:8000/v1", "TEAM_KEY", 32768)


def test_the_same_endpoint_keeps_the_alias_key():
    spec, note = ALIAS.with_options(api_base="http://127.0.0.1:8000/v1/", window=4096)
    assert (spec.api_key_env, spec.window, note) == ("TEAM_KEY", 4096, None)


def test_another_endpoint_drops_the_alias_key_and_says_so():
    spec, note = ALIAS.with_options(api_base="http://user:pw@elsewhere:9/v1")
    assert spec.api_base == "http://user:pw@elsewhere:9/v1" and spec.api_key_env is None
    assert note and "TEAM_KEY" in note and "elsewhere:9" in note and "pw" not in note


def test_a_key_named_for_the_new_endpoint_is_used():
    spec, note = ALIAS.with_options(api_base="http://elsewhere/v1", api_key_env="OTHER_KEY")
    assert (spec.api_key_env, note) == ("OTHER_KEY", None)


def test_an_alias_of_a_provider_keeps_its_key_only_without_an_api_base():
    alias = ModelSpec("openai/gpt-4o", api_key_env="WORK_OPENAI_KEY")
    assert alias.with_options(window=1000)[0].api_key_env == "WORK_OPENAI_KEY"
    assert alias.with_options(api_base="http://127.0.0.1:1/v1")[0].api_key_env is None
