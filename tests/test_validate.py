"""The one validator (llmos_kernel/validate.py): fields, cross-field rules, unknown keys, refusing and repairing
doors, saved-session repair. Pure logic: no kernel."""

from __future__ import annotations

import math

import pytest

from llmos_kernel.validate import (
    AliasSettings,
    CallSettings,
    MemorySettings,
    SettingsError,
    check,
    check_saved_state,
    fit_reserve,
    require,
)

MAGIC_NAMES = {"warn_at": "--warn", "act_at": "--act", "window": "%window", "reserved_output": "%reserve"}


def test_values_over_a_base_are_applied_and_reported_as_applied():
    result = check(MemorySettings, {"warn_at": 0.5, "policy": "strict"}, base={"act_at": 0.7, "window": 4096})
    assert result.problems == []
    settings = result.settings
    assert (settings.warn_at, settings.act_at, settings.policy, settings.window) == (0.5, 0.7, "strict", 4096)
    assert result.applied == {"warn_at": 0.5, "policy": "strict"}


def test_warn_above_act_is_one_problem_in_the_doors_own_words():
    with pytest.raises(SettingsError) as refused:
        require(MemorySettings, {"warn_at": 1.0, "act_at": 0.5}, names=MAGIC_NAMES)
    assert str(refused.value) == "--warn 1 must be below --act 0.5"
    assert refused.value.render().startswith("Bad settings: --warn 1")
    # A value not given at this door comes from the base, and the message says so.
    with pytest.raises(SettingsError, match=r"--warn 0.95 must be below --act 0.9 \(as it is now\)"):
        require(MemorySettings, {"warn_at": 0.95, "act_at": None}, base={"act_at": 0.9}, names=MAGIC_NAMES)
    with pytest.raises(SettingsError, match="must be below"):
        require(MemorySettings, {"warn_at": 0.8, "act_at": 0.8})  # equal is not below


def test_the_reserve_and_the_compaction_buffer_must_leave_room_in_the_window():
    with pytest.raises(SettingsError, match=r"%reserve 15,800 leaves no room in %window 16,000"):
        require(MemorySettings, {"reserved_output": 15_800}, base={"window": 16_000}, names=MAGIC_NAMES)
    assert require(MemorySettings, {"reserved_output": 15_700}, base={"window": 16_000}).reserved_output == 15_700
    # window 0 means the model's own: unknown here, so nothing to compare with
    assert require(MemorySettings, {"reserved_output": 100_000}).reserved_output == 100_000


@pytest.mark.parametrize("field, value, words", [
    ("warn_at", math.nan, "is not a usable number"),
    ("warn_at", math.inf, "is not a usable number"),
    ("warn_at", True, "is not a usable number"),
    ("warn_at", "high", "is not a usable number"),
    ("warn_at", 0.0, "is out of range: use a number from 0.05 to 1"),
    ("act_at", 1.5, "is out of range"),
    ("reserved_output", 8, "is out of range: use a whole number of at least 16"),
    ("reserved_output", 512.5, "is not a whole number"),
    ("window", -1, "is out of range"),
    ("window", 10**12, "is out of range"),
    ("policy", "LRU", "is not one of lru, compact, strict"),
])
def test_bad_memory_values_are_named_and_not_applied(field, value, words):
    result = check(MemorySettings, {field: value}, prefix="memory.")
    (problem,) = result.problems
    assert problem.startswith(f"memory.{field} ") and words in problem
    assert field not in result.applied
    assert getattr(result.settings, field) == getattr(MemorySettings(), field)  # the default stays


@pytest.mark.parametrize("values, words", [
    ({"max_tokens": -1}, "--max-tokens -1 is out of range: use a whole number of at least 1"),
    ({"max_tokens": 0}, "--max-tokens 0 is out of range"),
    ({"temperature": 2.5}, "--temperature 2.5 is out of range: use a number from 0 to 2"),
    ({"temperature": math.nan}, "--temperature nan is not a usable number"),
    ({"timeout": 0}, "--timeout 0 is out of range: use a number from 0.001 to 86400"),
])
def test_call_parameters_share_one_range_check(values, words):
    names = {"max_tokens": "--max-tokens", "temperature": "--temperature", "timeout": "--timeout"}
    with pytest.raises(SettingsError) as refused:
        require(CallSettings, values, names=names)
    assert str(refused.value).startswith(words)


def test_every_problem_is_reported_at_once_and_none_means_not_given():
    with pytest.raises(SettingsError) as refused:
        require(CallSettings, {"max_tokens": -1, "temperature": -2, "timeout": None})
    assert "max_tokens -1" in str(refused.value) and "temperature -2" in str(refused.value)
    assert require(CallSettings, {"max_tokens": None, "temperature": 0.2}).temperature == 0.2


