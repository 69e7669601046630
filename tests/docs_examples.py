"""The examples of the docs (README.md, chart/README.md, docs/**/*.md), as the docs tests read them.

YAML examples, one per YAML document of a ```yaml block, are of four sorts:

- a manifest: a complete object (``apiVersion`` and ``kind``), applied as it is;
- a part of an object, marked by a comment line ``# part of a Deployment`` (or another kind in
  :data:`BASES`) before it: merged into a minimal valid object of that kind, then applied;
- chart values: no ``apiVersion``/``kind``, every top-level key a key of chart/values.yaml:
  rendered with ``helm template``;
- intentionally partial, marked ``# not applied: <why>``: read, nothing more (they are few).

Command lines are the ``reloader …`` and ``kubectl reloader …`` lines of the code blocks (``$ ``
prompts dropped, comments cut) and the inline code spans with arguments (`` `reloader` `` and
`` `reloader restart` `` alone name a program). A command line followed by a line with ``error:``
is documented as refused: the parser must refuse it with that message.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reloader.cli import SUBCOMMANDS, build_parser, settings_from_args, subcommands_help
from reloader.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
PART = re.compile(r"^# part of an? (\w+)\b")
NOT_APPLIED = re.compile(r"^# not applied: \S")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
#: environment of the parsed command lines (the downward API values the chart sets)
ENV = {"POD_NAME": "reloader-0", "POD_NAMESPACE": "reloader", "NODE_NAME": "node-1"}

Doc = dict[str, Any]

#: the minimal valid objects a "# part of a KIND" example is merged into
BASES: dict[str, Doc] = {
    "Deployment": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "example"},
        "spec": {
            "selector": {"matchLabels": {"app": "example"}},
            "template": {
                "metadata": {"labels": {"app": "example"}},
                "spec": {"containers": [{"name": "app", "image": "example/app:1"}]},
            },
        },
    },
    "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "example"}},
    "Secret": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "example"}},
}


def doc_files() -> list[Path]:
    return [
        REPO / "README.md",
        REPO / "chart" / "README.md",
        *sorted((REPO / "docs").rglob("*.md")),
    ]


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO)}:{line}"


@dataclass(frozen=True)
class YamlExample:
    where: str
    text: str
    sort: str  # manifest, part, values, not-applied, or unknown
    part_of: str = ""

    @property
    def doc(self) -> Doc:
        loaded = yaml.safe_load(self.text)
        assert isinstance(loaded, dict), f"{self.where}: not a YAML mapping"
        return loaded

    def manifest(self) -> Doc:
        """The object to apply: the example itself, or merged into its base object."""
        if self.sort == "part":
            return dict(merged(copy.deepcopy(BASES[self.part_of]), self.doc))
        return self.doc


def merged(base: Any, part: Any) -> Any:
    """``part`` over ``base``: mappings key by key, lists item by item, anything else replaced."""
    if isinstance(base, dict) and isinstance(part, dict):
        out = dict(base)
        for key, value in part.items():
            out[key] = merged(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(part, list):
        return [merged(b, p) for b, p in zip(base, part, strict=False)] + part[len(base) :]
    return part


def _chart_keys() -> set[str]:
    return set(yaml.safe_load((REPO / "chart" / "values.yaml").read_text()))


def _classify(text: str, chart_keys: set[str]) -> tuple[str, str]:
    header = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            break
        header.append(line)
    for line in header:
        if m := PART.match(line):
            return "part", m.group(1)
        if NOT_APPLIED.match(line):
            return "not-applied", ""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        return "unknown", ""
    if "apiVersion" in doc and "kind" in doc:
        return "manifest", ""
    if "apiVersion" not in doc and "kind" not in doc and set(doc) <= chart_keys:
        return "values", ""
    return "unknown", ""


def yaml_examples() -> list[YamlExample]:
    chart_keys = _chart_keys()
    out = []
    for path in doc_files():
        text = path.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) != "yaml":
                continue
            line = text[: m.start()].count("\n") + 2
            for part in re.split(r"^---\n", m.group(2), flags=re.MULTILINE):
                sort, kind = _classify(part, chart_keys)
                out.append(YamlExample(where(path, line), part, sort, kind))
                line += part.count("\n") + 1
    return out


# ---------------------------------------------------------------------- command lines


@dataclass(frozen=True)
class CommandLine:
    where: str
    argv: tuple[str, ...]  # after `reloader`
    error: str = ""  # the documented refusal, if any

    @property
    def id(self) -> str:
        return f"{self.where} reloader {' '.join(self.argv)}"


_COMMAND = re.compile(r"^(?:\$ )?(?:kubectl )?reloader(?: (.*))?$")
_SPAN = re.compile(r"`(?:kubectl )?reloader( [^`]*)?`")


def _argv(rest: str) -> tuple[str, ...]:
    words = shlex.split(rest.replace("…", ""), comments=True)
    return tuple(words)


def command_lines() -> list[CommandLine]:
    out: list[CommandLine] = []
    for path in doc_files():
        text = path.read_text()
        fenced: set[int] = set()
        for m in FENCE.finditer(text):
            first = text[: m.start()].count("\n") + 2
            lines = m.group(2).splitlines()
            fenced.update(range(first - 1, first + len(lines) + 1))
            if m.group(1) not in ("", "sh", "bash", "console", "shell"):
                continue
            for i, line in enumerate(lines):
                if not (c := _COMMAND.match(line.strip())):
                    continue
                follow = lines[i + 1] if i + 1 < len(lines) else ""
                error = follow.split("error: ", 1)[1] if "error: " in follow else ""
                out.append(CommandLine(where(path, first + i), _argv(c.group(1) or ""), error))
        for number, line in enumerate(text.splitlines(), start=1):
            if number in fenced:
                continue
            for span in _SPAN.finditer(line):
                argv = _argv(span.group(1) or "")
                if len(argv) < (2 if argv[:1] in [("run",)] + [(s,) for s in SUBCOMMANDS] else 1):
                    continue  # `reloader`, `reloader restart`: names, not command lines
                if argv[:1] == ("SUBCOMMAND",):  # `reloader SUBCOMMAND --help`: each of them
                    out += [CommandLine(where(path, number), (s, *argv[1:])) for s in SUBCOMMANDS]
                else:
                    out.append(CommandLine(where(path, number), argv))
    return out


def parse(argv: tuple[str, ...]) -> tuple[int, str]:
    """Run ``reloader ARGV``'s parser and flag conversion, never the command itself: the exit
    code the command line would have before anything starts (0: accepted) and its message."""
    err = io.StringIO()
    args = list(argv)
    if args and args[0] in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[args[0]][0])
        parser: argparse.ArgumentParser = module.build_parser()
        args = args[1:]
        convert = getattr(module, "explain_settings", getattr(module, "settings_from_args", None))
    else:
        parser = build_parser(subcommands_help())
        args, convert = args[1:] if args[:1] == ["run"] else args, settings_from_args
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parsed = parser.parse_args(args)
        except SystemExit as exc:
            return int(exc.code or 0), err.getvalue()
    if convert is not None:
        try:
            convert(parsed, ENV)
        except ConfigError as exc:
            return 2, str(exc)
    return 0, ""


def by_sort(*sorts: str) -> list[YamlExample]:
    return [e for e in yaml_examples() if e.sort in sorts]
