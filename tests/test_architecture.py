"""What the import-linter contracts in pyproject.toml cannot say, checked here.

The contracts themselves (the layers, the forbidden edges) run in `make lint`.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _layered_modules() -> set[str]:
    (layers,) = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    return {name.strip().strip("()") for layer in layers for name in layer.split("|")}


def test_every_app_package_and_module_is_in_a_layer():
    """A package left out of the layers contract could import in a circle unnoticed."""
    children = {
        f"app.{path.stem}"
        for path in APP.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists()) or (path.suffix == ".py" and path.stem != "__init__")
    }
    assert children - _layered_modules() == set(), "add these to [tool.importlinter] layers in pyproject.toml"


def _builds_a_session(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "Session") or (
        isinstance(func, ast.Attribute) and func.attr == "Session"
    )


def test_only_the_unit_of_work_builds_sessions():
    """One transaction pattern: app/db.py's unit of work is the only place a Session is built."""
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted(APP.rglob("*.py"))
        if path != APP / "db.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if _builds_a_session(node)
    ]
    assert offenders == []
