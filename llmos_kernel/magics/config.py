"""%config: which config files are in use, whether the project's is trusted, and trusting it (config.py, trust.py).

Trusting applies at once: the project's aliases, default model, defaults and timeout take effect in this kernel;
[memory] settings apply to a memory not built yet, otherwise with %session new or a restart.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from IPython.core.magic import Magics, line_magic, magics_class

from ..backends.registry import ModelSpec
from ..config import Config, ConfigFile, load_config, read_file, same_file
from ..errors import UserFacingError
from ..runtime import Runtime
from ..trust import TrustStore

USAGE = "%config [trust | untrust]"
IPYTHON_CONFIG = re.compile(r"[A-Z]\w*(\.|\s*$)")  # IPython's %config Class[.trait=value]: a class name first


@magics_class
class ConfigTrustMagics(Magics):
    def __init__(self, shell: Any, runtime: Runtime, trust: TrustStore | None = None) -> None:
        super().__init__(shell)
        self.runtime = runtime
        self.trust = trust or TrustStore()
        # IPython's own %config (configure a class's traits) still takes its arguments. Loaded now if IPython
        # declared it lazily (IPython 9): loaded later, it would replace this magic.
        try:
            self._ipython_config = shell.magics_manager.registry["ConfigMagics"].magics["line"]["config"]
        except (KeyError, AttributeError, TypeError):
            self._ipython_config = None

    @line_magic
    def config(self, line: str) -> None:
        """%config [trust | untrust] - config files in use, trusted or not, and what was ignored; trust or untrust the notebook folder's llmos.toml

        trust: let the project's llmos.toml, exactly as it is now, set default_model and [aliases] (where prompts
        and API keys go); a changed file needs trusting again. untrust: take that back. Other arguments go to
        IPython's own %config (for example %config Completer.use_jedi = False).
        """
        action = line.strip()
        if not action:
            self._show()
        elif action == "trust":
            self._trust()
        elif action == "untrust":
            self._untrust()
        elif self._ipython_config is not None and IPYTHON_CONFIG.match(action):
            self._ipython_config(line)
        else:
            raise UserFacingError(f"unknown %config action {action!r}", hint=f"Usage: {USAGE}")

    # -- the three actions ------------------------------------------------------------------------------
    def _show(self) -> None:
        config = self.runtime.config
        print("config files (later ones override earlier ones):")
        shown = {f.path for f in config.files}
        for entry in config.files:
            print(f"  {entry.kind:<8} {entry.path}  {self._state(entry)}")
        if config.project_path is not None and config.project_path not in shown:
            print(f"  {'project':<8} {config.project_path}  (none)")
        if not config.files:
            print("  (none: the defaults apply)")
        for notice in config.problems:
            print(f"note: {notice}")
        print(f"trusted project files are recorded in {self.trust.path}")
        if self.trust.problem:
            print(f"note: the trust record {self.trust.problem}")

    def _state(self, entry: ConfigFile) -> str:
        if entry.kind == "yours":
            trust = "yours, trusted"
        else:
            trust = f"{'trusted' if entry.trusted else 'not trusted'} (sha256 {(entry.sha256 or '')[:12]})"
            current = read_file(entry.path, entry.kind, self.trust)
            if current is None or current.sha256 != entry.sha256:
                trust += ", changed since it was loaded: %config trust reads it again"
        parts = [trust, "loaded" if entry.loaded else "not loaded"]
        if entry.ignored:
            parts.append("ignored: " + ", ".join(entry.ignored))
        return "; ".join(parts)

    def _trust(self) -> None:
        path = self.runtime.config.project_path
        if path is not None and any(f.kind == "yours" and same_file(f.path, path) for f in self.runtime.config.files):
            print(f"{path} is your own config file ($LLMOS_CONFIG): it is always trusted")
            return
        entry = read_file(path, "project", self.trust) if path is not None else None
        if entry is None:
            raise UserFacingError(f"there is no {path} to trust", hint="Only the notebook folder's llmos.toml needs it.")
        if not entry.loaded:
            raise UserFacingError(f"{path}: {' '.join(entry.problems)}", hint="Fix the file, then %config trust.")
        assert entry.sha256 is not None
        self.trust.trust(path, entry.sha256)
        config = load_config(path.parent, self.trust)
        project = config.project
        if project is None or project.sha256 != entry.sha256:  # edited between the two reads: trust neither
            self.trust.untrust(path)
            raise UserFacingError(f"{path} changed while it was being trusted",
                                  hint="Read it again, then run %config trust again.")
        print(f"trusted {path} (sha256 {entry.sha256[:12]}), this exact content:")
        for line in describe_redirects(entry):
            print(f"  {line}")
        for line in apply_config(self.runtime, config):
            print(line)

    def _untrust(self) -> None:
        path = self.runtime.config.project_path
        if path is None or not self.trust.untrust(path):
            print(f"{path} is not trusted: nothing to take back")
            return
        print(f"untrusted {path}: its default_model and [aliases] no longer apply")
        for line in apply_config(self.runtime, load_config(path.parent, self.trust)):
            print(line)


def describe_redirects(entry: ConfigFile) -> list[str]:
    """What a project file decides about where prompts and keys go, shown before it takes effect."""
    lines = []
    if "default_model" in entry.data:
        lines.append(f"default_model = {entry.data['default_model']!r}")
    aliases = entry.data.get("aliases")
    for name, spec in (aliases.items() if isinstance(aliases, dict) else []):
        if isinstance(spec, dict):
            where = f" at {safe_url(str(spec['api_base']))}" if spec.get("api_base") else ""
            key = f", key from ${spec['api_key_env']}" if spec.get("api_key_env") else ""
            lines.append(f"alias {name} = {spec.get('model')}{where}{key}")
        else:
            lines.append(f"alias {name} = {spec}")
    return lines or ["(nothing that decides where prompts or keys go)"]


def safe_url(url: str) -> str:
    """A URL without the user:password@ or ?query it may carry (either can hold a key)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(an unreadable URL)"
    netloc = f"{parts.hostname or ''}:{port}" if port else parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        netloc = "***@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def apply_config(runtime: Runtime, new: Config) -> list[str]:
    """Put a re-read config into effect in a running kernel; returns what changed, for the cell.

    Aliases you defined with %alias stay; the config's own follow the file. The backing model follows the
    configured default when it was on the old default, or on an alias that is gone (untrusted).
    """
    old = runtime.config
    lines: list[str] = []
    gone = [spec for name, spec in old.aliases.items() if new.aliases.get(name) != spec]
    for name, spec in old.aliases.items():
        if runtime.aliases.get(name) == spec:
            del runtime.aliases[name]
    for name, spec in new.aliases.items():
        if name not in runtime.aliases:
            runtime.aliases[name] = spec
    runtime.defaults = dict(new.settings.defaults)
    runtime.timeout = new.settings.timeout
    old_default, new_default = default_spec(old), default_spec(new)
    runtime.config = new
    if runtime.loaded_memory is None and runtime.memory_loader is None:
        runtime.reserved_output = new.memory.reserved_output
    elif _memory_keys(old) != _memory_keys(new):
        lines.append("[memory] settings apply to a new memory: %session new or a restart (%policy, %window and "
                     "%reserve change this one)")
    if runtime.spec != new_default and (runtime.spec == old_default or runtime.spec in gone):
        try:
            moved = runtime.switch_model(new_default)
        except UserFacingError as exc:
            lines.append(f"the default model {new_default.name} cannot be used now ({exc}); the backing model "
                         f"stays {runtime.spec.name}")
        else:
            name = new.settings.default_model
            shown = name if name == new_default.name else f"{name} ({new_default.name})"
            lines.append(f"model: {shown}" + "".join(f"\n  {m}" for m in moved))
    elif runtime.spec != new_default:
        lines.append(f"the backing model stays {runtime.spec.name} (you chose it); %model {new.settings.default_model}"
                     " switches to the configured default")
    return lines


def default_spec(config: Config) -> ModelSpec:
    name = config.settings.default_model
    return config.aliases.get(name) or ModelSpec(name)


def _memory_keys(config: Config) -> dict[str, Any]:
    return dict(config.memory.trait_values())
