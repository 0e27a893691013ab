"""Fitting requests to strict chat templates: probed with llama-cpp-python's own Jinja formatter."""

from __future__ import annotations

import pytest
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from llmos_kernel.backends.chat_template import SEPARATOR, TemplateFit, probe
from tests.support.strict_template import STRICT_TEMPLATE

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Drops system messages without a word, as some templates do: only a check of the rendered text finds out.
SILENT = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'] + ': ' + message['content'] + '\n' }}{% endif %}{% endfor %}"
)
MEMORY_REQUEST = [  # what memory sends: system, a pinned document, an older turn, the prompt
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Document: the sky is green here."},
    {"role": "user", "content": "What colour is the sky?"},
    {"role": "assistant", "content": "Green."},
    {"role": "user", "content": "And the grass?"},
]


def renderer(template: str):
    formatter = Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<s>")
    return lambda messages: formatter(messages=messages).prompt


def test_a_permissive_template_gets_the_messages_as_they_are():
    fit = probe(renderer(CHATML))
    assert fit == TemplateFit(system=True, runs=True)
    assert fit.apply(MEMORY_REQUEST) is MEMORY_REQUEST and fit.notes("m") == []


def test_a_strict_template_rejects_memory_requests_until_fitted():
    render = renderer(STRICT_TEMPLATE)
    with pytest.raises(ValueError, match="System role not supported"):
        render(MEMORY_REQUEST)
    fit = probe(render)
    assert fit == TemplateFit(system=False, runs=False)
    fitted = fit.apply(MEMORY_REQUEST)
    assert [m["role"] for m in fitted] == ["user", "assistant", "user"]
    assert fitted[0]["content"] == SEPARATOR.join(m["content"] for m in MEMORY_REQUEST[:3])
    assert fitted[1:] == MEMORY_REQUEST[3:]
    text = render(fitted)
    assert all(m["content"] in text for m in MEMORY_REQUEST)  # nothing was lost on the way
    (note,) = fit.notes("strict-model")
    assert "strict-model" in note and "no system role" in note and "alternating" in note


def test_a_template_that_silently_drops_the_system_message_gets_it_folded():
    fit = probe(renderer(SILENT))
    assert fit == TemplateFit(system=False, runs=True)
    fitted = fit.apply(MEMORY_REQUEST)
    assert fitted[0] == {"role": "user", "content": "Be brief.\n\nDocument: the sky is green here."}
    assert fitted[1:] == MEMORY_REQUEST[2:]  # runs are fine for this template: only the fold happens
    assert "Be brief." in renderer(SILENT)(fitted)


def test_a_system_message_with_nothing_after_it_becomes_a_user_message():
    only = [{"role": "system", "content": "Summarize."}]
    assert TemplateFit(system=False).apply(only) == [{"role": "user", "content": "Summarize."}]
