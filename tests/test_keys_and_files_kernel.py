"""Keys go only where the user sends them, and files are read and written only as meant (issue 21, "keys and
files"). Every test drives a real kernel process; where traffic matters, real loopback servers receive it: the
OpenAI-compatible test server, and an "attacker" that records whatever reaches it.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "KEY_ONE", "KEY_TWO", "ALIAS_KEY", "OTHER_KEY")
BASE_VARS = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL", "LITELLM_MODE")


def fake_key(prefix: str) -> str:
    return f"{prefix}-fake-{secrets.token_hex(20)}"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS + BASE_VARS}
    return {**env, **extra}


def ok(run: Run) -> Run:
    assert run.status == "ok", run.all_text()
    return run


class Attacker:
    """A loopback HTTP server that answers nothing useful and records every request: method, path, headers."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                owner.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body})
                data = b'{"error": {"message": "nothing here"}}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _record

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def attacker():
    server = Attacker()
    yield server
    server.close()


# -- 1. a .env in the notebook's folder ------------------------------------------------------------------------

def test_a_dotenv_in_the_notebook_folder_redirects_no_key(tmp_path, attacker):
    project = tmp_path / "cloned-repo"
    project.mkdir()
    (project / ".env").write_text(
        f"ANTHROPIC_API_BASE={attacker.url}\nANTHROPIC_BASE_URL={attacker.url}\n"
        f"OPENAI_BASE_URL={attacker.url}/v1\nOPENAI_API_BASE={attacker.url}/v1\n")
    keys = {"OPENAI_API_KEY": fake_key("sk-openai"), "ANTHROPIC_API_KEY": fake_key("sk-ant")}
    with KernelSession(env=clean_env(**keys), cwd=str(project)) as k:
        ok(k.run("%model anthropic/claude-3-5-haiku-latest"))  # imports litellm, which used to load_dotenv()
        k.run("%%prompt --max-tokens 8\nhello anthropic")  # fails offline: the point is where it went
        assert k.eval("'litellm' in __import__('sys').modules")  # the import under test did happen
        ok(k.run("%model gpt-4o-mini"))  # OpenAI's own API, unless something redirected OPENAI_BASE_URL
        k.run("%%prompt --max-tokens 8\nhello openai")
        seen = k.eval("{n: __import__('os').environ.get(n) for n in "
                      "('OPENAI_BASE_URL', 'OPENAI_API_BASE', 'ANTHROPIC_API_BASE', 'ANTHROPIC_BASE_URL')}")
    assert attacker.requests == [], [(r["method"], r["path"]) for r in attacker.requests]
    assert seen == dict.fromkeys(seen), seen  # the kernel's environment is the user's, not the .env's


# -- 2. an alias's key stays with its endpoint ----------------------------------------------------------------

def test_an_alias_key_is_not_sent_to_another_api_base(tmp_path):
    alias_key, other_key = fake_key("sk-alias"), fake_key("sk-other")
    with OpenAIServer(require_key=alias_key) as own, OpenAIServer() as other, \
            KernelSession(env=clean_env(ALIAS_KEY=alias_key, OTHER_KEY=other_key)) as k:
        ok(k.run(f"%alias team openai/test --api-base {own.url} --api-key-env ALIAS_KEY --window 16000"))
        ok(k.run("%model team"))
        ok(k.run("%%prompt --max-tokens 8\nto my own server"))
        assert own.requests[-1]["has_authorization"]  # the alias's key goes to the alias's server

        moved = ok(k.run(f"%model team --api-base {other.url}"))
        assert "ALIAS_KEY" in moved.stdout and "not sent" in moved.stdout, moved.all_text()
        k.run("%%prompt --max-tokens 8\nto another server")
        assert len(other.requests) == 1 and not other.requests[0]["has_authorization"]

        ok(k.run(f"%model team --api-base {other.url} --api-key-env OTHER_KEY"))  # a key named for it: sent
        ok(k.run("%%prompt --max-tokens 8\nwith a key of its own"))
        assert other.requests[-1]["has_authorization"]
        assert other.requests[-1]["body"]["messages"]  # the request itself was ordinary


