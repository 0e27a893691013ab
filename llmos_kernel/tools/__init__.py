"""Syscalls: the tools a model may call (built-ins, user functions, MCP servers) and the policy that guards them."""
