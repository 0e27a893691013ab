"""Syscalls: tools the model may call (built-ins, user functions, MCP servers), each checked by an access policy.

registry.py holds the tools, policy.py decides allow / ask / deny (with taint), approval.py asks the user,
loop.py runs the rounds of one cell between the runtime's streaming calls, mcp.py connects MCP servers.
"""
