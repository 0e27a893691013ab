"""IPython magics of the llmos kernel, one module per area; each docstring starts with its usage line."""

from .core import LLMOSMagics, help_text, split_leading_magics, usage_lines
from .memory import MemoryMagics

__all__ = ["LLMOSMagics", "MemoryMagics", "help_text", "split_leading_magics", "usage_lines"]
