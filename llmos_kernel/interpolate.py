"""`{name}` interpolation in prompt cells, compatible with Jupyter AI's: attribute and index access
(`{df.shape}`, `{items[0]}`), `{In[3]}` (the cell as typed), `{Out[3]}`, `{Err[3]}`; `{{` and `}}` are
literal braces. Braces that do not start with a Python name (JSON, code, set literals) pass through as text,
so prompts about code need no escaping. An undefined name is an error before anything is sent.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from .errors import PromptError

_FIELD = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\[\]{}]*\])*(?:![rsa])?(?::[^{}]*)?")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
MAX_VALUE_CHARS = 200_000  # a runaway {big_dataframe} must not blow the context window silently


class _Undefined(Exception):
    """The placeholder's leading name is not defined (as opposed to a missing key or index inside it)."""


class _Formatter(string.Formatter):
    def get_value(self, key: Any, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int) or key not in kwargs:
            raise _Undefined(str(key))
        return kwargs[key]


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace `{expr}` placeholders from `namespace`; returns the text to send."""
    formatter = _Formatter()

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        field = match.group(1)
        if not _FIELD.fullmatch(field.strip()):
            return token  # not a placeholder: JSON, code or a set literal stays as typed
        if any(int(n) > MAX_VALUE_CHARS for n in re.findall(r"\d+", field.partition(":")[2])):
            # checked before formatting: {x:>99999999999} would allocate gigabytes (or kill the kernel) first
            raise PromptError(f"{{{field}}} asks for more than {MAX_VALUE_CHARS:,} characters")
        try:
            value = formatter.vformat("{" + field.strip() + "}", (), namespace)
        except _Undefined as exc:
            raise PromptError(
                f"{{{field}}} refers to {str(exc)!r}, which is not defined",
                hint="Define it in a %%python cell first, or write {{ and }} for literal braces.",
            ) from None
        except KeyError as exc:
            raise PromptError(
                f"could not evaluate {{{field}}}: there is no item {exc}",
                hint="In[n], Out[n] and Err[n] exist only for cells that ran (and, for Err, failed).",
            ) from None
        except (AttributeError, IndexError, TypeError, ValueError, OverflowError, MemoryError) as exc:
            raise PromptError(f"could not evaluate {{{field}}}: {type(exc).__name__}: {exc}") from None
        if len(value) > MAX_VALUE_CHARS:
            raise PromptError(
                f"{{{field}}} is {len(value):,} characters long",
                hint=f"Interpolate a smaller value (at most {MAX_VALUE_CHARS:,} characters), e.g. {{df.head()}}.",
            )
        return value

    return _PLACEHOLDER.sub(substitute, text)
