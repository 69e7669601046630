"""The docs cover every flag `reloader --help` lists and every metric the process exports."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from reloader.app import controller_metrics
from reloader.cli import build_parser
from reloader.images.metrics import ImageMetrics

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _flags() -> list[str]:
    flags: list[str] = []
    for action in build_parser()._actions:
        if action.help == argparse.SUPPRESS:
            continue
        flags.extend(s for s in action.option_strings if s.startswith("--"))
    return sorted(set(flags) - {"--help"})


@pytest.mark.parametrize("flag", _flags())
def test_every_flag_is_documented(flag: str) -> None:
    text = (DOCS / "flags.md").read_text()
    assert re.search(rf"`{re.escape(flag)}[`= ]", text), f"{flag} is missing from docs/flags.md"


def _metric_names() -> list[str]:
    metrics = controller_metrics(CollectorRegistry(), by_namespace=True)
    ImageMetrics(metrics.registry)  # the image controller registers these with the others
    names = set()
    for family in metrics.registry.collect():
        if family.name.startswith(("reloader_", "rest_client_")):
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    return sorted(names)


@pytest.mark.parametrize("name", _metric_names())
def test_every_metric_is_documented(name: str) -> None:
    assert name in (DOCS / "metrics.md").read_text(), f"{name} is missing from docs/metrics.md"
