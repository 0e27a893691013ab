"""The one redaction rule (llmos_kernel/redact.py) that outputs, logs, the store and exports share."""

from __future__ import annotations

from llmos_kernel import redact as r
from llmos_kernel.backends.registry import ModelSpec
from llmos_kernel.magics.secrets import masked
from llmos_kernel.store import scrub


def test_credential_names_key_shapes_and_json_spelling(monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/home/u/creds-0123456789.json")
    monkeypatch.setenv("SERVICE_AUTH", "auth-value-0123456789")
    monkeypatch.setenv("QUOTED_TOKEN", 'tok"en-0123456789')
    text = ('creds /home/u/creds-0123456789.json auth auth-value-0123456789 json "tok\\"en-0123456789" '
            "shape sk-abcdef0123456789 bearer Bearer abc.def")
    cleaned = r.redact(text)
    for leaked in ("creds-0123456789", "auth-value", 'tok\\"en', "sk-abcdef", "abc.def"):
        assert leaked not in cleaned
    assert cleaned.count(r.MARK) == 5


def test_api_key_env_names_are_secrets_whatever_they_are_called(monkeypatch):
    monkeypatch.setenv("TEAM_GATEWAY", "gw-value-0123456789")
    assert "gw-value" in r.redact("x gw-value-0123456789")  # an ordinary name: not a secret yet
    ModelSpec("openai/team", api_base="http://127.0.0.1:1/v1", api_key_env="TEAM_GATEWAY")
    assert r.redact("x gw-value-0123456789") == f"x {r.MARK}"
    assert r.is_secret("TEAM_GATEWAY", "gw-value-0123456789")
    assert masked("TEAM_GATEWAY", "gw-value-0123456789") != "gw-value-0123456789"


def test_credentials_in_urls():
    text = "proxy at https://alice:s3cr3t@gw.example:4000/v1 and http://bob@host/ and http://h/a@b"
    cleaned = r.redact(text)
    assert "s3cr3t" not in cleaned and "alice" not in cleaned
    assert f"https://{r.MARK}@gw.example:4000/v1" in cleaned
    assert "http://bob@host/" in cleaned and "http://h/a@b" in cleaned  # no password, or not a userinfo part


def test_env_magic_and_store_agree(monkeypatch):
    monkeypatch.setenv("DB_CREDENTIAL", "credential-0123456789")
    assert masked("DB_CREDENTIAL", "credential-0123456789") != "credential-0123456789"
    assert "credential-0123456789" not in scrub("value credential-0123456789")


def test_a_model_spec_never_shows_url_credentials():
    spec = ModelSpec("openai/team", api_base="https://alice:s3cr3t@gw.example/v1")
    shown = spec.describe()
    assert "s3cr3t" not in shown and "gw.example/v1" in shown
    assert spec.api_base == "https://alice:s3cr3t@gw.example/v1"  # requests still go where the user said
