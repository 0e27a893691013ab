"""One validator for every door that lets settings in: the TOML config, the magics and session restore.

Each setting is declared once, as a traitlets trait with its type and range; the rules that join two settings
(warn below act, the answer's reserve inside the window) are declared next to them. `check` applies values to
a copy of a base (the defaults, or what is in force now) and reports every problem by the name the user typed
(`--warn`, `memory.warn_at`): a refusing door (a magic) raises `SettingsError` and changes nothing, a
repairing door (a config file, a saved session) keeps going with the base's values for what was bad.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from traitlets import Bool, Dict, Enum, Float, HasTraits, Int, List, TraitError, Unicode

from .errors import BadOptions
from .memory.policies import POLICIES

MAX_TOKENS = 100_000_000  # far above any model's window: only typos and overflow are stopped here
TIMEOUT_RANGE = {"min": 0.001, "max": 86_400.0}  # seconds: a day at most, or it is a typo
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

T = TypeVar("T", bound=HasTraits)


class SettingsError(BadOptions):
    """Settings a magic refuses: every problem in one message, nothing changed."""

    title = "Bad settings"


class Number(Float):
    """A finite float (traitlets' bounds let nan through: every comparison with nan is false); never a bool."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
            self.error(obj, value)
        return super().validate(obj, value)


class Count(Int):
    """A whole number; never a bool (TOML's `true` is not a token count)."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, bool):
            self.error(obj, value)
        return super().validate(obj, value)


class Pattern(Unicode):
    """Text matching a regular expression: an environment variable's name, a URL's scheme."""

    def __init__(self, pattern: str, expected: str, **kwargs: Any) -> None:
        self.pattern = re.compile(pattern)
        self.expected = expected
        super().__init__(**kwargs)

    def validate(self, obj: Any, value: Any) -> Any:
        value = super().validate(obj, value)
        if value is not None and not self.pattern.match(value):
            self.error(obj, value)
        return value


@dataclass(frozen=True)
class Rule:
    """A check that joins settings; `message` names them as {field} placeholders."""

    fields: tuple[str, ...]
    holds: Callable[[Any], bool]
    message: str


class MemorySettings(HasTraits):
    policy = Enum(list(POLICIES), default_value="lru", help="what memory does when the window fills up")
    warn_at = Number(0.75, min=0.05, max=1.0, help="warning threshold, a fraction of the usable window")
    act_at = Number(0.90, min=0.05, max=1.0, help="threshold at which the policy acts")
    reserved_output = Count(512, min=16, max=MAX_TOKENS, help="tokens kept free for the answer")
    window = Count(0, min=0, max=MAX_TOKENS, help="context window in tokens; 0: the model's own")
    # Not a user setting (no door but restore accepts it); part of the rule that keeps room in the window.
    compaction_buffer = Count(256, min=0, max=MAX_TOKENS)

    rules = (
        Rule(("warn_at", "act_at"), lambda s: s.warn_at < s.act_at, "{warn_at} must be below {act_at}"),
        Rule(("reserved_output", "window"),
             lambda s: not s.window or s.reserved_output + s.compaction_buffer < s.window,
             "{reserved_output} leaves no room in {window}: the answer's reserve and the "
             "{compaction_buffer_value}-token compaction buffer must be smaller than the window"),
    )


class CallSettings(HasTraits):
    """A prompt's call parameters: %%prompt and %%compare options, the config's [defaults] and timeout."""

    temperature = Number(None, allow_none=True, min=0.0, max=2.0, help="sampling temperature")
    # A negative count would make llama.cpp generate until its context is full.
    max_tokens = Count(None, allow_none=True, min=1, max=MAX_TOKENS, help="maximum tokens to generate")
    timeout = Number(None, allow_none=True, help="seconds to wait for the answer to start", **TIMEOUT_RANGE)
    rules = ()


class ToolSettings(HasTraits):
    """[tools] of a trusted config file, and %tools: whether cells may call tools, and the access policy."""

    enabled = Bool(False, help="prompt cells may call tools (%tools on)")
    max_rounds = Count(10, min=1, max=1000, help="tool rounds per cell")
    allow = List(Pattern(r"^\S+$", "a tool pattern"), help="tool patterns that run without asking")
    ask = List(Pattern(r"^\S+$", "a tool pattern"), help="tool patterns that ask first")
    deny = List(Pattern(r"^\S+$", "a tool pattern"), help="tool patterns that never run")
    rules = ()


class Settings(HasTraits):
    """The config file's top level."""

    default_model = Pattern(r"\S", "a model name", default_value="smollm2", help="the backing model at start")
    timeout = Number(120.0, help="seconds to wait for an answer to start, retries included", **TIMEOUT_RANGE)
    defaults = Dict(help="[defaults]: call parameters for every cell, each checked as CallSettings")
    rules = ()


class AliasSettings(HasTraits):
    """One alias: a model and where it is served (a config [aliases] table, %alias, a saved session)."""

    model = Pattern(r"\S", "a model name", allow_none=True, default_value=None, help="the model it stands for")
    # Never repeated in a message: a URL may carry user:password@, and a key is sometimes pasted for a name.
    api_base = Pattern(r"https?://[^\s/]", "an http:// or https:// URL", allow_none=True,
                       default_value=None).tag(secret=True)
    api_key_env = Pattern(ENV_NAME.pattern, "an environment variable's name", allow_none=True,
                          default_value=None).tag(secret=True)
    window = Count(None, allow_none=True, min=256, max=MAX_TOKENS, help="context window in tokens")
    rules = (Rule(("model",), lambda s: s.model is not None,
                  "{model_name} is missing: an alias needs model = \"NAME\""),)


@dataclass
class Checked:
    """What a door let in: the settings (bad values replaced by the base's), the problems, what was applied."""

    settings: Any
    problems: list[str] = field(default_factory=list)
    applied: dict[str, Any] = field(default_factory=dict)


def check(model: type[T], values: Mapping[str, Any], *, base: Any = None, names: Mapping[str, str] | None = None,
          prefix: str = "", accept: Iterable[str] | None = None, base_is: str = "as it is now",
          cross: bool = True) -> Checked:
    """Validate `values` over `base` (an instance, a mapping or None for the defaults).

    `names` spells a field as the door shows it (`--warn`); otherwise it is `prefix + field` (`memory.warn_at`).
    `accept` limits the fields this door takes; any other key is reported as unknown, with a close match.
    `base_is` says, in a broken rule's message, where a value that was not given came from. `cross=False`
    checks each value alone (a window saved for another model, whose reserve is not known here).
    """
    settings = model()
    start = _values_of(base, settings.trait_names())
    for name, value in start.items():
        # A base from before these checks existed may hold a bad value: the default replaces it.
        with contextlib.suppress(TraitError):
            settings.set_trait(name, value)
    fallback = {name: getattr(settings, name) for name in _fields(model)}
    allowed = [f for f in _fields(model) if accept is None or f in accept]
    result = Checked(settings)
    refused: set[str] = set()

    def label(name: str) -> str:
        return (names or {}).get(name, prefix + name)

    for key, value in values.items():
        if key not in allowed:
            import difflib  # only for a mistyped setting: a kernel starting with valid settings never loads it

            close = difflib.get_close_matches(str(key), allowed, n=1)
            result.problems.append(f"unknown setting {label(str(key))}"
                                   + (f" (did you mean {label(close[0])}?)" if close else ""))
            continue
        try:
            setattr(settings, key, value)
        except TraitError:
            trait = getattr(model, key)
            value_text = "(value not shown)" if trait.metadata.get("secret") else shown(value)
            result.problems.append(f"{label(key)} {value_text} {_expected(trait, value)}")
            refused.add(key)
            continue
        result.applied[key] = getattr(settings, key)
    for rule in getattr(model, "rules", ()) if cross else ():
        if rule.holds(settings):
            continue
        given = {f: f"{label(f)} {shown(getattr(settings, f))}" + ("" if f in values else f" ({base_is})")
                 for f in rule.fields}
        extra = {f"{name}_value": shown(value) for name, value in settings.trait_values().items()}
        extra.update({f"{name}_name": label(name) for name in fallback})
        if not refused.intersection(rule.fields):  # a refused value was reported already
            result.problems.append(rule.message.format(**given, **extra))
        for name in rule.fields:  # every field of a broken rule goes back to the base's value ...
            settings.set_trait(name, fallback[name])
            result.applied.pop(name, None)
        if not rule.holds(settings):  # ... or, when the base broke it too, to the defaults, which keep every rule
            for name in rule.fields:
                settings.set_trait(name, model.class_traits()[name].default())
    return result


def require(model: type[T], values: Mapping[str, Any], *, base: Any = None,
            names: Mapping[str, str] | None = None, hint: str | None = None) -> Any:
    """A refusing door: the validated settings, or SettingsError naming every problem (nothing is changed)."""
    given = {key: value for key, value in values.items() if value is not None}
    result = check(model, given, base=base, names=names)
    if result.problems:
        raise SettingsError("; ".join(result.problems), hint=hint)
    return result.settings


def shown(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1000:
        return f"{value:,}"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fields(model: type[HasTraits]) -> list[str]:
    return [name for name in model.class_trait_names() if not name.startswith("_")]


def _values_of(base: Any, names: Iterable[str]) -> dict[str, Any]:
    if base is None:
        return {}
    if isinstance(base, Mapping):
        return {name: base[name] for name in names if name in base}
    return {name: getattr(base, name) for name in names if hasattr(base, name)}


def _expected(trait: Any, value: Any) -> str:
    """Why `value` is refused, in words, from the field's declaration."""
    if isinstance(trait, Enum):
        return "is not one of " + ", ".join(str(v) for v in trait.values)
    if isinstance(trait, Pattern):
        return f"is not {trait.expected}"
    if isinstance(trait, (Number, Count)):
        kind = "a whole number" if isinstance(trait, Count) else "a number"
        low, high = trait.min, trait.max
        has_high = high is not None and high not in (math.inf, MAX_TOKENS)
        wanted = f"{kind} from {shown(low)} to {shown(high)}" if has_high else f"{kind} of at least {shown(low)}"
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if isinstance(trait, Count) and isinstance(value, float) and numeric:
            return f"is not a whole number: use {wanted}"
        return f"is out of range: use {wanted}" if numeric else f"is not a usable number: use {wanted}"
    return f"is not {trait.info()}"


def fit_reserve(reserved: int, window: int, notices: list[str]) -> int:
    """The answer's reserve for a new memory of `window` tokens: `reserved`, or the most that fits, with a notice.

    A config's reserve is checked without a window (the model's is not known when the file is read): a 4,000
    token reserve is fine for a 128k model and impossible for a 2k one.
    """
    result = check(MemorySettings, {"reserved_output": reserved, "window": window},
                   names={"reserved_output": "memory.reserved_output", "window": "the model's window"})
    if not result.problems:
        return reserved
    fitted = max(16, min(reserved, (window - MemorySettings.compaction_buffer.default_value) // 2))
    notices.append(f"config: {result.problems[0]}; {fitted:,} tokens are reserved for the answer instead")
    return fitted


def check_saved_state(state: dict[str, Any], memory_base: Any) -> tuple[dict[str, Any], list[str]]:
    """A saved session's state with every invalid value replaced, and what was wrong: restore never refuses.

    The memory's settings fall back to `memory_base` (the config's), a bad window to 0 (the model's own), a bad
    model or alias is dropped (the configured one stays). A session saved by an older version that took
    `%policy --warn 1` is then restored, with a notice, instead of turning persistence off.
    """
    state = dict(state)
    problems: list[str] = []
    spec = state.get("spec")
    if spec is not None and _spec_problems(spec, "the saved model", problems):
        state.pop("spec")
    aliases = state.get("aliases")
    if isinstance(aliases, dict):
        state["aliases"] = {name: value for name, value in aliases.items()
                            if not _spec_problems(value, f"the saved alias {name}", problems)}
    if "reserved_output" in state:
        result = check(MemorySettings, {"reserved_output": state["reserved_output"]}, prefix="saved ")
        if result.problems:
            problems += result.problems
            state.pop("reserved_output")
    overrides = state.get("window_overrides")
    if isinstance(overrides, dict):
        kept = {model: size for model, size in overrides.items()
                if size and not check(MemorySettings, {"window": size}, cross=False).problems}
        if len(kept) != len(overrides):
            problems.append(f"{len(overrides) - len(kept)} saved %window sizes were not token counts")
        state["window_overrides"] = kept
    memory = state.get("memory")
    if isinstance(memory, dict):
        values = {name: memory[name] for name in _fields(MemorySettings) if name in memory}
        result = check(MemorySettings, values, base=memory_base, prefix="saved ", base_is="the config's")
        problems += result.problems
        state["memory"] = {**memory, **result.settings.trait_values()}
    elif memory is not None:
        problems.append("the saved memory settings are not a table, so the memory starts empty")
        state.pop("memory")
    return state, problems


def _spec_problems(spec: Any, what: str, problems: list[str]) -> bool:
    """True (and a problem recorded) when a saved ModelSpec dict is not a valid model."""
    if not isinstance(spec, dict) or set(spec) - {"name", "api_base", "api_key_env", "window"}:
        problems.append(f"{what} is not a model description")
        return True
    values = {("model" if key == "name" else key): value for key, value in spec.items()
              if value is not None or key == "name"}
    result = check(AliasSettings, values, prefix=f"{what}: ")
    problems += result.problems
    return bool(result.problems)
