"""Parse a magic's options with IPython's magic_arguments, turning argparse errors into one clear message."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from ..errors import BadOptions


def usage_line(func: Callable[..., Any]) -> str:
    """The magic's own usage line: the docstring line "%name ... - what it does"."""
    doc = getattr(func, "__doc__", None) or ""
    return next((ln.strip() for ln in doc.splitlines() if ln.strip().startswith("%") and " - " in ln), "")


def parse(func: Callable[..., Any], line: str) -> argparse.Namespace:
    try:
        # POSIX quoting (--system 'Be terse.' gives Be terse.); IPython's own split keeps the quotes.
        return func.parser.parse_args(shlex.split(line))
    except UsageError as exc:
        usage = usage_line(func).split(" - ")[0]
        raise BadOptions(str(exc), hint=f"Usage: {usage}" if usage else None) from None
    except ValueError as exc:  # shlex: "No closing quotation"
        raise BadOptions(str(exc)) from None
