"""One rule for secrets, used by every place text leaves the kernel: cell output, logs, the store, exports.

A secret is the value of an environment variable named like a credential (OPENAI_API_KEY, HF_TOKEN,
AWS_SECRET_ACCESS_KEY, DB_PASSWORD, GOOGLE_APPLICATION_CREDENTIALS, ...) or of any variable the user named with
``--api-key-env`` (whatever its name), anything shaped like a provider key (``sk-...``, ``AIza...``, a Bearer
token), and the ``user:password@`` part of a URL. Values are also matched in their JSON-escaped spelling, since
the store and exports write JSON.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping

MARK = "[redacted]"
# IPython's %env hides the same names; CREDENTIAL and AUTH cover GOOGLE_APPLICATION_CREDENTIALS, *_AUTH_TOKEN.
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
# Key shapes of common providers; "*" included because OpenAI echoes a key masked as "sk-abc****wxyz".
KEY_SHAPE = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|AIza[0-9A-Za-z_\-]{10,}|Bearer\s+\S+)")
# scheme://user:password@host: the credentials part, up to the "@" that ends it.
URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s@:]+:[^/\s@]*@")
URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")  # in a URL known to be one: any user part is a credential
MIN_SECRET_CHARS = 8  # shorter values ("1", "yes") would redact ordinary words

_key_variables: set[str] = set()


def register_key_variable(name: str | None) -> None:
    """A variable the user named as holding a key (``--api-key-env NAME``): its value is a secret too."""
    if name:
        _key_variables.add(name)


def secret_values(extra_names: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of credential variables (8+ characters), longest first, so a key containing another goes first."""
    env = os.environ if environ is None else environ
    names = {name for name in env if SECRET_NAME.search(name)} | _key_variables | set(extra_names)
    values = {env.get(name, "") for name in names}
    return sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def is_secret(name: str, value: str) -> bool:
    """A variable whose value must not be shown: a credential name, a key's shape, or a known secret value."""
    return (bool(SECRET_NAME.search(name)) or name in _key_variables or bool(KEY_SHAPE.search(value))
            or value in secret_values())


def redact_url(url: str) -> str:
    """``url`` without its ``user:password@`` part, or a lone ``token@`` (a key passed as the user name)."""
    return URL_USERINFO.sub(MARK + "@", url)


def redact(text: str, secrets: list[str] | None = None, mark: str = MARK) -> str:
    """``text`` with every secret replaced by ``mark``."""
    for secret in secret_values() if secrets is None else secrets:
        text = text.replace(secret, mark)
        escaped = json.dumps(secret)[1:-1]
        if escaped != secret:
            text = text.replace(escaped, mark)
    text = KEY_SHAPE.sub(mark, text)
    return URL_CREDENTIALS.sub(mark + "@", text)
