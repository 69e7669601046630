"""Annotation keys, source kinds and the small parsers every decision shares.

Reloader's users configure it entirely through annotations whose *keys* can be renamed by flags
(ten of them). Keeping every key in one frozen value, built once from the flags, means no module
hard-codes a key and a renamed key can never be read under its default name by mistake.

The parsers here reproduce Go's behaviour where compatibility depends on it (``strconv.ParseBool``
accepts exactly twelve spellings) and report anything else as "unparsable" instead of raising:
annotation values are user data, and bad data becomes a warning, never an exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

#: kubectl's copy of the whole applied object: never an input to a decision, and on a Secret it
#: holds the Secret's data, so the reduced views drop it.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True, slots=True)
class AnnotationNames:
    """Every annotation key reloader reads or writes, with stakater/Reloader's defaults."""

    auto: str = "reloader.stakater.com/auto"
    configmap_auto: str = "configmap.reloader.stakater.com/auto"
    secret_auto: str = "secret.reloader.stakater.com/auto"  # noqa: S105
    spc_auto: str = "secretproviderclass.reloader.stakater.com/auto"  # fixed in Reloader
    configmap_reload: str = "configmap.reloader.stakater.com/reload"
    secret_reload: str = "secret.reloader.stakater.com/reload"  # noqa: S105
    spc_reload: str = "secretproviderclass.reloader.stakater.com/reload"  # fixed in Reloader
    search: str = "reloader.stakater.com/search"
    match: str = "reloader.stakater.com/match"
    ignore: str = "reloader.stakater.com/ignore"
    configmap_exclude: str = "configmaps.exclude.reloader.stakater.com/reload"
    secret_exclude: str = "secrets.exclude.reloader.stakater.com/reload"  # noqa: S105
    spc_exclude: str = "secretproviderclasses.exclude.reloader.stakater.com/reload"
    rollout_strategy: str = "reloader.stakater.com/rollout-strategy"
    pause_period: str = "deployment.reloader.stakater.com/pause-period"
    paused_at: str = "deployment.reloader.stakater.com/paused-at"
    last_reloaded_from: str = "reloader.stakater.com/last-reloaded-from"
    #: ours: the record of the source hashes last applied to a workload (workload metadata)
    applied_hashes: str = "reloader.stakater.com/applied-hashes"
    #: ours: only these keys of a source matter (``configmap/NAME=k1,k2;secret/NAME=k3``)
    reload_keys: str = "reloader.stakater.com/reload-keys"
    #: ours: reloads only inside this window (``Mon-Fri 09:00-17:00``), in this time zone
    reload_window: str = "reloader.stakater.com/reload-window"
    reload_window_timezone: str = "reloader.stakater.com/reload-window-timezone"
    #: ours, health-gated waves (docs/waves.md): a source's canary size (``1``, ``10%``)
    canary_size: str = "reloader.stakater.com/canary-size"
    #: ours: this workload is a preferred canary of the changes it shares
    canary: str = "reloader.stakater.com/canary"
    #: ours: how long a rolled workload has to become complete and healthy
    health_timeout: str = "reloader.stakater.com/health-timeout"
    #: ours: the wave record of a workload that rolled a shared change (written by reloader)
    wave: str = "reloader.stakater.com/wave"
    #: ours: an operator releases the change halted by this workload's failure
    release_halted: str = "reloader.stakater.com/release-halted"


class SourceKind(StrEnum):
    """A kind of configuration source; the values are Reloader's type strings."""

    CONFIGMAP = "CONFIGMAP"
    SECRET = "SECRET"  # noqa: S105
    SECRETPROVIDERCLASS = "SECRETPROVIDERCLASS"

    @property
    def env_suffix(self) -> str:
        """Suffix of the ``STAKATER_<NAME>_<SUFFIX>`` env var."""
        return self.value

    @property
    def record_prefix(self) -> str:
        """Prefix of this kind's keys in the applied-hashes record: ``configmap/<name>``."""
        return self.value.lower()

    def record_key(self, name: str) -> str:
        return f"{self.record_prefix}/{name}"

    @classmethod
    def of_record_key(cls, key: str) -> tuple[SourceKind, str] | None:
        """The (kind, name) of a record key (``configmap/<name>``); None for anything else."""
        prefix, _, name = key.partition("/")
        kind = next((k for k in cls if k.record_prefix == prefix), None)
        return (kind, name) if kind is not None and name else None

    def explicit_key(self, names: AnnotationNames) -> str:
        """The comma list of names/regexes on a workload (``configmap.reloader…/reload``)."""
        return {
            SourceKind.CONFIGMAP: names.configmap_reload,
            SourceKind.SECRET: names.secret_reload,
            SourceKind.SECRETPROVIDERCLASS: names.spc_reload,
        }[self]

    def typed_auto_key(self, names: AnnotationNames) -> str:
        """The auto key that covers only this kind (``configmap.reloader…/auto``)."""
        return {
            SourceKind.CONFIGMAP: names.configmap_auto,
            SourceKind.SECRET: names.secret_auto,
            SourceKind.SECRETPROVIDERCLASS: names.spc_auto,
        }[self]

    def exclude_key(self, names: AnnotationNames) -> str:
        """The exclude list on workload metadata (``configmaps.exclude.reloader…/reload``)."""
        return {
            SourceKind.CONFIGMAP: names.configmap_exclude,
            SourceKind.SECRET: names.secret_exclude,
            SourceKind.SECRETPROVIDERCLASS: names.spc_exclude,
        }[self]


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(value: str) -> bool | None:
    """Go's ``strconv.ParseBool``: exactly twelve spellings, no trimming; None for anything else."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def split_list(value: str) -> tuple[str, ...]:
    """Split an annotation list on ``,``, trim each element and drop the empty ones.

    Reloader keeps empty elements; for an explicit list that turns ``""`` into the regex ``^$``,
    which matches the empty name of a tombstone (reloading all). Real names are never empty, so
    dropping them changes nothing else.
    """
    return tuple(part for part in (p.strip() for p in value.split(",")) if part)


def quote(value: str, *, limit: int = 200) -> str:
    """A bad value quoted for a warning (JSON string syntax), shortened when it is long."""
    if len(value) > limit:
        value = value[:limit] + "…"
    return json.dumps(value, ensure_ascii=False)


def annotation_warning(key: str, problem: str, *, on_template: bool = False) -> str:
    """``annotation <key>: <problem>``; annotations read from the pod template say so."""
    where = "pod template annotation" if on_template else "annotation"
    return f"{where} {key}: {problem}"
