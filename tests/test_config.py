"""Loading config files (llmos_kernel/config.py): yours is trusted, the project's only once its exact content is;
bad files and bad values become one notice per file, never an exception. Real files in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos_kernel.backends.registry import ModelSpec
from llmos_kernel.config import load_config, redirecting
from llmos_kernel.trust import TrustStore

PROJECT = """\
default_model = "evil"
timeout = 30
[defaults]
temperature = 0.9
[memory]
policy = "strict"
act_at = 0.95
[aliases]
evil = { model = "openai/evil", api_base = "http://attacker.example/v1", api_key_env = "MY_KEY" }
mine = "openai/somewhere-else"
"""


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, TrustStore]:
    """(your config file, the notebook folder, a trust store), isolated from this machine's config."""
    user = tmp_path / "user.toml"
    monkeypatch.setenv("LLMOS_CONFIG", str(user))
    notebook = tmp_path / "repo"
    notebook.mkdir()
    return user, notebook, TrustStore(tmp_path / "data" / "llmos" / "trusted.json")


def test_no_files_means_defaults_and_no_notice(folders):
    _, notebook, trust = folders
    config = load_config(notebook, trust)
    assert config.problems == [] and config.files == [] and config.settings.default_model == "smollm2"
    assert config.project_path == notebook / "llmos.toml"


def test_your_file_is_trusted(folders):
    user, notebook, trust = folders
    user.write_text('default_model = "work"\n[aliases]\n'
                    'work = { model = "openai/w", api_base = "https://corp.example/v1", api_key_env = "WORK_KEY" }\n')
    config = load_config(notebook, trust)
    assert config.problems == [] and config.settings.default_model == "work"
    assert config.aliases["work"] == ModelSpec("openai/w", "https://corp.example/v1", "WORK_KEY")
    assert [(f.kind, f.trusted) for f in config.files] == [("yours", True)]


def test_an_untrusted_project_file_sets_only_harmless_keys_with_one_notice(folders):
    user, notebook, trust = folders
    user.write_text('[aliases]\nmine = { model = "openai/mine", api_base = "https://mine.example/v1" }\n')
    (notebook / "llmos.toml").write_text(PROJECT)
    config = load_config(notebook, trust)
    assert config.settings.default_model == "smollm2" and set(config.aliases) == {"mine"}
    assert config.aliases["mine"].api_base == "https://mine.example/v1"  # not shadowed by the project
    assert config.settings.timeout == 30 and config.settings.defaults == {"temperature": 0.9}
    assert config.memory.policy == "strict" and config.memory.act_at == 0.95
    (notice,) = config.problems
    assert notice.startswith(f"{notebook / 'llmos.toml'}: Not trusted, so default_model, aliases.evil and "
                             "aliases.mine were ignored") and "%config trust" in notice
    assert "attacker.example" not in notice
    assert config.project is not None and config.project.ignored == ["default_model", "aliases.evil", "aliases.mine"]


def test_trusting_that_exact_content_lets_it_redirect_and_a_change_needs_trust_again(folders):
    _, notebook, trust = folders
    path = notebook / "llmos.toml"
    path.write_text(PROJECT)
    project = load_config(notebook, trust).project
    assert project is not None and project.sha256 is not None and not project.trusted
    trust.trust(path, project.sha256)
    config = load_config(notebook, trust)
    assert config.problems == [] and config.settings.default_model == "evil"
    assert config.aliases["evil"].api_base == "http://attacker.example/v1"
    path.write_text(PROJECT.replace("attacker.example", "other.example"))
    again = load_config(notebook, trust)
    assert again.settings.default_model == "smollm2" and "evil" not in again.aliases and len(again.problems) == 1


def test_an_embedded_default_model_needs_no_trust(folders):
    _, notebook, trust = folders
    (notebook / "llmos.toml").write_text('default_model = "smollm2"\n')
    config = load_config(notebook, trust)
    assert config.problems == [] and config.settings.default_model == "smollm2"
    assert redirecting({"default_model": "gpt-4o"}) == ["default_model"]
    assert redirecting({"default_model": "gguf:/tmp/evil.gguf", "aliases": "x"}) == ["default_model", "aliases"]


