"""A strict chat template, as Gemma's and Mistral's are: no system role, roles must alternate user/assistant.

It keeps ChatML's tokens, so SmolLM2 still answers well when a test writes it into a copy of its GGUF.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

STRICT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def write_strict_gguf(source: Path, folder: Path) -> Path:
    """A copy of the GGUF at `source` whose tokenizer.chat_template is STRICT_TEMPLATE.

    Written by the gguf package's own gguf-new-metadata (ggml's reference reader and writer), not by hand.
    """
    template = folder / "strict.jinja"
    template.write_text(STRICT_TEMPLATE, encoding="utf-8")
    target = folder / f"{source.stem}-strict.gguf"
    command = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", str(source), str(target),
               "--chat-template-file", str(template), "--force"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not target.is_file():
        raise RuntimeError(f"gguf-new-metadata failed: {done.stderr[-2000:]}")
    shutil.copymode(source, target)
    return target
