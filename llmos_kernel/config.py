"""Settings from TOML files: who may set what (trust), and one validator for every value (validate.py).

Looked up, later overriding earlier:
- yours, always trusted: `$LLMOS_CONFIG`, else `~/.config/llmos/config.toml` (XDG), else
  `<jupyter config dir>/llmos.toml`;
- the project's: `llmos.toml` in the notebook's folder (the kernel's cwd). It may have come with a cloned
  repository, so until you trust its exact content (`%config trust`, see trust.py) it may set only harmless
  keys (`timeout`, `[defaults]`, `[memory]`). `default_model` and `[aliases]` decide where your prompts and API
  keys go: from an untrusted file they are ignored, with one notice that says how to trust it. (An embedded
  default_model stays allowed: it keeps every prompt on this machine.)

A file that does not parse, or holds bad values, gives one notice; its bad settings keep their defaults and
the kernel works on.

    default_model = "smollm2"
    timeout = 120

    [defaults]            # per-cell parameters unless a cell says otherwise
    temperature = 0.2
    max_tokens = 512

    [memory]
    policy = "lru"        # lru | compact | strict
    warn_at = 0.75        # below act_at
    act_at = 0.9
    reserved_output = 512 # with the 256-token compaction buffer, below the window
    window = 0            # 0: the model's own

    [tools]               # trusted files only: an allow rule lets the model act without asking
    enabled = false       # %tools on
    max_rounds = 10
    allow = ["fs.read_file"]
    ask = ["mcp.*"]
    deny = ["python"]

    [aliases]
    fast = "gpt-4o-mini"
    local = { model = "openai/qwen", api_base = "http://127.0.0.1:8000/v1", window = 32768 }
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backends.registry import ModelSpec, is_embedded
from .files import RefusedFile, read_regular
from .trust import TrustStore, digest
from .validate import AliasSettings, CallSettings, MemorySettings, Settings, ToolSettings, check


def _toml() -> Any:
    """The TOML parser, imported with the first config file read: most kernels start with none to read."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser, from PyPI (a declared dependency there)
        import tomli as tomllib
    return tomllib


def __getattr__(name: str) -> Any:
    if name == "tomllib":  # `from llmos_kernel.config import tomllib` still names the parser the kernel uses
        return _toml()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PROJECT_FILE = "llmos.toml"
MAX_BYTES = 1_000_000  # a config file is a few hundred bytes; a huge one is a mistake or an attack
SECTIONS = {"defaults": (CallSettings, ("temperature", "max_tokens")),
            "memory": (MemorySettings, ("policy", "warn_at", "act_at", "reserved_output", "window")),
            "tools": (ToolSettings, ("enabled", "max_rounds", "allow", "ask", "deny"))}
TOP_KEYS = ("default_model", "timeout")
TRUST_HINT = ("Read the file; to use them, run %config trust (only this exact content is trusted: a changed file "
              "needs trusting again).")


@dataclass
class ConfigFile:
    """One file that was looked at: whose it is, whether it is trusted, what of it applies."""

    path: Path
    kind: str  # "yours" | "project"
    trusted: bool
    sha256: str | None = None
    loaded: bool = False  # parsed (its valid, permitted settings apply)
    ignored: list[str] = field(default_factory=list)  # settings an untrusted file may not make
    problems: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # as parsed, before anything was ignored

    def notice(self) -> str | None:
        """The one notice this file needs, or None."""
        parts = list(self.problems)
        if self.ignored:
            names = ", ".join(self.ignored[:-1]) + " and " + self.ignored[-1] if len(self.ignored) > 1 else (
                self.ignored[0])
            parts.insert(0, f"Not trusted, so {names} {'were' if len(self.ignored) > 1 else 'was'} ignored: they"
                            f" decide where your prompts and API keys go. {TRUST_HINT}")
        return f"{self.path}: " + " ".join(parts) if parts else None


