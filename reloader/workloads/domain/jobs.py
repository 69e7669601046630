"""Job bodies for the two kinds that cannot be rolled by a template patch.

A CronJob reload creates a Job from the CronJob's job template; a Job reload deletes the Job and
creates it again with the same name. Both bodies are built here, purely, from full objects.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from reloader.core.objects import CRONJOBS, JOBS
from reloader.workloads.domain.references import as_mapping

#: labels the Job controller adds; a copy must not carry the old Job's values (its selector would
#: then not match, and the API server rejects it)
GENERATED_JOB_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)
MANUAL_INSTANTIATE = {"cronjob.kubernetes.io/instantiate": "manual"}
_SERVER_FIELDS = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)


def cronjob_job_name(cronjob: Mapping[str, Any], hashes: Sequence[str]) -> str:
    """A name that is the same for retries of one reload and different for the next one.

    Reloader uses ``generateName``, so a retried create after a lost answer makes a second Job.
    The digest covers the CronJob's uid, its generation (bumped by every template change we
    persist, but not by status updates such as the CronJob controller noting our Job, which
    would make a retry pick another name) and the new hashes; a retry gets 409 AlreadyExists
    instead of a duplicate.
    """
    meta = as_mapping(cronjob.get("metadata"))
    seed = "|".join([str(meta.get("uid", "")), str(meta.get("generation", "")), *hashes])
    digest = hashlib.sha1(seed.encode()).hexdigest()[:8]  # noqa: S324 - a name, not security
    return f"{str(meta.get('name', 'cronjob'))[:52]}-{digest}"


def job_from_cronjob(cronjob: Mapping[str, Any], *, name: str) -> dict[str, Any]:
    """A Job instantiated from ``cronjob``'s job template, owned by the CronJob."""
    meta = as_mapping(cronjob.get("metadata"))
    template = as_mapping(as_mapping(cronjob.get("spec")).get("jobTemplate"))
    tmeta = as_mapping(template.get("metadata"))
    return {
        "apiVersion": JOBS.api_version,
        "kind": JOBS.kind,
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "annotations": {**MANUAL_INSTANTIATE, **as_mapping(tmeta.get("annotations"))},
            "labels": dict(as_mapping(tmeta.get("labels"))),
            "ownerReferences": [
                {
                    "apiVersion": CRONJOBS.api_version,
                    "kind": CRONJOBS.kind,
                    "name": meta.get("name"),
                    "uid": meta.get("uid"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": dict(as_mapping(template.get("spec"))),
    }


def _without_generated_labels(labels: Any) -> dict[str, Any]:
    return {k: v for k, v in as_mapping(labels).items() if k not in GENERATED_JOB_LABELS}


def recreated_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``job`` that can be created again under the same name (status and ids cleared)."""
    meta = {k: v for k, v in as_mapping(job.get("metadata")).items() if k not in _SERVER_FIELDS}
    meta["labels"] = _without_generated_labels(meta.get("labels"))
    spec = dict(as_mapping(job.get("spec")))
    spec.pop("selector", None)
    template = dict(as_mapping(spec.get("template")))
    tmeta = dict(as_mapping(template.get("metadata")))
    tmeta["labels"] = _without_generated_labels(tmeta.get("labels"))
    template["metadata"] = tmeta
    spec["template"] = template
    return {"apiVersion": JOBS.api_version, "kind": JOBS.kind, "metadata": meta, "spec": spec}


# ------------------------------------------------------------------ the recreate journal
#: label of the Secrets that hold a Job deleted for a recreate until it is created again (the
#: ConfigMaps of earlier versions carried it too)
PENDING_JOB_LABEL = "reloader.stakater.com/pending-job"
_JOURNAL_JOB = "job.json"
_MANAGED = {"app.kubernetes.io/managed-by": "reloader"}


def journal_name(namespace: str, name: str) -> str:
    """The journal entry's name for Job ``namespace/name`` (fixed length, always valid)."""
    digest = hashlib.sha1(f"{namespace}/{name}".encode()).hexdigest()[:16]  # noqa: S324 - a name
    return f"reloader-pending-job-{digest}"


def journal_secret(uid: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The journal entry for a Job about to be deleted (old ``uid``) and created as ``body``.

    A Secret (type Opaque), not a ConfigMap: the body is a whole Job manifest, literal env values
    included, so it is kept where the Job's own Secrets are, readable by as few as they are.
    """
    meta = as_mapping(body.get("metadata"))
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    data = {"namespace": namespace, "name": name, "uid": uid, _JOURNAL_JOB: _dump(body)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": journal_name(namespace, name),
            "labels": {PENDING_JOB_LABEL: "true", **_MANAGED},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def parse_journal(secret: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The old Job's uid and the body to create, or None for an entry that is not one of ours."""
    data: dict[str, str] = {}
    for key, value in as_mapping(secret.get("data")).items():
        try:
            data[key] = base64.b64decode(str(value), validate=True).decode()
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return None
    return _parse_entry(data)


def parse_legacy_journal(configmap: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """An entry written by an earlier version, in a ConfigMap (plain data), read as
    :func:`parse_journal` reads a Secret."""
    return _parse_entry(as_mapping(configmap.get("data")))


def _parse_entry(data: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    try:
        body = json.loads(str(data.get(_JOURNAL_JOB, "")))
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("kind") != JOBS.kind:
        return None
    meta = as_mapping(body.get("metadata"))
    if not meta.get("name") or not meta.get("namespace"):
        return None
    return str(data.get("uid", "")), body


def _dump(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True)
