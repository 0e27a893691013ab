"""What the user typed: which lines are magics, and the number the frontend shows for the running cell."""

from __future__ import annotations

import re
from typing import Any

# A magic is `%name` or `%%name`: "% of users", "%5 growth" or "%)" are prompt text, as in IPython, where a
# bare `%` followed by a space, a digit or punctuation is not a magic either.
MAGIC_LINE = re.compile(r"^\s*%[A-Za-z_]")
CELL_MAGIC = re.compile(r"^\s*%%[A-Za-z_]")


def is_line_magic(line: str) -> bool:
    return bool(MAGIC_LINE.match(line)) and not CELL_MAGIC.match(line)


def running_execution_count(shell: Any) -> int | None:
    """The execution count of the cell IPython is running now: the ``In [n]`` the frontend shows.

    ``shell.execution_count`` cannot say: IPython 8 moves it on after the cell, IPython 9 before (so inside a
    cell it reads n on one and n+1 on the other). The running cell's ExecutionResult carries its own number on
    both; IPython hands it to the displayhook for the duration of the cell.
    """
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    count = getattr(result, "execution_count", None)
    return count if isinstance(count, int) else getattr(shell, "execution_count", None)
