"""Every example of the docs is read: command lines through the CLI's parsers, chart values
through `helm template`, and every YAML example sorted (tests/docs_examples.py). The manifests
are applied to the real cluster by tests/integration/test_docs_examples.py."""

from __future__ import annotations

import pytest

from tests import docs_examples as examples
from tests.unit import test_chart_template as charts
from tests.unit.test_chart_template import Helm

# the chart tests' fixtures: helm (built once), its environment, the chart rendered with it
helm = charts.helm
helm_env = charts.helm_env
chart = charts.chart

YAML = examples.yaml_examples()
COMMANDS = examples.command_lines()
#: intentionally partial examples are allowed, but few
MAX_NOT_APPLIED = 3


def test_every_yaml_example_is_a_manifest_a_part_values_or_marked() -> None:
    unknown = [e.where for e in YAML if e.sort == "unknown"]
    assert unknown == [], (
        "each YAML example must be a complete object (apiVersion, kind), chart values, or start "
        "with a comment line '# part of a Deployment' (merged into a minimal one and applied) or "
        f"'# not applied: <why>'; these are none: {unknown}"
    )
    assert [e.where for e in YAML if e.sort == "part" and e.part_of not in examples.BASES] == []
    assert len([e for e in YAML if e.sort == "not-applied"]) <= MAX_NOT_APPLIED
    # the docs have examples of every sort (the reader above still finds them)
    assert {e.sort for e in YAML} >= {"manifest", "part", "values"}


@pytest.mark.parametrize("example", examples.by_sort("values"), ids=lambda e: e.where)
def test_chart_values_examples_render(chart: Helm, example: examples.YamlExample) -> None:
    chart.lint(example.doc)
    assert chart.template(example.doc)


def test_command_lines_are_found() -> None:
    assert len(COMMANDS) >= 20
    subcommands = {c.argv[0] for c in COMMANDS if c.argv and not c.argv[0].startswith("-")}
    assert subcommands >= {"run", "restart", "explain", "node-agent"}
    assert any(c.error for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_documented_command_lines_parse(command: examples.CommandLine) -> None:
    code, message = examples.parse(command.argv)
    if command.error:
        assert code == 2, f"{command.id}: documented as refused, but accepted"
        assert command.error in message, message
    else:
        assert code == 0, f"{command.id}: {message}"


def test_docs_index_lists_every_page() -> None:
    index = (examples.REPO / "docs" / "README.md").read_text()
    pages = sorted(
        p.relative_to(examples.REPO / "docs") for p in (examples.REPO / "docs").rglob("*.md")
    )
    assert [str(p) for p in pages if p.name != "README.md" and f"]({p})" not in index] == []
    assert "](docs/README.md)" in (examples.REPO / "README.md").read_text()
