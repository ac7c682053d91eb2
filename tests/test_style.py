"""The code base stays ruff clean, mypy clean and layered: checked by the run that checks behaviour.

Every tool runs as ``sys.executable -m ...`` (or through its Python entry point), so the suite
uses the interpreter and packages it runs under, never whatever a ``PATH`` lookup finds first.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=timeout)


def test_ruff_clean():
    done = _run("-m", "ruff", "check", "src", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_clean(tmp_path):
    # the settings (strictness, per-module overrides, files) are pyproject.toml's [tool.mypy];
    # a fresh cache keeps the check honest and out of the checkout (about 10-20 s cold)
    done = _run("-m", "mypy", "--cache-dir", str(tmp_path / "mypy"), "--no-error-summary")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "", done.stdout  # notes too: an unused override, a stale ignore


def test_import_layers_kept():
    # import-linter has no ``python -m`` entry: call the console script's function, which reads
    # the contracts from pyproject.toml in ROOT (layers in data-flow order, lazy imports count)
    done = _run("-c", "from importlinter.cli import lint_imports_command as c; c()",
                "--no-cache", "--no-logo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout
