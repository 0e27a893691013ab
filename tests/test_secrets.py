"""API keys never leave the environment: not in outputs, error messages, the kernel's own log, or a notebook
saved after running. A real kernel (its stdout/stderr captured to a file) runs a notebook through nbclient with
made-up keys set, against the loopback OpenAI-compatible server that requires (and echoes part of) the key.
"""

from __future__ import annotations

import os
import secrets

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from llmos_kernel.magics.secrets import HIDDEN, masked
from llmos_kernel.redact import redact
from tests.support.openai_server import OpenAIServer

KEYS = {
    "OPENAI_API_KEY": "sk-fake-" + secrets.token_hex(24),
    "ANTHROPIC_API_KEY": "sk-ant-fake-" + secrets.token_hex(24),
    "GEMINI_API_KEY": "AIzaFake" + secrets.token_hex(20),
    "MISTRAL_API_KEY": "mistral-fake-" + secrets.token_hex(24),  # no well-known shape: masked by its name
}


def leaks(text: str) -> list[str]:
    """Names of keys of which any 10 consecutive characters of the random part appear in ``text``."""
    found = []
    for name, key in KEYS.items():
        tail = key[-40:]  # the random hex part of every fake key
        if any(tail[i:i + 10] in text for i in range(len(tail) - 9)):
            found.append(name)
    return found


def test_redact_and_masking_units(monkeypatch):
    for name, key in KEYS.items():
        monkeypatch.setenv(name, key)
    text = " ".join(f"{name}={key}" for name, key in KEYS.items())
    assert leaks(text) and not leaks(redact(text))
    assert masked("MISTRAL_API_KEY", KEYS["MISTRAL_API_KEY"]) == HIDDEN
    assert masked("SOME_SETTING", KEYS["OPENAI_API_KEY"]) == HIDDEN  # a key's shape under any name
    assert masked("HOME", "/root") == "/root"


def cells(url: str) -> list[str]:
    return [
        # Named: a server given with --api-base gets OPENAI_API_KEY only when told to (issue 13).
        f"%model openai/test-model --api-base {url} --window 16000 --api-key-env OPENAI_API_KEY",
        "Hello there",  # answered: the key is right
        "This one meets a 401",
        "This one meets a 500 that quotes the keys",
        "%model",
        "%models",
        "%env",
        "%env OPENAI_API_KEY",
        "%env MISTRAL_API_KEY",
        "%env GEMINI_API_KEY",
        "%%python\nimport os\ncopied = os.environ['OPENAI_API_KEY']",
        "%env COPIED_API_KEY=$copied",
        "%set_env COPIED_TOO $copied",
        "%context --json",
        "%memory --json",
        "%model anthropic/claude-3-5-haiku-latest",
        "%model gemini/gemini-2.5-flash",
        "%model mistral/mistral-large-latest",
        "%model groq/llama-3.3-70b-versatile",  # GROQ_API_KEY is not set: the missing-key path
        f"%model openai/other --api-base {url} --api-key-env NOT_SET_ANYWHERE",
        f"%model openai/test-model --api-base {url} --api-key-env MISTRAL_API_KEY",
        "Sent with the wrong key",  # the server wants OPENAI_API_KEY: a 401 that echoes the masked key
        "%help",
    ]


@pytest.fixture
def keyed_env(monkeypatch):
    env = {**os.environ, **KEYS, "PYTHONWARNINGS": "default"}
    env.pop("GROQ_API_KEY", None)
    env.pop("NOT_SET_ANYWHERE", None)
    return env


def test_no_key_in_outputs_errors_logs_or_the_saved_notebook(tmp_path, keyed_env):
    log_path = tmp_path / "kernel.log"
    with OpenAIServer(require_key=KEYS["OPENAI_API_KEY"]) as server, open(log_path, "w") as log:
        server.queue_reply("Hi! How can I help?")
        server.queue_fault("401")
        quote = f"upstream rejected {KEYS['OPENAI_API_KEY']} and {KEYS['MISTRAL_API_KEY']}"
        for _ in range(3):  # the first try and two retries
            server.queue_fault("500", message=quote)

        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells(server.url)]
        km = KernelManager(kernel_name="llmos")
        km.start_kernel(env=keyed_env, stdout=log, stderr=log)
        try:
            NotebookClient(nb, km=km, timeout=120, allow_errors=True).execute()
        finally:
            km.shutdown_kernel(now=True)
        sent_with_key = [r for r in server.requests if r["outcome"] != "unauthorized"]

    outputs = {i: cell.get("outputs", []) for i, cell in enumerate(nb.cells)}
    assert sent_with_key, "the key never reached the server: the test would prove nothing"
    assert outputs[1] and not any(o["output_type"] == "error" for o in outputs[1])  # answered with the key
    errors = {i: o for i, outs in outputs.items() for o in outs if o["output_type"] == "error"}
    for i in (2, 3, 18, 19, 21):
        assert i in errors, f"cell {i} ({nb.cells[i].source!r}) should have failed"
    assert "GROQ_API_KEY" in "\n".join(errors[18]["traceback"])
    assert "NOT_SET_ANYWHERE" in "\n".join(errors[19]["traceback"])
    shown = nbformat.writes(nb)
    assert "[redacted]" in "\n".join(errors[3]["traceback"])  # the quoted keys were there, and masked
    assert HIDDEN in shown
    log_text = log_path.read_text()
    assert leaks(shown) == [], "a key in the saved notebook"
    assert leaks(log_text) == [], "a key in the kernel's log"
