"""Every spec citation in the code (`rotation §7`, `identity §6.6`, `consumer §5`, `ARouter §6`...) names a
section that docs/contracts.md states, so a reader without the upstream spec can check the code against it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = "rotation|identity|consumer|clients|OpenRouter|ARouter"
CITATION = re.compile(rf"\b({SPECS}) §(\d+[a-z]?(?:\.\d+)*)(?:[–-]§?(\d+[a-z]?(?:\.\d+)*))?")
ANY_SECTION = re.compile(r"§\d")


def _sources() -> list[Path]:
    folders = ("app", "tests", "bench", "alembic", "emulators", "docs")
    files = [p for folder in folders for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md")]
    skipped = {"__pycache__", "node_modules"}  # node_modules: the Node SDK test's npm install (tests/sdk/node)
    return [p for p in [*files, ROOT / "README.md"] if p.name != "contracts.md" and not skipped & set(p.parts)]


def _covered() -> set[str]:
    """`spec §section` for every section a heading of docs/contracts.md states (ranges such as `ARouter §1–5`
    expanded)."""
    covered = set()
    for line in (ROOT / "docs" / "contracts.md").read_text().splitlines():
        if not line.startswith("### "):
            continue
        for spec, first, last in CITATION.findall(line):
            covered.add(f"{spec} §{first}")
            if last and first.isdigit() and last.isdigit():
                covered.update(f"{spec} §{n}" for n in range(int(first), int(last) + 1))
    return covered


def test_every_citation_is_stated_in_docs_contracts():
    covered = _covered()
    missing = []
    for path in _sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for spec, first, _last in CITATION.findall(line):
                section = first.split("/")[0]
                parent = section.rsplit(".", 1)[0]
                if f"{spec} §{section}" not in covered and f"{spec} §{parent}" not in covered:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {spec} §{section}")
    assert missing == []


def test_no_citation_leaves_out_which_spec_it_means():
    bare = []
    for path in _sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = CITATION.sub("", line)
            stripped = re.sub(r"[–-]§\d", "", stripped)  # the second half of a range
            if ANY_SECTION.search(stripped):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert bare == []
