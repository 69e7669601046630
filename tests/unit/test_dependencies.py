"""Every third-party module the package imports is installed by its declared dependencies.

The unit tests run in a virtualenv that has the dev extra too, so a module imported by
``reloader/`` but installed only for the tests (or left over from an earlier dependency list)
would pass every test and fail in the image, which installs ``[project.dependencies]`` only.
A module may come from a declared dependency, from what one of those requires (``yarl`` from
``aiohttp``), or from an optional extra meant for users (``kubernetes-asyncio``), never from the
extras of the tests or the bench.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "reloader"
#: extras that only the tests and the benchmarks install
NOT_FOR_USERS = {"dev", "bench"}


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (``PyYAML>=6; extra == "x"``)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra not in NOT_FOR_USERS:
            names |= {_name(r) for r in requirements}
    for name in list(names):  # and what they require, one level down
        with contextlib.suppress(metadata.PackageNotFoundError):  # declared, not installed
            names |= {_name(r) for r in metadata.requires(name) or [] if "extra ==" not in r}
    return names


def _imported_modules() -> dict[str, str]:
    """Top-level module → the first file of the package that imports it."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_third_party_module_comes_from_a_declared_dependency() -> None:
    declared = _declared()
    distributions = metadata.packages_distributions()
    undeclared = {}
    for module, where in _imported_modules().items():
        if module == "reloader" or module in sys.stdlib_module_names:
            continue
        owners = {_name(d) for d in distributions.get(module, [])}
        if not owners & declared:
            undeclared[module] = (where, sorted(owners))
    assert not undeclared, f"imported but not a declared dependency: {undeclared}"


def test_the_check_sees_a_module_installed_for_the_tests_only() -> None:
    # orjson is in the dev extra (the tests' fake API servers), not a dependency of the package
    assert "orjson" in metadata.packages_distributions()
    assert "orjson" not in _declared()