@dataclass
class Config:
    settings: Settings = field(default_factory=Settings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    tools: ToolSettings = field(default_factory=ToolSettings)
    aliases: dict[str, ModelSpec] = field(default_factory=dict)
    files: list[ConfigFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one notice per file (the runtime shows them once)
    project_path: Path | None = None  # the notebook folder's file, found or not

    @property
    def sources(self) -> list[str]:
        return [str(f.path) for f in self.files if f.loaded]

    @property
    def project(self) -> ConfigFile | None:
        return next((f for f in self.files if f.kind == "project"), None)


def user_config_path() -> Path:
    if os.environ.get("LLMOS_CONFIG"):
        return Path(os.environ["LLMOS_CONFIG"]).expanduser()
    xdg = Path(os.environ.get("XDG_CONFIG_HOME", "~/.config")).expanduser() / "llmos" / "config.toml"
    if xdg.exists():
        return xdg
    from jupyter_core.paths import jupyter_config_dir

    return Path(jupyter_config_dir()) / "llmos.toml"


def load_config(notebook_dir: Path | None = None, trust: TrustStore | None = None) -> Config:
    """Read your file and the project's, apply what is trusted and valid; never raises for a file's content."""
    trust = trust or TrustStore()
    user = user_config_path()
    project = (notebook_dir or Path.cwd()) / PROJECT_FILE
    config = Config(project_path=project)
    candidates = [(user, "yours")]
    if not same_file(project, user):  # $LLMOS_CONFIG may name the project's file: then it is yours
        candidates.append((project, "project"))
    merged: dict[str, Any] = {}
    for path, kind in candidates:
        entry = read_file(path, kind, trust)
        if entry is None:
            continue
        config.files.append(entry)
        if entry.loaded:
            _merge(merged, clean_file(entry))
        if entry.notice():
            config.problems.append(entry.notice() or "")
    combined = build(config, merged)
    if combined:
        config.problems.append(f"the config files together: {'; '.join(combined)}. Those settings keep their"
                               " defaults.")
    return config


def read_file(path: Path, kind: str, trust: TrustStore) -> ConfigFile | None:
    """Parse one file (None when there is none); for a project file, decide trust on the very bytes parsed."""
    try:
        # A regular file of at most MAX_BYTES, checked on the open file: a repository's llmos.toml that links to
        # /dev/zero or is a FIFO would otherwise hang or exhaust the kernel at start (issue 21).
        raw = read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        return None
    except RefusedFile as exc:
        return ConfigFile(path, kind, kind == "yours", problems=[f"Not read, since {exc}: its settings do not apply."])
    except OSError as exc:
        return ConfigFile(path, kind, kind == "yours", problems=[f"Could not be read ({exc}); its settings do not"
                                                                  " apply."])
    sha = digest(raw)
    entry = ConfigFile(path, kind, kind == "yours" or trust.is_trusted(path, sha), sha)
    tomllib = _toml()
    try:
        entry.data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        entry.problems.append(f"Not valid TOML ({exc}), so none of its settings apply; the kernel uses the"
                              " defaults.")
        return entry
    entry.loaded = True
    return entry


def redirecting(data: dict[str, Any]) -> list[str]:
    """The settings of a file that decide where prompts and keys go (what an untrusted file may not set)."""
    found = []
    model = data.get("default_model")
    if "default_model" in data and not (isinstance(model, str) and is_embedded(model)):
        found.append("default_model")
    if "tools" in data:
        found.append("[tools]")  # an allow rule lets the model run code or read files without asking
    aliases = data.get("aliases")
    if isinstance(aliases, dict):
        found += [f"aliases.{name}" for name in aliases]
    elif "aliases" in data:
        found.append("aliases")
    return found


def clean_file(entry: ConfigFile) -> dict[str, Any]:
    """The file's valid settings that it may make; everything else is recorded in `ignored` or `problems`."""
    data = dict(entry.data)
    if not entry.trusted:
        entry.ignored = redirecting(data)
        if "default_model" in entry.ignored:
            data.pop("default_model")
        if any(name.startswith("aliases") for name in entry.ignored):
            data.pop("aliases")
        data.pop("tools", None)
    problems: list[str] = []
    top = {key: value for key, value in data.items() if key not in SECTIONS and key != "aliases"}
    result = check(Settings, top, accept=TOP_KEYS, base_is="the default")
    clean: dict[str, Any] = dict(result.applied)
    problems += result.problems
    for section, (model, accept) in SECTIONS.items():
        if section not in data:
            continue
        if not isinstance(data[section], dict):
            problems.append(f"[{section}] is not a table")
            continue
        result = check(model, data[section], prefix=f"{section}.", accept=accept, base_is="the default")
        clean[section] = result.applied
        problems += result.problems
    if "aliases" in data:
        clean["aliases"] = _aliases(data["aliases"], problems)
    if problems:
        entry.problems.append("Settings that do not apply (they keep their defaults): " + "; ".join(problems) + ".")
    return clean


def build(config: Config, merged: dict[str, Any]) -> list[str]:
    """Set `config` from the merged valid settings; returns problems only the combination has (warn vs act)."""
    memory = check(MemorySettings, merged.get("memory", {}), prefix="memory.", base_is="the default")
    config.memory = memory.settings
    config.tools = check(ToolSettings, merged.get("tools", {}), prefix="tools.", base_is="the default").settings
    config.settings = Settings(**{key: merged[key] for key in TOP_KEYS if key in merged},
                               defaults=dict(merged.get("defaults", {})))
    config.aliases = {name: ModelSpec(spec["model"], spec.get("api_base"), spec.get("api_key_env"),
                                      spec.get("window")) for name, spec in merged.get("aliases", {}).items()}
    return memory.problems


def _aliases(value: Any, problems: list[str]) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        problems.append("[aliases] is not a table")
        return {}
    valid: dict[str, dict[str, Any]] = {}
    for name, spec in value.items():
        prefix = f"aliases.{name}."
        if isinstance(spec, str):
            spec = {"model": spec}
        if not isinstance(spec, dict):
            problems.append(f"aliases.{name} is neither a model name nor a table with model = \"...\"")
            continue
        if "api_key" in spec:  # the value is never repeated, not even in a message
            problems.append(f"{prefix}api_key: write api_key_env = \"VAR\" (the variable's name), never the key")
            continue
        result = check(AliasSettings, spec, prefix=prefix)
        if result.problems:
            problems.append(f"alias {name} is not used: " + "; ".join(result.problems))
            continue
        valid[name] = result.applied
    return valid


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return a == b


def _merge(into: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