# -- 3. cookies do not cross keys -------------------------------------------------------------------------------

def test_a_cookie_set_for_one_key_never_goes_with_another():
    with OpenAIServer() as server, KernelSession(env=clean_env(KEY_ONE=fake_key("sk-one"),
                                                                KEY_TWO=fake_key("sk-two"))) as k:
        server.response_headers = {"Set-Cookie": "session=belongs-to-key-one; Path=/"}
        ok(k.run(f"%model openai/test --api-base {server.url} --api-key-env KEY_ONE --window 16000"))
        ok(k.run("%%prompt --max-tokens 8\nfirst, with key one"))
        server.response_headers = {}
        ok(k.run(f"%model openai/test --api-base {server.url} --api-key-env KEY_TWO --window 16000"))
        ok(k.run("%%prompt --max-tokens 8\nthen, with key two"))
    first, second = server.requests[0], server.requests[-1]
    assert first["has_authorization"] and second["has_authorization"] and len(server.requests) == 2
    assert "cookie" not in second["headers"], second["headers"]


# -- 4. credentials in an --api-base URL are never displayed ---------------------------------------------------

def test_panel_and_model_dropdown_never_show_url_credentials():
    password = "pw-" + secrets.token_hex(8)
    with OpenAIServer() as server, KernelSession(env=clean_env()) as k:
        base = server.url.replace("http://", f"http://alice:{password}@")
        shown = ok(k.run(f"%model openai/test --api-base {base} --window 16000"))
        ok(k.run(f"%alias creds openai/test --api-base {base}"))
        panel = ok(k.run("%panel"))
        ps = k.run("%ps")
    everything = json.dumps([m["content"] for m in shown.messages + panel.messages + ps.messages
                             if m["msg_type"] != "execute_input"])  # the echo of the user's own cell
    assert panel.of_type("comm_open"), "the panel's widgets were not created: the test would prove nothing"
    assert "127.0.0.1" in everything  # the host is shown, so labels were rendered
    assert password not in everything and "alice" not in everything


# -- 5. a hostile project llmos.toml ----------------------------------------------------------------------------

def _dev_zero(folder: Path) -> str:
    (folder / "llmos.toml").symlink_to("/dev/zero")
    return "character device"


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "llmos.toml")
    return "named pipe"


def _huge(folder: Path) -> str:
    with open(folder / "llmos.toml", "wb") as f:
        f.truncate(50 * 1024 * 1024)  # 50 MB (sparse: costs no disk)
    return "larger than 1,000,000 bytes"


@pytest.mark.parametrize("make", [_dev_zero, _fifo, _huge], ids=["dev-zero", "fifo", "50MB"])
def test_a_hostile_project_config_leaves_the_kernel_alive_and_says_why(tmp_path, make):
    why = make(tmp_path)
    with KernelSession(env=clean_env(), cwd=str(tmp_path)) as k:
        run = ok(k.run("%config"))
        trust = k.run("%config trust")  # trusting it reads it again: the same refusal, as a clear error
        again = ok(k.run("%config"))
        assert k.alive()
    text = run.all_text()
    assert "llmos.toml" in text and why in text and "do not apply" in text, text
    assert "Traceback" not in text and again.status == "ok"
    assert trust.status == "error" and why in trust.error_text and "Traceback" not in trust.error_text


# -- 6. $LLMOS_STORE does not chmod the user's folder -----------------------------------------------------------

def test_llmos_store_leaves_the_folder_it_names_as_it_was(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    with KernelSession(env=clean_env(LLMOS_STORE=str(shared / "store.db"))) as k:
        ok(k.run("%session"))
        assert k.eval("__import__('os').path.exists(" + repr(str(shared / "store.db")) + ")")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "store.db").stat().st_mode) == 0o600  # the file we made is still private


# -- 7. exports never write through a link or over a file without --force ---------------------------------------

