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


# A Hermes/Qwen-style template that renders tool definitions itself (ChatML tokens, so SmolLM2 still reads it).
TOOLS_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n"
    "{{ messages[0]['content'] if messages[0]['role'] == 'system' else 'You are a helpful assistant.' }}\n\n"
    "# Tools\n<tools>\n{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}</tools>\n"
    "To call a tool, answer <tool_call>{\"name\": NAME, \"arguments\": {...}}</tool_call><|im_end|>\n"
    "{%- elif messages[0]['role'] == 'system' %}<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n"
    "{%- endif %}"
    "{%- for message in messages %}{%- if message['role'] != 'system' %}"
    "{%- if message['role'] == 'tool' %}<|im_start|>user\n<tool_response>{{ message['content'] }}"
    "</tool_response><|im_end|>\n"
    "{%- elif message.get('tool_calls') %}<|im_start|>assistant\n{% for c in message['tool_calls'] %}"
    "<tool_call>{\"name\": \"{{ c['function']['name'] }}\", \"arguments\": {{ c['function']['arguments'] }}}"
    "</tool_call>{% endfor %}<|im_end|>\n"
    "{%- else %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{%- endif %}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
)


def write_strict_gguf(source: Path, folder: Path) -> Path:
    """A copy of the GGUF at `source` whose tokenizer.chat_template is STRICT_TEMPLATE."""
    return write_gguf_with_template(source, folder, STRICT_TEMPLATE, "strict")


def write_gguf_with_template(source: Path, folder: Path, text: str, name: str) -> Path:
    """A copy of the GGUF at `source` with this chat template.

    Written by the gguf package's own gguf-new-metadata (ggml's reference reader and writer), not by hand.
    """
    template = folder / f"{name}.jinja"
    template.write_text(text, encoding="utf-8")
    target = folder / f"{source.stem}-{name}.gguf"
    command = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", str(source), str(target),
               "--chat-template-file", str(template), "--force"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not target.is_file():
        raise RuntimeError(f"gguf-new-metadata failed: {done.stderr[-2000:]}")
    shutil.copymode(source, target)
    return target
