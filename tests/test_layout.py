"""The house rules that hold themselves: import contracts and function length.

The import contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and run as
``lint-imports`` in ``make test``; these tests show they bite: a copy of the tree with one
upward import fails and names that import.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import creditdesk
from tests.conftest import REPO_ROOT

ROOMS = creditdesk.ROOMS  # the top-level packages the contracts cover
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rooms' Python files and pyproject.toml, copied so a test may break them."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    for room in ROOMS:
        shutil.copytree(REPO_ROOT / room, root / room, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def test_the_tree_keeps_every_contract() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    "module, bad_import, contract",
    [
        ("features/catalogue.py", "models.registry", "credit chain"),
        ("ledger/domain.py", "margin.engine", "book chain"),
        ("pricing/formulas.py", "ledger.domain", "the credit rooms do not import the book rooms"),
        ("creditdesk/errors.py", "features.schemas", "creditdesk/ is the base"),
        ("serving/schemas.py", "pipelines.cli", "nothing imports pipelines"),
        ("monitoring/stability.py", "serving.app", "serving and monitoring are independent"),
        ("pipelines/decide_batch.py", "serving.app", "pipelines reach serving only through"),
    ],
)
def test_an_upward_import_breaks_the_build_naming_the_import(
    tree_copy: Path, module: str, bad_import: str, contract: str
) -> None:
    path = tree_copy / module
    original = path.read_text()
    path.write_text(original + f"\nimport {bad_import}  # noqa\n")
    try:
        result = _lint_imports(tree_copy)
    finally:
        path.write_text(original)
    importer = module.removesuffix(".py").replace("/", ".")
    assert result.returncode == 1, result.stdout
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout
    assert f"{importer} -> {bad_import}" in result.stdout


# Files whose long functions their owners are splitting in their own issues today; every
# other module of pipelines/ (and the generator) keeps each function within the house limit.
MAX_FUNCTION_LINES = 70
NOT_YET_SPLIT = {
    "pipelines/training.py": "issue 17",
}


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_no_function_over_the_limit_in_pipelines_and_the_generator() -> None:
    files = [REPO_ROOT / "features" / "synthetic.py", *sorted((REPO_ROOT / "pipelines").glob("*.py"))]
    checked = [p for p in files if str(p.relative_to(REPO_ROOT)) not in NOT_YET_SPLIT]
    long = [entry for path in checked for entry in _long_functions(path)]
    assert long == []
