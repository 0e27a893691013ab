"""IPython magics of the llmos kernel, one module per area; each docstring starts with its usage line."""

from .core import LLMOSMagics, help_text, split_leading_magics, usage_lines
from .memory import MemoryMagics
from .programs import ProgramMagics
from .session import SessionMagics

__all__ = [
    "LLMOSMagics",
    "MemoryMagics",
    "ProgramMagics",
    "SessionMagics",
    "help_text",
    "split_leading_magics",
    "usage_lines",
]
