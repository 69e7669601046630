"""Hypothesis strategies for user input: annotation values, flag values and object shapes.

Objects are generated *near* their real shape: every field is either of the right type or junk
(any JSON value, a huge string, a number past 64 bits), so the generated objects reach deep into
the parsers instead of being rejected at the first level.
"""

from __future__ import annotations

import base64
import os
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from reloader.core.annotations import LAST_APPLIED, AnnotationNames
from reloader.workloads.domain.kinds import KINDS

#: hypothesis measures time spent in the garbage collector with a gc callback, which CPython
#: reports as an "unraisable" exception when a collection starts deep inside a recursion (a
#: hostile regex being compiled); pytest turns that into an error of the test. It is about the
#: fuzzer's own bookkeeping, not the code under test: every fuzz module ignores it.
IGNORE_GC_CALLBACK = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function gc_cumulative_time"
    ":pytest.PytestUnraisableExceptionWarning"
)

#: fast enough for every `make test`; no example database on disk. The examples are derived from
#: the test names, so `make test` never fails by chance; `make fuzz` (RELOADER_FUZZ_RANDOM=1)
#: draws new ones on every run: a failure prints the example, to be added as an ``@example``.
FAST = settings(
    max_examples=int(os.environ.get("RELOADER_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    derandomize=os.environ.get("RELOADER_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NAMES = AnnotationNames()
ANNOTATION_KEYS: tuple[str, ...] = (
    *(getattr(NAMES, f.name) for f in fields(NAMES)),
    LAST_APPLIED,
)

# ---------------------------------------------------------------------- scalars and junk

BIG_INTS = st.integers(min_value=-(2**70), max_value=2**70)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    BIG_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
JUNK: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def huge_text(min_size: int = 1_000, max_size: int = 64_000) -> st.SearchStrategy[str]:
    """A long string, built cheaply (hypothesis would draw every character of a long text).

    Kubernetes caps all annotations of an object at 256 KiB together; 64 KB per value keeps
    the properties fast while far beyond any real value."""
    return st.builds(
        lambda chunk, n: (chunk * n)[:max_size],
        st.text(min_size=1, max_size=8),
        st.integers(min_value=min_size, max_value=max_size),
    )


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The right type most of the time, junk otherwise."""
    return st.one_of(strategy, strategy, JUNK)


# ---------------------------------------------------------------------- annotation values

BOOL_SPELLINGS = ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False")
INTERESTING_VALUES = (
    "",
    " ",
    ",",
    ",,",
    " true",
    "true ",
    "yes",
    "on",
    "TrUe",
    "null",
    "{}",
    "[]",
    "\x00",
    "\u202e",
    "é",
    "😀",
    "*",
    ".*",
    "a|b",
    "(",
    "[",
    "a{2,1}",
    "(?P<x>a)(?P=x)",
    "(?<=a)b",
    "\\",
    "5m",
    "-5m",
    "1.5h",
    "0",
    "1e3s",
    "5 m",
    "300",
    "Mon-Fri 09:00-17:00",
    "25:00-26:00",
    "configmap/a=k1,k2;secret/b=k3",
    "configmap/=k",
    '{"configmap/a":"x"}',
    '{"configmap/a":1}',
    "[1,2]",
    *BOOL_SPELLINGS,
)
REGEX_ALPHABET = "ab.*+?|()[]{}^$\\,- 0123456789dDwWsS"
ANNOTATION_VALUES: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(INTERESTING_VALUES),
    st.text(max_size=40),
    st.text(alphabet=REGEX_ALPHABET, max_size=30),
    st.lists(st.text(alphabet=REGEX_ALPHABET, max_size=8), max_size=5).map(",".join),
    huge_text(),
)
SOURCE_NAMES: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(("a", "b", "app", "cm", "web-config", "x.y", "a-b", "ab")),
    st.text(max_size=12),
)

#: annotation maps: reloader's keys (and a few others) to values that may be junk
ANNOTATIONS = st.dictionaries(
    st.one_of(st.sampled_from(ANNOTATION_KEYS), st.text(max_size=10)),
    maybe(ANNOTATION_VALUES),
    max_size=6,
)
#: the same with string values only, as a view keeps them
STR_ANNOTATIONS = st.dictionaries(
    st.one_of(st.sampled_from(ANNOTATION_KEYS), st.text(max_size=10)), ANNOTATION_VALUES, max_size=6
)

# ---------------------------------------------------------------------- pod specs

_REF = st.fixed_dictionaries({"name": maybe(SOURCE_NAMES)}, optional={"key": maybe(st.text())})
_ENV = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(
            st.one_of(
                st.sampled_from(("STAKATER_A_CONFIGMAP", "STAKATER_A_SECRET", "STAKATER_", "V")),
                st.text(max_size=12),
            )
        ),
        "value": maybe(st.one_of(st.text(max_size=12), huge_text())),
        "valueFrom": maybe(
            st.fixed_dictionaries(
                {}, optional={"configMapKeyRef": maybe(_REF), "secretKeyRef": maybe(_REF)}
            )
        ),
    },
)
_ENV_FROM = st.fixed_dictionaries(
    {}, optional={"configMapRef": maybe(_REF), "secretRef": maybe(_REF)}
)
VOLUME_NAMES = st.sampled_from(("v1", "v2", "v3", ""))
_MOUNT = st.fixed_dictionaries({"name": maybe(VOLUME_NAMES)}, optional={"subPath": st.text()})
CONTAINER = st.fixed_dictionaries(
    {"name": maybe(st.sampled_from(("main", "side", "init", "")))},
    optional={
        "env": maybe(st.lists(maybe(_ENV), max_size=4)),
        "envFrom": maybe(st.lists(maybe(_ENV_FROM), max_size=3)),
        "volumeMounts": maybe(st.lists(maybe(_MOUNT), max_size=3)),
    },
)
_PROJECTED_SOURCE = st.fixed_dictionaries(
    {},
    optional={
        "configMap": maybe(_REF),
        "secret": maybe(_REF),
    },
)
VOLUME = st.fixed_dictionaries(
    {"name": maybe(VOLUME_NAMES)},
    optional={
        "configMap": maybe(_REF),
        "secret": maybe(st.fixed_dictionaries({"secretName": maybe(SOURCE_NAMES)})),
        "projected": maybe(
            st.fixed_dictionaries(
                {"sources": maybe(st.lists(maybe(_PROJECTED_SOURCE), max_size=3))}
            )
        ),
        "csi": maybe(
            st.fixed_dictionaries(
                {
                    "volumeAttributes": maybe(
                        st.fixed_dictionaries({"secretProviderClass": maybe(SOURCE_NAMES)})
                    )
                }
            )
        ),
    },
)
POD_SPEC = st.fixed_dictionaries(
    {},
    optional={
        "containers": maybe(st.lists(maybe(CONTAINER), max_size=3)),
        "initContainers": maybe(st.lists(maybe(CONTAINER), max_size=2)),
        "volumes": maybe(st.lists(maybe(VOLUME), max_size=3)),
    },
)
POD_TEMPLATE = st.fixed_dictionaries(
    {},
    optional={
        "metadata": maybe(st.fixed_dictionaries({}, optional={"annotations": maybe(ANNOTATIONS)})),
        "spec": maybe(POD_SPEC),
    },
)

# ---------------------------------------------------------------------- objects

OBJECT_META = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(SOURCE_NAMES),
        "namespace": maybe(st.sampled_from(("ns", "other", ""))),
        "uid": maybe(st.text(max_size=8)),
        "resourceVersion": maybe(st.one_of(st.integers(0, 10**6).map(str), st.text(max_size=5))),
        "generation": maybe(BIG_INTS),
        "annotations": maybe(ANNOTATIONS),
        "labels": maybe(st.dictionaries(st.text(max_size=5), maybe(st.text(max_size=5)))),
    },
)
STATUS = st.fixed_dictionaries(
    {},
    optional={
        k: maybe(BIG_INTS)
        for k in (
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "availableReplicas",
            "readyReplicas",
            "desiredNumberScheduled",
            "updatedNumberScheduled",
            "numberAvailable",
        )
    }
    | {
        "currentRevision": maybe(st.text(max_size=3)),
        "updateRevision": maybe(st.text(max_size=3)),
        "phase": maybe(st.sampled_from(("Progressing", "Paused", "Healthy", ""))),
    },
)


def workload_objects(kind: str) -> st.SearchStrategy[Any]:
    """Raw objects of one workload kind, or junk where the object or any part of it should be."""
    spec_fields: dict[str, st.SearchStrategy[Any]] = {
        "paused": maybe(st.booleans()),
        "replicas": maybe(BIG_INTS),
    }
    if kind == "CronJob":
        spec_fields["jobTemplate"] = maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "spec": maybe(
                        st.fixed_dictionaries({}, optional={"template": maybe(POD_TEMPLATE)})
                    )
                },
            )
        )
    else:
        spec_fields["template"] = maybe(POD_TEMPLATE)
    obj = st.fixed_dictionaries(
        {},
        optional={
            "metadata": maybe(OBJECT_META),
            "spec": maybe(st.fixed_dictionaries({}, optional=spec_fields)),
            "status": maybe(STATUS),
        },
    )
    return maybe(obj)


WORKLOAD_KIND_NAMES = st.sampled_from(tuple(KINDS))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


DATA_VALUES = st.one_of(
    st.text(max_size=20),
    st.binary(max_size=20).map(_b64),
    huge_text(max_size=64_000),
)
SOURCE_OBJECTS: st.SearchStrategy[Any] = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "metadata": maybe(OBJECT_META),
            "data": maybe(st.dictionaries(st.text(max_size=8), maybe(DATA_VALUES), max_size=4)),
            "binaryData": maybe(
                st.dictionaries(st.text(max_size=8), maybe(DATA_VALUES), max_size=3)
            ),
            "stringData": maybe(st.dictionaries(st.text(max_size=8), maybe(DATA_VALUES))),
            "status": maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "secretProviderClassName": maybe(SOURCE_NAMES),
                        "objects": maybe(
                            st.lists(
                                maybe(
                                    st.fixed_dictionaries(
                                        {
                                            "id": maybe(st.text(max_size=6)),
                                            "version": maybe(st.text(max_size=4)),
                                        }
                                    )
                                ),
                                max_size=3,
                            )
                        ),
                    },
                )
            ),
        },
    )
)

# ---------------------------------------------------------------------- durations

_UNITS = ("ns", "us", "µs", "μs", "ms", "s", "m", "h")
#: valid Go durations: an optional sign and one or more number+unit parts
GO_DURATIONS = st.builds(
    lambda sign, parts: sign + "".join(f"{n}{u}" for n, u in parts),
    st.sampled_from(("", "+", "-")),
    st.lists(
        st.tuples(
            st.one_of(
                st.integers(0, 10**6).map(str),
                st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 999), st.integers(0, 999)),
            ),
            st.sampled_from(_UNITS),
        ),
        min_size=1,
        max_size=4,
    ),
)
DURATION_TEXT = st.one_of(
    GO_DURATIONS, ANNOTATION_VALUES, st.text(alphabet="0123456789.+-smhnuµ ", max_size=12)
)