def test_unknown_keys_are_named_with_a_close_match():
    result = check(MemorySettings, {"polcy": "lru", "colour": "red", "compaction_buffer": 10}, prefix="memory.",
                   accept=("policy", "warn_at", "act_at", "reserved_output", "window"))
    assert result.problems == ["unknown setting memory.polcy (did you mean memory.policy?)",
                               "unknown setting memory.colour",
                               "unknown setting memory.compaction_buffer"]  # not a setting of this door


def test_a_repairing_door_keeps_the_base_for_every_field_of_a_broken_rule():
    result = check(MemorySettings, {"warn_at": 0.9, "act_at": 0.95, "reserved_output": 900, "window": 1000},
                   base={"warn_at": 0.6, "act_at": 0.7}, base_is="the config's")
    assert [p.split(" ")[0] for p in result.problems] == ["reserved_output"]
    assert (result.settings.warn_at, result.settings.act_at) == (0.9, 0.95)
    assert (result.settings.reserved_output, result.settings.window) == (512, 0)
    assert result.applied == {"warn_at": 0.9, "act_at": 0.95}


def test_when_the_base_breaks_a_rule_too_the_defaults_are_used():
    result = check(MemorySettings, {"warn_at": 0.99}, base={"warn_at": 0.9, "act_at": 0.5})
    assert result.problems and (result.settings.warn_at, result.settings.act_at) == (0.75, 0.9)


def test_secrets_are_never_repeated_in_a_message():
    result = check(AliasSettings, {"model": "openai/x", "api_base": "ftp://user:hunter2@host",
                                   "api_key_env": "sk-live-abcdef"}, prefix="aliases.x.")
    text = " ".join(result.problems)
    assert "hunter2" not in text and "sk-live" not in text and text.count("(value not shown)") == 2


def test_an_alias_needs_a_model():
    assert check(AliasSettings, {"api_base": "http://h/v1"}).problems == [
        'model is missing: an alias needs model = "NAME"']
    assert check(AliasSettings, {"model": "openai/x", "window": 32768}).problems == []


def test_fit_reserve_keeps_a_reserve_that_fits_and_shrinks_one_that_does_not():
    notices: list[str] = []
    assert fit_reserve(512, 2048, notices) == 512 and notices == []
    assert fit_reserve(4000, 2048, notices) == (2048 - 256) // 2
    (notice,) = notices
    assert "memory.reserved_output 4,000 leaves no room in the model's window 2,048" in notice and "896" in notice


def saved(memory: dict, **state) -> dict:
    base = {"window": 16000, "reserved_output": 512, "compaction_buffer": 256, "warn_at": 0.75, "act_at": 0.9,
            "policy": "lru", "evict_to": 0.5, "system": "be brief"}
    return {"version": 1, "spec": {"name": "openai/x", "api_base": "http://h/v1", "api_key_env": None,
                                   "window": 16000}, "memory": {**base, **memory}, **state}


def test_a_valid_saved_state_is_restored_as_it_is():
    state = saved({}, reserved_output=512, window_overrides={"openai/x": 9000}, aliases={})
    fixed, problems = check_saved_state(state, MemorySettings())
    assert problems == [] and fixed == state


def test_bad_saved_settings_are_repaired_from_the_config_with_every_problem_named():
    config_memory = MemorySettings(warn_at=0.6, act_at=0.8)
    state = saved({"warn_at": 1.0, "act_at": 0.9, "policy": "bogus"}, reserved_output=-5,
                  window_overrides={"openai/x": 9000, "other": "big", "zero": 0},
                  aliases={"good": {"name": "m", "api_base": None, "api_key_env": None, "window": None},
                           "bad": {"name": "m", "api_base": "ftp://x", "api_key_env": None, "window": None},
                           "odd": {"model": "m"}})
    fixed, problems = check_saved_state(state, config_memory)
    memory = fixed["memory"]
    assert (memory["warn_at"], memory["act_at"], memory["policy"]) == (0.6, 0.8, "lru")
    assert memory["system"] == "be brief" and memory["window"] == 16000  # what was fine is kept
    assert "reserved_output" not in fixed and fixed["window_overrides"] == {"openai/x": 9000}
    assert set(fixed["aliases"]) == {"good"} and fixed["spec"] == state["spec"]
    text = " | ".join(problems)
    for expected in ("saved policy 'bogus'", "saved warn_at 1 must be below saved act_at 0.9",
                     "saved reserved_output -5", "2 saved %window sizes", "the saved alias bad",
                     "the saved alias odd is not a model description"):
        assert expected in text, text


def test_a_bad_saved_window_becomes_the_models_own():
    fixed, problems = check_saved_state(saved({"window": "huge"}), MemorySettings())
    assert fixed["memory"]["window"] == 0 and problems == ["saved window 'huge' is not a usable number: use a whole"
                                                           " number of at least 0"]