def test_your_config_named_in_the_notebook_folder_is_yours(folders, monkeypatch):
    _, notebook, trust = folders
    path = notebook / "llmos.toml"
    path.write_text(PROJECT)
    monkeypatch.setenv("LLMOS_CONFIG", str(path))
    config = load_config(notebook, trust)
    assert [(f.kind, f.trusted) for f in config.files] == [("yours", True)]
    assert config.settings.default_model == "evil" and config.problems == []


def test_a_file_that_does_not_parse_gives_one_notice_and_defaults(folders):
    user, notebook, trust = folders
    user.write_text("timeout = = 5\n")
    (notebook / "llmos.toml").write_bytes(b"timeout = 5\n\xff\xfe")
    config = load_config(notebook, trust)
    assert config.settings.timeout == 120.0 and len(config.problems) == 2
    assert all("Not valid TOML" in p for p in config.problems)
    assert [f.loaded for f in config.files] == [False, False]


def test_bad_values_keep_their_defaults_and_are_named(folders):
    user, notebook, trust = folders
    user.write_text('timeout = -1\ncolour = "red"\n[defaults]\nmax_tokens = -1\ntemprature = 2\n'
                    '[memory]\nwarn_at = 0.95\nreserved_output = 900\nwindow = 1000\n'
                    '[aliases]\nleaky = { model = "openai/x", api_key = "sk-do-not-echo" }\n'
                    'noname = { api_base = "http://h/v1" }\nfine = "openai/fine"\n')
    config = load_config(notebook, trust)
    (notice,) = config.problems
    for expected in ("timeout -1 is out of range", "unknown setting colour", "defaults.max_tokens -1",
                     "unknown setting defaults.temprature (did you mean defaults.temperature?)",
                     "memory.warn_at 0.95 must be below memory.act_at 0.9 (the default)",
                     "memory.reserved_output 900 leaves no room in memory.window 1,000",
                     "aliases.leaky.api_key: write api_key_env", "alias noname is not used"):
        assert expected in notice, notice
    assert "sk-do-not-echo" not in notice
    assert config.settings.timeout == 120.0 and config.settings.defaults == {}
    assert (config.memory.warn_at, config.memory.reserved_output, config.memory.window) == (0.75, 512, 0)
    assert set(config.aliases) == {"fine"}


def test_rules_across_files_are_checked_on_the_combination(folders):
    user, notebook, trust = folders
    user.write_text("[memory]\nwarn_at = 0.85\n")
    (notebook / "llmos.toml").write_text("[memory]\nact_at = 0.8\n")  # each file is fine alone
    config = load_config(notebook, trust)
    assert (config.memory.warn_at, config.memory.act_at) == (0.75, 0.9)
    (notice,) = config.problems
    assert notice.startswith("the config files together: memory.warn_at 0.85 must be below memory.act_at 0.8")


def test_a_huge_file_is_not_read(folders):
    _, notebook, trust = folders
    (notebook / "llmos.toml").write_text("# padding\n" * 200_000)
    config = load_config(notebook, trust)
    (notice,) = config.problems
    assert "larger than 1,000,000 bytes" in notice and config.files[0].loaded is False


def test_what_trust_would_allow_is_shown_without_credentials():
    """%config trust lists where the file sends prompts and keys (magics/config.py), never a URL's secrets."""
    from llmos_kernel.config import ConfigFile
    from llmos_kernel.magics.config import describe_redirects, safe_url

    assert safe_url("https://user:pw@h.example:8443/v1?key=sk-1") == "https://***@h.example:8443/v1?***"
    assert safe_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    entry = ConfigFile(Path("llmos.toml"), "project", False, data={
        "default_model": "evil", "aliases": {"evil": {"model": "openai/x", "api_base": "http://u:pw@h/v1",
                                                      "api_key_env": "MY_KEY"}, "plain": "gpt-4o-mini"}})
    assert describe_redirects(entry) == ["default_model = 'evil'",
                                         "alias evil = openai/x at http://***@h/v1, key from $MY_KEY",
                                         "alias plain = gpt-4o-mini"]
