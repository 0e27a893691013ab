"""llmos_kernel: a Jupyter kernel where every cell is a prompt-program and the model's context window is RAM."""

__version__ = "0.1.0"
KERNEL_NAME = "llmos"
DISPLAY_NAME = "LLM OS"
