"""Drive a real llmos kernel process through jupyter_client, as a notebook frontend does."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class Run:
    """Everything one execute_request produced."""

    reply: dict
    messages: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    def of_type(self, *types: str) -> list[dict]:
        return [m for m in self.messages if m["msg_type"] in types]

    @property
    def errors(self) -> list[dict]:
        return self.of_type("error")

    @property
    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stderr")

    @property
    def error_text(self) -> str:
        return "\n".join("\n".join(m["content"]["traceback"]) for m in self.errors)

    def final_display(self) -> dict | None:
        """The last display_data/update_display_data carrying llmos metadata (the finished answer)."""
        for m in reversed(self.of_type("display_data", "update_display_data")):
            if "llmos" in m["content"].get("metadata", {}):
                return m["content"]
        return None

    def all_text(self) -> str:
        parts = [self.stdout, self.stderr, self.error_text]
        for m in self.of_type("display_data", "update_display_data", "execute_result"):
            parts.append(str(m["content"]["data"].get("text/plain", "")))
        return "\n".join(parts)


class KernelSession:
    def __init__(self, kernel_name: str = "llmos", env: dict[str, str] | None = None, cwd: str | None = None):
        self.km = KernelManager(kernel_name=kernel_name)
        kwargs: dict[str, Any] = {}
        if env is not None:
            kwargs["env"] = env
        if cwd is not None:
            kwargs["cwd"] = cwd
        self.km.start_kernel(**kwargs)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def send(self, code: str, cell_id: str | None = None, silent: bool = False, stop_on_error: bool = False,
             allow_stdin: bool = False) -> str:
        # stop_on_error off by default: ipykernel 6 aborts a request that reaches it right after an error reply
        # (a race under load), which would test ipykernel's queue rather than this kernel. Tests of run-all
        # semantics pass stop_on_error=True.
        content = {"code": code, "silent": silent, "store_history": not silent, "user_expressions": {},
                   "allow_stdin": allow_stdin, "stop_on_error": stop_on_error}
        msg = self.kc.session.msg("execute_request", content)
        if cell_id is not None:
            msg["metadata"]["cellId"] = cell_id  # what JupyterLab sends; ipykernel passes it as cell_id
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def collect(self, msg_id: str, timeout: float = 300) -> Run:
        deadline = time.monotonic() + timeout
        messages: list[dict] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no idle status within {timeout} s")
            msg = self.kc.get_iopub_msg(timeout=remaining)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            messages.append(msg)
        return self._reply(msg_id, messages, deadline)

    def _reply(self, msg_id: str, messages: list[dict], deadline: float) -> Run:
        """The execute_reply of ``msg_id`` (after its idle status), with the iopub messages it produced."""
        while True:
            reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return Run(reply, messages)

    def run_interactive(self, code: str, *, stdin: list[str] | None = None,
                        on_message: Any = None, timeout: float = 120) -> Run:
        """Run a cell as a frontend that answers: each input_request gets the next of ``stdin`` (the prompts
        are kept in ``run.prompts``), and ``on_message(msg)`` sees every iopub message as it arrives (to click
        a widget's button, say)."""
        import queue

        answers = list(stdin or [])
        msg_id = self.send(code, cell_id=uuid.uuid4().hex, allow_stdin=stdin is not None)
        deadline = time.monotonic() + timeout
        messages: list[dict] = []
        prompts: list[str] = []
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no idle status within {timeout} s")
            with contextlib.suppress(queue.Empty):
                request = self.kc.get_stdin_msg(timeout=0.02)
                if request["msg_type"] == "input_request":
                    prompts.append(request["content"]["prompt"])
                    self.kc.input(answers.pop(0) if answers else "")
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            if on_message is not None:
                on_message(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            messages.append(msg)
        run = self._reply(msg_id, messages, deadline)
        run.prompts = prompts  # type: ignore[attr-defined]
        return run

    def comm_open(self, target: str, data: dict | None = None, metadata: dict | None = None) -> str:
        """Open a comm from the frontend side, as a widget manager does; returns its id."""
        comm_id = uuid.uuid4().hex
        msg = self.kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": target, "data": data or {}},
                                  metadata=metadata or {})
        self.kc.shell_channel.send(msg)
        return comm_id

    def comm_send(self, comm_id: str, data: dict) -> None:
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

    def run(self, code: str, cell_id: str | None = None, timeout: float = 300) -> Run:
        return self.collect(self.send(code, cell_id=cell_id or uuid.uuid4().hex), timeout)

    def py(self, code: str) -> Run:
        return self.run("%%python\n" + code)

    def eval(self, expr: str) -> Any:
        """Evaluate a Python expression in the kernel and return its value (via repr/literal_eval)."""
        import ast

        run = self.py(f"print(repr({expr}))")
        assert run.status == "ok", run.error_text
        return ast.literal_eval(run.stdout.strip())

    def alive(self) -> bool:
        return self.km.is_alive()

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
