"""Supply chain: litellm stays pinned to a reviewed release, and nothing plants code that runs at start-up.

litellm 1.82.7 and 1.82.8 were malicious releases; 1.82.8 shipped a ``.pth`` file, which Python's ``site``
module executes (every line starting with ``import``) in every interpreter start, before any of our code.
"""

from __future__ import annotations

import importlib.metadata
import re
import site
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmos_kernel.config import tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
MALICIOUS_LITELLM = {"1.82.7", "1.82.8"}
_PIN = re.compile(r"^litellm\s*==\s*(\d+\.\d+\.\d+)$")


def litellm_pin(dependencies: list[str]) -> str:
    """The exact litellm version pinned in ``dependencies``; AssertionError unless it is one safe ``==`` pin."""
    specs = [d for d in dependencies if re.match(r"^litellm\b(?![-_.\w])", d.strip())]
    assert len(specs) == 1, f"expected exactly one litellm requirement, found {specs}"
    found = _PIN.match(specs[0].strip())
    assert found, f"litellm must be pinned with == to an exact version, not {specs[0]!r}"
    version = found.group(1)
    assert version not in MALICIOUS_LITELLM, f"litellm {version} is a known malicious release"
    return version


def test_litellm_is_pinned_exactly_to_the_installed_reviewed_version():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    version = litellm_pin(project["dependencies"])
    assert importlib.metadata.version("litellm") == version


@pytest.mark.parametrize(
    "dependencies",
    [["litellm>=1.82"], ["litellm==1.82.8"], ["litellm==1.82.7"], ["litellm~=1.82.6"], ["litellm==1.82.*"],
     ["httpx"], ["litellm==1.82.6", "litellm[proxy]==1.82.8"]],
)
def test_the_pin_check_rejects_loose_or_malicious_pins(dependencies):
    with pytest.raises(AssertionError):
        litellm_pin(dependencies)


@dataclass(frozen=True)
class Expected:
    """A .pth file a normal install creates: its name, why it is there, and the only code it may run."""

    name: str  # a regular expression for the file name
    why: str
    code: str  # a regular expression every `import` line must match


ALLOWED_PTH = [
    Expected(r"distutils-precedence\.pth", "setuptools: prefers its bundled distutils over the stdlib's",
             r"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os\.environ\.get\(var, 'local'\) == 'local'; "
             r"enabled and __import__\('_distutils_hack'\)\.add_shim\(\); ?"),
    Expected(r"__editable__\.llmos_kernel-[\w.]+\.pth", "pip install -e . (setuptools' editable finder)",
             r"import __editable___llmos_kernel_[\w]+_finder; __editable___llmos_kernel_[\w]+_finder\.install\(\)"),
    Expected(r"_llmos_kernel[\w.-]*\.pth", "pip install -e . (older path-style editable installs: paths only)",
             r"(?!)"),
    Expected(r"_virtualenv\.pth", "virtualenv (not venv): patches distutils for environments it creates",
             r"import _virtualenv"),
]


def site_dirs() -> list[Path]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [Path(d) for d in dict.fromkeys(dirs) if Path(d).is_dir()]


def audit_pth(directories: list[Path]) -> list[str]:
    """Problems: .pth files not on the allow-list, and allowed ones running code other than their own."""
    problems = []
    for directory in directories:
        for pth in sorted(directory.glob("*.pth")):
            imports = [ln for ln in pth.read_text(errors="replace").splitlines() if re.match(r"import[ \t]", ln)]
            expected = next((e for e in ALLOWED_PTH if re.fullmatch(e.name, pth.name)), None)
            if expected is None:
                kind = "runs code at every interpreter start" if imports else "adds import paths"
                problems.append(f"unexpected {pth} ({kind}): {imports[:1]}")
                continue
            for line in imports:
                if not re.fullmatch(expected.code, line.strip()):
                    problems.append(f"{pth} ({expected.why}) runs unexpected code: {line[:200]!r}")
    return problems


def test_site_packages_holds_only_expected_pth_files():
    directories = site_dirs()
    assert any(Path(sys.prefix) in d.parents for d in directories)
    assert audit_pth(directories) == []


def test_the_pth_audit_catches_a_planted_file(tmp_path):
    (tmp_path / "distutils-precedence.pth").write_text(
        "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
        "enabled and __import__('_distutils_hack').add_shim(); \n")
    assert audit_pth([tmp_path]) == []
    (tmp_path / "litellm_init.pth").write_text("import os, base64; exec(base64.b64decode('cHJpbnQoMSk='))\n")
    (tmp_path / "some_paths.pth").write_text("/opt/elsewhere\n")
    (tmp_path / "__editable__.llmos_kernel-0.1.0.pth").write_text("import subprocess; subprocess.run(['sh'])\n")
    problems = audit_pth([tmp_path])
    assert len(problems) == 3
    assert any("litellm_init.pth" in p and "runs code" in p for p in problems)
    assert any("some_paths.pth" in p for p in problems)
    assert any("__editable__" in p and "unexpected code" in p for p in problems)
