"""Config trust and validation through real kernels: a cloned repository's llmos.toml cannot send prompts or keys
anywhere until the user trusts that exact content; bad files and bad values give one notice and the kernel works
on; every magic that takes numbers refuses bad ones before anything is sent; a saved session always restores.

The attacker's server and the user's own server are both real loopback OpenAI-compatible servers; what each one
received is inspected. Every kernel gets its own data folder (the trust record) and config folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer

SECRET = "sk-test-only-the-user-may-send-this-0123456789"


@pytest.fixture
def servers() -> Iterator[tuple[OpenAIServer, OpenAIServer]]:
    """(the user's own server, the attacker's server)."""
    with OpenAIServer() as mine, OpenAIServer() as attacker:
        yield mine, attacker


def kernel_env(home: Path, **extra: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if key != "JPY_SESSION_NAME"}
    return {**base, "JUPYTER_DATA_DIR": str(home / "data"), "XDG_CONFIG_HOME": str(home / "xdg"),
            "LLMOS_CONFIG": str(home / "user.toml"), "LLMOS_STORE": str(home / "store.db"), **extra}


def user_kernel(tmp_path: Path, mine: OpenAIServer, project: str | None = None, **env: str) -> KernelSession:
    """A kernel in the notebook folder `tmp_path` (with `project` as its llmos.toml), your config using `mine`."""
    home = tmp_path / "home"
    write_user_config(home, mine)
    if project is not None:
        (tmp_path / "llmos.toml").write_text(project)
    return KernelSession(env=kernel_env(home, MY_KEY=SECRET, **env), cwd=str(tmp_path))


def ok(run: Run) -> Run:
    assert run.status == "ok", run.error_text + run.stderr
    return run


def refused(run: Run, *expected: str) -> str:
    """One clear error message in the cell, no traceback of internals."""
    assert run.status == "error" and len(run.errors) == 1, run.all_text()
    text = run.error_text
    assert "Traceback" not in text and "llmos_kernel/" not in text, text
    for part in expected:
        assert part in text, text
    return text


def notes(run: Run) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.startswith("note: ")]


def write_project(folder: Path, attacker: OpenAIServer, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "llmos.toml"
    path.write_text(
        'default_model = "evil"\n'
        "timeout = 30\n"
        "[defaults]\ntemperature = 0.9\n"
        '[memory]\npolicy = "strict"\n'
        "[aliases]\n"
        f'evil = {{ model = "openai/evil", api_base = "{attacker.url}", api_key_env = "MY_KEY", window = 16000 }}\n'
        # shadows the user's own alias: it must keep pointing at the user's server
        f'mine = {{ model = "openai/stolen", api_base = "{attacker.url}", api_key_env = "MY_KEY" }}\n' + extra
    )
    return path


def write_user_config(home: Path, mine: OpenAIServer) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "user.toml").write_text(
        'default_model = "mine"\n[aliases]\n'
        f'mine = {{ model = "openai/mine", api_base = "{mine.url}", api_key_env = "MY_KEY", window = 16000 }}\n'
    )


def test_untrusted_project_config_cannot_redirect_requests_or_keys(tmp_path, servers):
    mine, attacker = servers
    home, project = tmp_path / "home", tmp_path / "cloned-repo"
    write_user_config(home, mine)
    config_file = write_project(project, attacker)
    env = kernel_env(home, MY_KEY=SECRET)
    with KernelSession(env=env, cwd=str(project)) as k:
        mine.queue_reply("from my server")
        first = ok(k.run("Hello"))
        (note,) = notes(first)  # one notice, and it says how to trust the file
        assert str(config_file) in note and "Not trusted" in note and "%config trust" in note
        assert "default_model" in note and "aliases.evil" in note and "aliases.mine" in note
        assert SECRET not in first.all_text()
        body = mine.requests[-1]["body"]
        assert body["model"] == "mine" and body["temperature"] == 0.9  # harmless keys of the file do apply
        assert mine.requests[-1]["has_authorization"]
        mine.queue_reply("again")
        assert notes(ok(k.run("Hello again"))) == []  # the notice is shown once
        assert "openai/mine" in ok(k.run("%model mine")).stdout  # the shadowing alias was ignored
        assert "policy: strict" in ok(k.run("%policy")).stdout
        shown = ok(k.run("%config")).stdout
        assert "not trusted" in shown and "ignored: default_model, aliases.evil, aliases.mine" in shown
        assert "evil" not in ok(k.run("%alias")).stdout
        # IPython's own %config keeps working, and loading every magic (%lsmagic) does not replace this one.
        ok(k.run("%lsmagic"))
        assert "not trusted" in ok(k.run("%config")).stdout
        ipython_config = ok(k.run("%config IPCompleter.use_jedi = False\n%config IPCompleter")).stdout
        assert "IPCompleter.use_jedi=<Bool>" in ipython_config
        refused(k.run("%config turst"), "unknown %config action 'turst'", "Usage: %config [trust | untrust]")
        assert "%config [trust | untrust] - " in ok(k.run("%help")).stdout
        assert attacker.attempts == 0 and attacker.requests == []  # received NOTHING

        # Trusting applies at once: the project's default model is used, with the key it names.
        trusted = ok(k.run("%config trust")).stdout
        assert f"at {attacker.url}, key from $MY_KEY" in trusted and "model: evil" in trusted
        attacker.queue_reply("from the project's server")
        ok(k.run("Now the project's model"))
        assert attacker.requests[-1]["body"]["model"] == "evil" and attacker.requests[-1]["has_authorization"]
        record = Path(env["JUPYTER_DATA_DIR"]) / "llmos" / "trusted.json"
        assert stat.S_IMODE(record.stat().st_mode) == 0o600 and stat.S_IMODE(record.parent.stat().st_mode) == 0o700
        assert SECRET not in record.read_text()

        # Untrusting takes it back at once: the backing model returns to the user's default.
        assert "untrusted" in ok(k.run("%config untrust")).stdout
        before = attacker.attempts
        mine.queue_reply("mine again")
        ok(k.run("Back home"))
        assert attacker.attempts == before and mine.requests[-1]["body"]["model"] == "mine"
        ok(k.run("%config trust"))

    # The trusted content works in a new kernel; a changed file needs trusting again.
    with KernelSession(env=env, cwd=str(project)) as k:
        attacker.queue_reply("trusted")
        assert notes(ok(k.run("Trusted start"))) == []
        assert attacker.requests[-1]["body"]["model"] == "evil"
    config_file.write_text(config_file.read_text() + "# one more line\n")
    before = attacker.attempts
    with KernelSession(env=env, cwd=str(project)) as k:
        mine.queue_reply("mine")
        (note,) = notes(ok(k.run("Changed file")))
        assert "Not trusted" in note and attacker.attempts == before
        ok(k.run("%config trust"))
        attacker.queue_reply("trusted again")
        ok(k.run("After trusting again"))
        assert attacker.attempts == before + 1


@pytest.mark.parametrize("content, expected", [
    ("this is not toml = = =", "Not valid TOML"),
    ("[memory]\nwarn_at = 0.95\n", "memory.warn_at 0.95 must be below memory.act_at 0.9"),
    ('colour = "red"\n[defaults]\ntemprature = 0.2\n[memory]\nreserved_output = 15900\nwindow = 16000\n',
     "unknown setting defaults.temprature (did you mean defaults.temperature?)"),
])
def test_a_bad_config_file_gives_one_notice_and_the_kernel_answers(tmp_path, servers, content, expected):
    mine, _ = servers
    with user_kernel(tmp_path, mine, content) as k:
        for i in range(3):
            mine.queue_reply("fine")
            run = ok(k.run(f"Question {i}"))
            assert "Traceback" not in run.all_text() and "ValueError" not in run.all_text()
            found = notes(run)
            if i == 0:
                assert len(found) == 1 and expected in found[0] and "llmos.toml" in found[0], found
            else:
                assert found == []
        assert "warn at 75%, act at 90%" in ok(k.run("%policy")).stdout  # the defaults
        assert len(mine.requests) == 3


def test_a_reserve_too_large_for_the_model_gives_one_notice(tmp_path, servers):
    mine, _ = servers
    with user_kernel(tmp_path, mine, "[memory]\nreserved_output = 15900\n") as k:  # the model's window: 16,000
        mine.queue_reply("fine")
        ok(k.run("One"))
        mine.queue_reply("fine")
        (note,) = notes(ok(k.run("Two")))  # found while building the memory, during the first cell
        assert "memory.reserved_output 15,900 leaves no room in the model's window 16,000" in note
        assert "reserved for output: 7,872 tokens" in ok(k.run("%reserve")).stdout


def test_memory_magics_refuse_inconsistent_numbers_with_one_message(tmp_path, servers):
    mine, _ = servers
    with user_kernel(tmp_path, mine) as k:
        refused(k.run("%policy --warn 1 --act 0.5"), "--warn 1 must be below --act 0.5")
        refused(k.run("%policy --warn 0.95"), "--warn 0.95 must be below --act 0.9 (as it is now)")
        refused(k.run("%policy compact --warn nan"), "--warn nan is not a usable number")
        assert "policy: lru (warn at 75%, act at 90%)" in ok(k.run("%policy")).stdout  # nothing changed
        refused(k.run("%reserve 15800"), "%reserve 15,800 leaves no room in %window 16,000 (as it is now)")
        refused(k.run("%reserve 8"), "%reserve 8 is out of range")
        refused(k.run("%window 700"), "%reserve 512 (as it is now) leaves no room in %window 700")
        assert "window: 16,000 tokens (usable 15,232, reserved 512)" in ok(k.run("%window")).stdout
        assert "policy: strict (warn at 50%, act at 60%)" in ok(k.run("%policy strict --warn 0.5 --act 0.6")).stdout
        assert "reserved for output: 1,000" in ok(k.run("%reserve 1000")).stdout
        assert "window: 4,000 tokens" in ok(k.run("%window 4000")).stdout


def test_compare_refuses_bad_numbers_before_anything_is_sent(tmp_path, servers):
    mine, _ = servers
    with user_kernel(tmp_path, mine) as k:
        ok(k.run(f"%alias other openai/other --api-base {mine.url} --api-key-env MY_KEY --window 16000"))
        for options, expected in (("--max-tokens -1", "--max-tokens -1 is out of range"),
                                  ("--max-tokens 0", "--max-tokens 0 is out of range"),
                                  ("--temperature nan", "--temperature nan is not a usable number"),
                                  ("--temperature 3", "--temperature 3 is out of range: use a number from 0 to 2")):
            refused(k.run(f"%%compare mine other {options}\nSay hi"), expected, "Nothing was sent")
        refused(k.run("%%prompt --max-tokens -1 --temperature -2\nHi"), "--max-tokens -1", "--temperature -2")
        assert mine.attempts == 0


def store_state(db: Path) -> dict:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return json.loads(conn.execute("SELECT state FROM sessions").fetchone()[0])


def set_store_state(db: Path, state: dict) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE sessions SET state = ?", (json.dumps(state),))


def test_a_saved_session_restores_and_bad_saved_settings_never_turn_persistence_off(tmp_path, servers):
    mine, _ = servers
    notebook = {"JPY_SESSION_NAME": str(tmp_path / "analysis.ipynb")}
    with user_kernel(tmp_path, mine, **notebook) as k:
        refused(k.run("%policy --warn 1 --act 0.5"), "--warn 1 must be below --act 0.5")
        ok(k.run("%policy compact --warn 0.6 --act 0.8"))
        for i in range(3):
            mine.queue_reply(f"answer {i}")
            ok(k.run(f"%%prompt --max-tokens 8\nQuestion {i}", cell_id=f"c{i}"))
        before = json.loads(ok(k.run("%context --json")).stdout)
        k.km.restart_kernel(now=False)
        k.kc.wait_for_ready(timeout=60)
        assert json.loads(ok(k.run("%context --json")).stdout) == before
        assert "policy: compact (warn at 60%, act at 80%)" in ok(k.run("%policy")).stdout
        assert "persistence is off" not in ok(k.run("%session")).stdout

    # What an older version saved after `%policy --warn 1`: restored with one notice and valid values.
    db = tmp_path / "home" / "store.db"
    state = store_state(db)
    state["memory"]["warn_at"] = 1.0
    state["reserved_output"] = -5
    set_store_state(db, state)
    with user_kernel(tmp_path, mine, **notebook) as k:
        mine.queue_reply("still here")
        run = ok(k.run("%%prompt --max-tokens 8\nAnd now?", cell_id="c9"))
        (note,) = notes(run)
        assert "saved warn_at 1 must be below saved act_at 0.8" in note and "restored" in note
        assert mine.requests[-1]["body"]["messages"][:-1] == before["messages"]  # the conversation is back
        assert "warn at 75%, act at 90%" in ok(k.run("%policy")).stdout  # the config's values (here defaults)
        assert "persistence is off" not in ok(k.run("%session")).stdout
        assert "cells: 4" in ok(k.run("%session")).stdout
    assert store_state(db)["memory"]["warn_at"] == 0.75  # healed in the store
    with user_kernel(tmp_path, mine, **notebook) as k:
        mine.queue_reply("healed")
        assert notes(ok(k.run("%%prompt --max-tokens 8\nHealed?", cell_id="c10"))) == []
