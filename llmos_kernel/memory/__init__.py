"""The context window as data: segments, token accounting, planning, policies and swap.

Pure and fast: nothing here imports Jupyter or a provider library, so it is unit-testable on its own.
"""

from .plan import CompactReport, MemoryFull, NothingToUndo, Plan, RefitReport, Region
from .render import render_map
from .segments import Kind, Segment
from .swap import Swap
from .tokenizers import (
    EstimateTokenizer,
    FunctionTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    TokenizerUnavailable,
    count_messages,
    tokenizer_for_model,
)
from .window import ContextWindow, Summarizer

__all__ = [
    "CompactReport",
    "ContextWindow",
    "EstimateTokenizer",
    "FunctionTokenizer",
    "Kind",
    "MemoryFull",
    "NothingToUndo",
    "Plan",
    "RefitReport",
    "Region",
    "Segment",
    "Summarizer",
    "Swap",
    "TiktokenTokenizer",
    "Tokenizer",
    "TokenizerUnavailable",
    "count_messages",
    "render_map",
    "tokenizer_for_model",
]
