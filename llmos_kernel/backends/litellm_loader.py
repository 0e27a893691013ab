"""Import litellm lazily, offline and quietly.

litellm takes seconds to import and, unless told to use its bundled cost map, fetches one from the network and
prints warnings when that fails. It is imported on first use of a model that is not OpenAI-compatible (those
never need it: see endpoints.py and model_map.py), never at kernel start-up, and nothing it prints or logs
during import may reach a cell. There is no warm-up thread: the models that need litellm need it at once (to
resolve the provider in %model), and a background import would hold the GIL for seconds against whatever the
kernel does meanwhile.

Importing litellm must not change where keys go (issue 21). litellm's ``__init__`` calls ``dotenv.load_dotenv()``
unless ``LITELLM_MODE`` is not "DEV" (litellm 1.82.6, ``litellm/__init__.py`` lines 19-20), which copies a
``.env`` found from the notebook's folder upwards into ``os.environ``: a cloned repository's
``OPENAI_BASE_URL`` or ``ANTHROPIC_API_BASE`` would then receive the user's keys. So the import runs with
``LITELLM_MODE=PRODUCTION`` (the user's own value is put back afterwards), and any variable the import still
added or changed is undone: only the user's environment decides where a request and its key go.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from types import ModuleType

_lock = threading.Lock()
_module: ModuleType | None = None
log = logging.getLogger("llmos_kernel")


def _quiet_loggers() -> None:
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx", "openai"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL)
        logger.propagate = False


@contextlib.contextmanager
def _environment_kept() -> Iterator[None]:
    """Run the import with litellm's .env loading off, and leave ``os.environ`` exactly as it was."""
    before = dict(os.environ)
    os.environ["LITELLM_MODE"] = "PRODUCTION"  # the only switch that skips litellm's load_dotenv()
    try:
        yield
    finally:
        changed = sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))
        for name in changed:
            if name in before:
                os.environ[name] = before[name]
            else:
                del os.environ[name]
        changed = [name for name in changed if name != "LITELLM_MODE"]
        if changed:  # names only: values may be keys
            log.warning("importing litellm changed %s in the environment; undone", ", ".join(changed))


def get_litellm() -> ModuleType:
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("LITELLM_LOG", "CRITICAL")
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), _environment_kept():
                import litellm
            if sink.getvalue():
                log.debug("litellm import said: %s", sink.getvalue()[:2000])
            # litellm trips pydantic deprecation warnings per chunk; they must not reach a cell's stderr.
            warnings.filterwarnings("ignore", module=r"litellm(\..*)?$")
            litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
            litellm.telemetry = False
            litellm.drop_params = True  # a per-cell option a provider rejects is dropped, not fatal
            _quiet_loggers()
            _module = litellm
    return _module
