"""docs/design/architecture.md names every module of reloader/, and only modules that exist.

Module paths are written relative to ``reloader/`` (``reload/controller.py``); each module has
one table row of its own, ``| `reload/controller.py` | what it does |``. Paths under ``tools/``
and ``tests/`` are repository paths.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "reloader"
DOC = REPO / "docs" / "design" / "architecture.md"

ROW = re.compile(r"^\| `([^`]+\.py)` \|", re.MULTILINE)
PY_PATH = re.compile(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.py)\b")


def _modules() -> set[str]:
    """Every .py file under reloader/, except an __init__.py that holds at most a docstring
    (the package's one line, which the page says in its own heading)."""
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or _has_code(path)
    }


def _has_code(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return bool(body[1:] if body and ast.get_docstring(ast.Module(body, [])) else body)


def test_every_module_has_its_row() -> None:
    rows = ROW.findall(DOC.read_text())
    missing = sorted(_modules() - set(rows))
    assert not missing, "add a row to docs/design/architecture.md for: " + ", ".join(
        f"| `{m}` | … |" for m in missing
    )
    repeated = sorted({r for r in rows if rows.count(r) > 1})
    assert not repeated, f"modules with more than one row: {repeated}"


def test_every_named_module_exists() -> None:
    modules = _modules()
    unknown = sorted(
        name
        for name in set(PY_PATH.findall(DOC.read_text()))
        if not (
            (REPO / name).is_file() if name.startswith(("tools/", "tests/")) else name in modules
        )
    )
    assert not unknown, f"docs/design/architecture.md names modules that do not exist: {unknown}"


#: names of documents that exist only outside this repository (its authors' notes)
OUTSIDE = (
    "spec §",
    "DESIGN.md",
    "style-anchors",
    "kured-semantics",
    "reloader-semantics",
    "../shared",
)


def test_nothing_refers_to_a_document_outside_the_repository() -> None:
    """Code, docs, chart, tests and tools say what they need in the project's own words."""
    found = []
    for folder in ("reloader", "docs", "chart", "tests", "tools"):
        for path in sorted((REPO / folder).rglob("*")):
            if not path.is_file() or path == Path(__file__) or path.suffix in {".png", ".tgz"}:
                continue
            text = path.read_text(errors="replace")
            found += [f"{path.relative_to(REPO)}: {o!r}" for o in OUTSIDE if o in text]
    readme = (REPO / "README.md").read_text()
    found += [f"README.md: {o!r}" for o in OUTSIDE if o in readme]
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)


def test_no_reference_outside_the_repository() -> None:
    text = DOC.read_text()
    for target in re.findall(r"\]\(([^)#]+)", text):
        if "://" not in target:
            path = (DOC.parent / target).resolve()
            assert path.is_relative_to(REPO), f"link outside the repository: {target}"
            assert path.exists(), f"broken link: {target}"
