"""Settings from TOML files, validated by traitlets.

Looked up, later overriding earlier: the user's file (`$LLMOS_CONFIG`, else `~/.config/llmos/config.toml`,
else `<jupyter config dir>/llmos.toml`), then `llmos.toml` in the notebook's folder (the kernel's cwd).

    default_model = "smollm2"
    timeout = 120

    [defaults]            # per-cell parameters unless a cell says otherwise
    temperature = 0.2
    max_tokens = 512

    [memory]
    policy = "lru"        # lru | compact | strict
    warn_at = 0.75
    act_at = 0.9
    reserved_output = 512

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

from traitlets import Dict, Enum, Float, HasTraits, Int, TraitError, Unicode, default

from .backends.registry import ModelSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a declared dependency there)
    import tomli as tomllib


class MemorySettings(HasTraits):
    policy = Enum(["lru", "compact", "strict"], default_value="lru")
    warn_at = Float(0.75, min=0.05, max=1.0)
    act_at = Float(0.90, min=0.05, max=1.0)
    reserved_output = Int(512, min=16)
    window = Int(0, min=0, help="0: the model's own window")


class Settings(HasTraits):
    default_model = Unicode("smollm2")
    timeout = Float(120.0, min=1.0)
    defaults = Dict(per_key_traits={"temperature": Float(min=0.0, max=2.0), "max_tokens": Int(min=1)})
    aliases = Dict()

    @default("defaults")
    def _defaults(self) -> dict:
        return {}


@dataclass
class Config:
    settings: Settings = field(default_factory=Settings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    aliases: dict[str, ModelSpec] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def user_config_path() -> Path:
    if os.environ.get("LLMOS_CONFIG"):
        return Path(os.environ["LLMOS_CONFIG"]).expanduser()
    xdg = Path(os.environ.get("XDG_CONFIG_HOME", "~/.config")).expanduser() / "llmos" / "config.toml"
    if xdg.exists():
        return xdg
    from jupyter_core.paths import jupyter_config_dir

    return Path(jupyter_config_dir()) / "llmos.toml"


def config_paths(notebook_dir: Path | None = None) -> list[Path]:
    return [user_config_path(), (notebook_dir or Path.cwd()) / "llmos.toml"]


def load_config(paths: list[Path] | None = None) -> Config:
    """Merge the files that exist; a broken file is reported in `problems`, never fatal."""
    merged: dict[str, Any] = {}
    config = Config()
    for path in paths if paths is not None else config_paths():
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            config.problems.append(f"{path}: {exc}")
            continue
        _merge(merged, data)
        config.sources.append(str(path))
    try:
        apply(config, merged)
    except (TraitError, TypeError, ValueError) as exc:
        config.problems.append(f"invalid setting: {exc}")
    return config


def apply(config: Config, data: dict[str, Any]) -> None:
    memory = data.pop("memory", {}) or {}
    aliases = data.pop("aliases", {}) or {}
    unknown = set(data) - {"default_model", "timeout", "defaults"}
    if unknown:
        config.problems.append(f"unknown settings ignored: {', '.join(sorted(unknown))}")
    config.settings = Settings(**{k: v for k, v in data.items() if k not in unknown})
    config.memory = MemorySettings(**memory)
    for name, value in aliases.items():
        config.aliases[name] = alias_spec(name, value)


def alias_spec(name: str, value: Any) -> ModelSpec:
    if isinstance(value, str):
        return ModelSpec(value)
    if isinstance(value, dict) and isinstance(value.get("model"), str):
        if "api_key" in value:
            raise ValueError(f"alias {name}: write api_key_env = \"VAR\", never the key itself")
        window = value.get("window")
        return ModelSpec(value["model"], value.get("api_base"), value.get("api_key_env"),
                         int(window) if window else None)
    raise ValueError(f"alias {name}: expected a model name or a table with model = \"...\"")


def _merge(into: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
