"""%env and %set_env without secrets.

IPython's %env hides secret-looking variables only when it lists them all: `%env OPENAI_API_KEY` returns the key
itself (into the cell's output, and so into the saved notebook), and `%env VAR=value` echoes the value. These
are the same magics with the same arguments; values of keys, tokens and passwords are masked.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magics.osm import OSMagics

from ..redact import is_secret, redact

HIDDEN = "<hidden>"


def masked(name: str, value: Any) -> Any:
    return HIDDEN if isinstance(value, str) and is_secret(name, value) else value


@magics_class
class SecretSafeEnvMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._ipython = OSMagics(shell)  # IPython's implementation does the work; we only mask what it shows

    def _quietly(self, magic: Any, line: str) -> Any:
        echo = io.StringIO()
        with contextlib.redirect_stdout(echo):
            result = magic(line)
        if echo.getvalue():
            print(redact(echo.getvalue()), end="")
        return result

    @line_magic
    def env(self, parameter_s: str = "") -> Any:
        """%env [VAR [VALUE]] - get, set or list environment variables (values of keys and tokens are hidden)"""
        result = self._quietly(self._ipython.env, parameter_s)
        if isinstance(result, dict):
            return {name: masked(name, value) for name, value in result.items()}
        return masked(parameter_s.strip(), result)

    @line_magic
    def set_env(self, parameter_s: str = "") -> None:
        """%set_env VAR VALUE - set an environment variable (a key's value is not echoed)"""
        self._quietly(self._ipython.set_env, parameter_s)
