"""llmos_kernel: a Jupyter kernel where every cell is a prompt-program and the model's context window is RAM."""

__version__ = "0.1.0"
KERNEL_NAME = "llmos"
DISPLAY_NAME = "LLM OS"

from .tools.user import tool  # noqa: E402 - @tool in a %%python cell makes a function a tool the model may call

__all__ = ["DISPLAY_NAME", "KERNEL_NAME", "__version__", "tool"]
