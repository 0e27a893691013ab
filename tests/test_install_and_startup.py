"""Kernelspec installation, start-up hygiene, and the model/system magics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llmos_kernel.backends.registry import PROVIDER_KEYS
from tests.support.kernel import KernelSession
from tests.support.openai_server import OpenAIServer


def test_install_prefix(tmp_path):
    out = subprocess.run([sys.executable, "-m", "llmos_kernel", "install", "--prefix", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    folder = tmp_path / "share" / "jupyter" / "kernels" / "llmos"
    assert str(folder) in out.stdout
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["display_name"] == "LLM OS" and spec["argv"][1:3] == ["-m", "llmos_kernel"]
    assert spec["interrupt_mode"] == "signal"
    for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
        assert (folder / logo).stat().st_size > 100
    assert (folder / "logo-64x64.png").read_bytes().startswith(b"\x89PNG")
    bad = subprocess.run([sys.executable, "-m", "llmos_kernel", "install", "--user", "--prefix", "x"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "not allowed with" in bad.stderr


# Loaded with the first cell that needs them, never at start-up (issue 23: kernel_info within 1.3x ipykernel's):
# providers, the model runtime, HTTP and MCP clients, widgets, tokenizers, the tool loop, and ipykernel's debugger,
# which this kernel does not offer (its kernelspec says "debugger": false).
LAZY_MODULES = ("litellm", "llama_cpp", "httpx", "httpcore", "anyio", "pydantic", "mcp", "ipywidgets", "tiktoken",
                "numpy", "jinja2", "llmos_kernel.tools.loop", "llmos_kernel.backends.pool")


def test_startup_does_not_import_litellm_or_load_the_model(kernel):
    import ipykernel

    info = kernel.kc.kernel_info(reply=True)["content"]
    assert info["implementation"] == "llmos" and info["language_info"]["name"] == "markdown"
    assert "%help" in info["banner"]
    lazy = LAZY_MODULES
    if ipykernel.version_info >= (7,):  # ipykernel 6 imports its debugger (and debugpy) with ipykernel.ipkernel
        lazy += ("debugpy", "pydevd")
        assert "debugger" not in info["supported_features"]
    loaded = kernel.eval(f"[m for m in {lazy!r} if m in __import__('sys').modules]")
    assert loaded == []
    # debugpy was hidden from ipykernel's set-up only: Python in a cell can still use it.
    assert kernel.eval("__import__('debugpy').__name__") == "debugpy"


def test_models_says_how_the_list_grows_when_it_holds_only_the_embedded_model():
    keys = {env for env, _models in PROVIDER_KEYS.values()}
    with KernelSession(env={k: v for k, v in os.environ.items() if k not in keys and k != "LLMOS_CONFIG"}) as session:
        listing = session.run("%models").stdout
    assert listing.startswith("* smollm2") and "more: set a provider's key" in listing, listing


def test_models_system_and_model_switch():
    with OpenAIServer() as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-models-listing-0000000000000000"}
        session = KernelSession(env=env)
        try:
            listing = session.run("%models").stdout
            assert "* smollm2" in listing and "gpt-4o" in listing and "OPENAI_API_KEY is set" in listing
            assert "sk-test-models" not in listing and "more: set a provider's key" not in listing
            run = session.run("%%system\nYou are a pirate.")
            assert run.status == "ok" and "system prompt set" in run.stdout
            assert session.run("%system").stdout.strip() == "You are a pirate."
            run = session.run(f"%model openai/pirate --api-base {server.url} --window 4096")
            assert "window 4,096 tokens" in run.stdout
            server.queue_reply("Arr.")
            assert session.run("Hello").status == "ok"
            assert server.requests[-1]["body"]["messages"][0] == {"role": "system", "content": "You are a pirate."}
            assert not server.requests[-1]["has_authorization"]  # issue 13: OPENAI_API_KEY stays with OpenAI
            assert session.run("%model").stdout.strip().startswith("model: openai/pirate")
            assert session.run("%model smollm2").status == "ok"
            assert session.run("%model").stdout.strip() == "model: smollm2"
        finally:
            session.close()


def test_pip_install_alone_registers_the_kernelspec(tmp_path):
    """The wheel ships the kernelspec as data files (share/jupyter/kernels/llmos), as ipykernel's does, so a
    plain `pip install` puts "LLM OS" in the launcher. Built and installed here exactly as pip does for a user."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(root)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("llmos_kernel-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                    "--prefix", str(tmp_path / "prefix"), str(wheel)], check=True, capture_output=True)
    folder = tmp_path / "prefix" / "share" / "jupyter" / "kernels" / "llmos"
    assert sorted(p.name for p in folder.iterdir()) == ["kernel.json", "logo-32x32.png", "logo-64x64.png",
                                                         "logo-svg.svg"]
    spec = json.loads((folder / "kernel.json").read_text())
    # "python" is replaced by jupyter_client with the interpreter of the server that launches it.
    assert spec["argv"][:3] == ["python", "-m", "llmos_kernel"] and spec["display_name"] == "LLM OS"
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager(kernel_dirs=[str(folder.parent)])
    assert manager.get_kernel_spec("llmos").display_name == "LLM OS"
