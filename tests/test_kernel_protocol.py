"""jupyter_kernel_test's protocol suite against the real `llmos` kernel, with every sample a prompt kernel has."""

from __future__ import annotations

import jupyter_kernel_test


class LLMOSKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "llmos"
    language_name = "markdown"
    file_extension = ".md"

    code_hello_world = "%%python\nprint('hello, world')"
    code_stderr = "%%python\nimport sys\nprint('test', file=sys.stderr)"

    completion_samples = [
        {"text": "%mode", "matches": {"%model", "%models"}},
        {"text": "%%prom", "matches": {"%%prompt"}},
        {"text": "%%prompt --max", "matches": {"--max-tokens"}},
        {"text": "%model smol", "matches": {"smollm2"}},
    ]
    complete_code_samples = ["Tell me about {topic}", "Braces {{like this}} are literal", "%%python\nx = 1"]
    incomplete_code_samples = ["Tell me about {topic", "%%python\nfor i in range(3):"]
    invalid_code_samples = ["%%python\n1 +* 2"]

    code_page_something = "%model?"
    # An error of our own: an unknown model gives exactly one error output, no traceback of internals.
    code_generate_error = "%model gguf:/nonexistent/model.gguf"
    code_execute_result = [{"code": "%%python\n6 * 7", "result": "42"}]
    code_display_data = [
        {"code": "%%python\nfrom IPython.display import HTML, display\ndisplay(HTML('<b>hi</b>'))",
         "mime": "text/html"},
    ]
    code_history_pattern = "*6 [*] 7"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "%model"
    code_clear_output = "%%python\nfrom IPython.display import clear_output\nclear_output()"
