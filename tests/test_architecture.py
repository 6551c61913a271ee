"""Import rules from STYLE.md, checked mechanically: a forbidden edge fails the build."""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules(pattern: str) -> list[Path]:
    return sorted(APP.glob(pattern))


def forbidden(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


RULES = [
    # (files, forbidden import prefixes, why)
    (
        "providers/*.py",
        (
            "app.db",
            "app.models",
            "app.config",
            "app.crypto",
            "app.api",
            "app.services",
            "app.rotation",
            "fastapi",
            "sqlmodel",
            "sqlalchemy",
        ),
        "providers only speak HTTP to their upstream",
    ),
    ("errors.py", ("app",), "errors imports nothing from app"),
    ("api/*.py", ("app.rotation.worker",), "api and the worker share rows, not imports"),
    ("rotation/worker.py", ("app.api",), "api and the worker share rows, not imports"),
    ("rotation/*.py", ("fastapi", "app.api"), "the engine does not know HTTP routing"),
    ("services/*.py", ("app.api",), "services do not depend on routes"),
    ("models/*.py", ("app.api", "app.services", "app.rotation", "app.providers"), "models are the bottom layer"),
]


@pytest.mark.parametrize("pattern, prefixes, why", RULES, ids=[r[0] for r in RULES])
def test_import_rules(pattern, prefixes, why):
    files = modules(pattern)
    assert files, f"no files match {pattern}"
    offences = {str(f.relative_to(APP)): bad for f in files if (bad := forbidden(imports_of(f), prefixes))}
    assert not offences, f"{why}: {offences}"
