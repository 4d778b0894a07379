"""The house: layers import only downwards (import-linter), every module imports on its own, and
only the command-line layer parses command lines."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nat

SRC = Path(nat.__file__).resolve().parent
ROOT = SRC.parents[1]


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(SRC)], prefix="nat.") if m.name != "nat.__main__")


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is in the test extra")
def test_layers_import_only_downwards():
    done = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 kept, 0 broken" in done.stdout


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    # a cycle hidden by import order shows as "partially initialized module" only when a module
    # is the first one imported
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("import_each.py")), *_modules()],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]


def test_only_the_command_line_layer_imports_argparse():
    users = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
             if "import argparse" in p.read_text() and p.relative_to(SRC).parts[0] != "cli"]
    assert users == []