def test_exports_refuse_symlinks_and_existing_files(tmp_path):
    target = tmp_path / "victim.txt"  # what a planted link points to: it must never be created or changed
    (tmp_path / "planted.md").symlink_to(target)
    (tmp_path / "planted.jsonl").symlink_to(target)
    existing = tmp_path / "kept.jsonl"
    existing.write_text("precious\n")
    with OpenAIServer() as server, KernelSession(env=clean_env(LLMOS_STORE=str(tmp_path / "s" / "store.db"))) as k:
        ok(k.run(f"%model openai/test --api-base {server.url} --window 16000"))
        ok(k.run("%%prompt --max-tokens 8\nsomething to export"))
        runs = {
            "export link": k.run(f"%export {tmp_path / 'planted.md'}"),
            "export link forced": k.run(f"%export {tmp_path / 'planted.md'} --force"),
            "replay link": k.run(f"%replay export {tmp_path / 'planted.jsonl'}"),
            "replay link forced": k.run(f"%replay export {tmp_path / 'planted.jsonl'} --force"),
            "replay existing": k.run(f"%replay export {existing}"),
        }
        forced = ok(k.run(f"%replay export {existing} --force"))
        fresh = ok(k.run(f"%replay export {tmp_path / 'fresh.jsonl'}"))
    for name, run in runs.items():
        assert run.status == "error" and "Traceback" not in run.error_text, (name, run.all_text())
    assert "symbolic link" in runs["export link"].error_text and "--force" in runs["replay existing"].error_text
    assert not target.exists() and not os.path.lexists(target)
    assert "exported 1 recordings" in forced.stdout and "precious" not in existing.read_text()
    assert "exported 1 recordings" in fresh.stdout


# -- 8. `python -m llmos_kernel run` prints no terminal escapes --------------------------------------------------

def test_run_neutralizes_terminal_escapes_in_model_text(tmp_path):
    nb = nbformat.v4.new_notebook()
    with OpenAIServer() as server:
        server.queue_reply("Title \x1b]0;pwned\x07 then \x1b[2J cleared \x1b]52;c;Y2xpcA==\x07 and a\rbell\x07 done")
        nb.cells = [nbformat.v4.new_markdown_cell("A note for the reader \x1b[2J between the cells."),
                    nbformat.v4.new_code_cell(f"%model openai/test --api-base {server.url} --window 16000"),
                    nbformat.v4.new_code_cell("%%prompt --max-tokens 40\nsay something \x1b[31mred")]
        path = tmp_path / "nb.ipynb"
        nbformat.write(nb, path)
        result = subprocess.run([sys.executable, "-m", "llmos_kernel", "run", str(path)], cwd=ROOT,
                                env=clean_env(), capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Title" in out and "done" in out  # the answer was printed
    for bad in ("\x1b", "\x07", "\r"):  # not even our own bold: this output is a pipe, not a terminal
        assert bad not in out, (bad, out)
    assert "A note for the reader  between the cells." in out  # the notebook's explanations too
    assert out.rstrip().endswith("2 cells run on the llmos kernel.")
    # Issue 23: the kernel is reached over IPC sockets, so ipykernel 7 has no "TCP without encryption" to warn of.
    assert "without encryption" not in result.stdout + result.stderr


# -- 9. %replay import is all or nothing -------------------------------------------------------------------------

def test_a_bad_record_imports_nothing_and_names_itself(tmp_path):
    good = {"kind": "llmos-recording", "digest": "a" * 64, "model": "openai/test", "prompt": "p", "answer": "A"}
    lines = [good, {**good, "digest": "b" * 64}, {**good, "digest": "c" * 64, "prompt": {"not": "text"}}]
    path = tmp_path / "recordings.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with KernelSession(env=clean_env(LLMOS_STORE=str(tmp_path / "store.db"))) as k:
        bad = k.run(f"%replay import {path}")
        empty = ok(k.run(f"%replay export {tmp_path / 'after.jsonl'}"))
    assert bad.status == "error" and "line 3" in bad.error_text and "prompt" in bad.error_text, bad.all_text()
    assert "Traceback" not in bad.error_text
    assert "exported 0 recordings" in empty.stdout  # the two good lines before it were not kept either
