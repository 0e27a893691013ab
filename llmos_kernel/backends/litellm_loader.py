"""Import litellm lazily, offline and quietly.

litellm takes seconds to import and, unless told to use its bundled cost map, fetches one from the network and
prints warnings when that fails. It is imported on first use of a model that is not OpenAI-compatible (those
never need it: see endpoints.py and model_map.py), never at kernel start-up, and nothing it prints or logs
during import may reach a cell. There is no warm-up thread: the models that need litellm need it at once (to
resolve the provider in %model), and a background import would hold the GIL for seconds against whatever the
kernel does meanwhile.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import warnings
from types import ModuleType

_lock = threading.Lock()
_module: ModuleType | None = None
log = logging.getLogger("llmos_kernel")


def _quiet_loggers() -> None:
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx", "openai"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL)
        logger.propagate = False


def get_litellm() -> ModuleType:
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("LITELLM_LOG", "CRITICAL")
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
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
