"""The Helm chart (chart/), rendered with `helm template` and linted, without a cluster.

Every values set is rendered and checked for what the controller gets (args that `reloader`
accepts, environment), what it may do (RBAC rules with exactly the verbs its features need, no
wildcards) and how it runs (Pod Security "restricted", resources, probes). Values that cannot work
fail at template time with a message naming the values; the schema rejects typos.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from reloader.app import controller_metrics
from reloader.cli import build_parser, settings_from_args
from reloader.reboot import cli as node_agent
from reloader.reboot.domain.windows import RebootWindow
from reloader.reboot.settings import MarkSettings, NodeAgentSettings
from reloader.settings import Settings
from tests.unit.chart_values import stakater_values

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
RELEASE = "rel"
NAMESPACE = "reloader-system"
FULLNAME = f"{RELEASE}-reloader"

Doc = dict[str, Any]
Rules = dict[tuple[str, str], set[str]]


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary built from its Go module by tools/cluster/build.sh (cached; `make unit`
    builds it before pytest starts, so no test's timeout pays for the build)."""
    sys.path.insert(0, str(REPO / "tools" / "cluster"))
    import cluster as local_cluster  # type: ignore[import-not-found]

    path = Path(local_cluster.build("helm")) / "helm"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm's cache/config/data directories in a temporary place, not the user's home."""
    home = tmp_path_factory.mktemp("helm-home")
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


@dataclass
class Helm:
    binary: Path
    env: dict[str, str]
    tmp: Path

    def run(self, *args: str, values: Doc | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.binary), *args]
        if values is not None:
            path = self.tmp / f"values-{len(list(self.tmp.iterdir()))}.json"
            path.write_text(json.dumps(values))
            cmd += ["-f", str(path)]
        return subprocess.run(
            cmd, check=False, capture_output=True, text=True, env=self.env, timeout=60
        )

    def template(self, values: Doc | None = None) -> list[Doc]:
        out = self.run("template", RELEASE, str(CHART), "-n", NAMESPACE, values=values)
        assert out.returncode == 0, out.stderr
        return [d for d in yaml.safe_load_all(out.stdout) if d]

    def fails(self, values: Doc) -> str:
        out = self.run("template", RELEASE, str(CHART), "-n", NAMESPACE, values=values)
        assert out.returncode != 0, f"expected a failure, got:\n{out.stdout[:2000]}"
        return out.stderr

    def lint(self, values: Doc | None = None) -> None:
        out = self.run("lint", "--strict", str(CHART), "-n", NAMESPACE, values=values)
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def chart(helm: Path, helm_env: dict[str, str], tmp_path: Path) -> Helm:
    return Helm(binary=helm, env=helm_env, tmp=tmp_path)


# ---------------------------------------------------------------------- reading rendered objects


def find(docs: list[Doc], kind: str, name: str | None = None, namespace: str | None = None) -> Doc:
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name)
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"{kind} {name or ''} {namespace or ''}: {len(found)} found"
    return found[0]


def kinds(docs: list[Doc]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def container(docs: list[Doc]) -> Doc:
    dep = find(docs, "Deployment", FULLNAME)
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def args_of(docs: list[Doc]) -> list[str]:
    return [str(a) for a in container(docs).get("args") or []]


def env_of(docs: list[Doc]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs).get("env") or []}


def rules_of(role: Doc) -> Rules:
    """{(apiGroup, resource): verbs}; a resource in two rules gets the union of their verbs."""
    out: Rules = {}
    for rule in role["rules"]:
        assert "resourceNames" not in rule, rule  # resource names only in the Lease Role
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def assert_no_wildcards(docs: list[Doc]) -> None:
    for d in docs:
        if d["kind"] in ("ClusterRole", "Role"):
            for rule in d["rules"]:
                for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                    assert "*" not in rule.get(field, []), (d["metadata"]["name"], rule)
                assert "nonResourceURLs" not in rule, rule


def settings_for(docs: list[Doc]) -> Settings:
    """The Settings the controller would build from the rendered args and env (fails on a flag
    or value it does not accept), with the downward API values filled in."""
    env: dict[str, str] = {}
    for name, value in env_of(docs).items():
        if isinstance(value, str):
            env[name] = value
        elif "fieldRef" in value:
            env[name] = {"metadata.name": "pod-0", "metadata.namespace": NAMESPACE}[
                value["fieldRef"]["fieldPath"]
            ]
        else:
            env[name] = "from-a-secret"
    args = args_of(docs)
    return settings_from_args(build_parser().parse_args(args), env)


# ---------------------------------------------------------------------- expected RBAC

WORKLOAD_VERBS = {"list", "watch", "get", "patch"}


def base_rules(**overrides: set[str] | None) -> Rules:
    """The rules of the default values; ``overrides`` replace (set) or remove (None) entries,
    keyed ``group__resource`` with ``core`` for the core group."""
    rules: Rules = {
        ("", "configmaps"): {"list", "watch"},
        ("", "secrets"): {"list", "watch"},
        ("apps", "deployments"): WORKLOAD_VERBS,
        ("apps", "daemonsets"): WORKLOAD_VERBS,
        ("apps", "statefulsets"): WORKLOAD_VERBS,
        ("batch", "cronjobs"): WORKLOAD_VERBS,
        ("batch", "jobs"): {"list", "watch", "get", "patch", "delete", "create"},
        ("", "events"): {"create"},
        ("", "pods"): {"list"},
        ("apps", "replicasets"): {"list"},
    }
    for key, verbs in overrides.items():
        group, resource = key.split("__")
        k = ("" if group == "core" else group.replace("_", "."), resource)
        if verbs is None:
            del rules[k]
        else:
            rules[k] = verbs
    return rules


@dataclass(frozen=True)
class Case:
    id: str
    values: Doc
    args: list[str]
    rules: Rules
    #: namespaces holding a Role (scoped mode); empty: a ClusterRole
    role_namespaces: tuple[str, ...] = ()
    env: tuple[str, ...] = ()


CASES = [
    Case("default", {}, ["--log-level=info"], base_rules()),
    Case(
        "single-namespace",
        {"reloader": {"watchGlobally": False}},
        ["--log-level=info"],
        base_rules(),
        role_namespaces=(NAMESPACE,),
        env=("KUBERNETES_NAMESPACE",),
    ),
    Case(
        "scoped",
        {"reloader": {"watchGlobally": False, "namespaces": ["a", "b"]}},
        ["--log-level=info", f"--namespaces=a,b,{NAMESPACE}"],
        base_rules(),
        role_namespaces=("a", "b", NAMESPACE),
    ),
    Case(
        "ha",
        {"reloader": {"enableHA": True, "deployment": {"replicas": 2}}},
        ["--log-level=info", "--enable-ha=true"],
        base_rules(),
        env=("POD_NAME", "POD_NAMESPACE"),
    ),
    Case(
        "pprof",
        {"reloader": {"enablePProf": True, "pprofAddr": "127.0.0.1:6060"}},
        ["--log-level=info", "--enable-pprof=true", "--pprof-addr=127.0.0.1:6060"],
        base_rules(),
    ),
    Case(
        "ignore-secrets",
        {"reloader": {"ignoreSecrets": True}},
        ["--log-level=info", "--resources-to-ignore=secrets"],
        base_rules(core__secrets=None),
    ),
    Case(
        "ignore-configmaps",
        {"reloader": {"ignoreConfigMaps": True}},
        ["--log-level=info", "--resources-to-ignore=configmaps"],
        base_rules(core__configmaps=None),
    ),
    Case(
        "ignore-jobs-and-cronjobs",
        {"reloader": {"ignoreJobs": True, "ignoreCronJobs": True}},
        ["--log-level=info", "--ignored-workload-types=jobs,cronjobs"],
        base_rules(batch__jobs=None, batch__cronjobs=None),
    ),
    Case(
        "ignore-jobs",  # CronJob reloads still create Jobs
        {"reloader": {"ignoreJobs": True}},
        ["--log-level=info", "--ignored-workload-types=jobs"],
        base_rules(batch__jobs={"create"}),
    ),
    Case(
        "ignore-cronjobs",
        {"reloader": {"ignoreCronJobs": True}},
        ["--log-level=info", "--ignored-workload-types=cronjobs"],
        base_rules(batch__cronjobs=None),
    ),
    Case(
        "image-pull-credentials",
        {"reloader": {"imagePullCredentials": True}},
        ["--log-level=info"],
        base_rules(core__secrets={"list", "watch", "get"}, core__serviceaccounts={"get"}),
    ),
    Case(
        "argo-rollouts",
        {"reloader": {"isArgoRollouts": True}},
        ["--log-level=info", "--is-Argo-Rollouts=true"],
        base_rules(argoproj_io__rollouts={"list", "watch", "get", "patch", "update"}),
    ),
    Case(
        "csi",
        {"reloader": {"enableCSIIntegration": True}},
        ["--log-level=info", "--enable-csi-integration=true"],
        {
            **base_rules(),
            ("secrets-store.csi.x-k8s.io", "secretproviderclasspodstatuses"): {"list", "watch"},
        },
    ),
    Case(
        "hooks",  # jobs already has get and create unless ignoreJobs: see hooks-ignore-jobs
        {"reloader": {"enableHooks": True}},
        ["--log-level=info"],
        {**base_rules(), ("", "pods/exec"): {"get", "create"}},
    ),
    Case(
        "hooks-ignore-jobs-and-cronjobs",
        {"reloader": {"enableHooks": True, "ignoreJobs": True, "ignoreCronJobs": True}},
        ["--log-level=info", "--ignored-workload-types=jobs,cronjobs"],
        {
            **base_rules(batch__jobs={"get", "create"}, batch__cronjobs={"get"}),
            ("", "pods/exec"): {"get", "create"},
        },
    ),
    Case(
        "namespace-selector",
        {"reloader": {"namespaceSelector": "env=test,team:web"}},
        ["--log-level=info", "--namespace-selector=env=test,team:web"],
        base_rules(core__namespaces={"list", "watch"}),
    ),
    Case(
        "scoped-ignores-global-only-values",
        {
            "reloader": {
                "watchGlobally": False,
                "namespaces": ["a"],
                "namespaceSelector": "env=test",
                "ignoreNamespaces": "kube-system",
            }
        },
        ["--log-level=info", f"--namespaces=a,{NAMESPACE}"],
        base_rules(),
        role_namespaces=("a", NAMESPACE),
    ),
    Case(
        "annotations-strategy",
        {"reloader": {"reloadStrategy": "annotations"}},
        ["--log-level=info", "--reload-strategy=annotations"],
        base_rules(),
    ),
    Case(
        "env-vars-strategy",
        {"reloader": {"reloadStrategy": "env-vars"}},
        ["--log-level=info", "--reload-strategy=env-vars"],
        base_rules(),
    ),
    Case(
        "all-flags",
        {
            "reloader": {
                "autoReloadAll": True,
                "reloadOnCreate": True,
                "reloadOnDelete": True,
                "syncAfterRestart": True,
                "ignoreNamespaces": ["kube-system", "kube-public"],
                "resourceLabelSelector": "reload=true",
                "logFormat": "json",
                "logLevel": "debug",
                "enableMetricsByNamespace": True,
                "custom_annotations": {"ignore": "x.io/ignore", "pausePeriod": "x.io/pause"},
                "extraArgs": ["--reload-debounce=1s", "--max-rollouts-in-progress=5"],
            }
        },
        [
            "--log-format=json",
            "--log-level=debug",
            "--namespaces-to-ignore=kube-system,kube-public",
            "--resource-label-selector=reload=true",
            "--ignore-annotation=x.io/ignore",
            "--pause-deployment-annotation=x.io/pause",
            "--reload-on-create=true",
            "--reload-on-delete=true",
            "--sync-after-restart=true",
            "--auto-reload-all=true",
            "--reload-debounce=1s",
            "--max-rollouts-in-progress=5",
        ],
        base_rules(),
        env=("METRICS_COUNT_BY_NAMESPACE",),
    ),
    Case(
        "stakater-values-file",
        # stakater's defaults, plus custom annotations and a webhook URL
        stakater_values(
            reloadOnCreate=True,
            ignoreNamespaces="kube-system,kube-public",
            logFormat="json",
            custom_annotations={
                "configmap": "my.company.com/configmap",
                "secret": "my.company.com/secret",
                "auto": "my.company.com/auto",
                "search": "my.company.com/search",
                "match": "my.company.com/match",
            },
            webhookUrl="https://hooks.example.com/reloader",
        ),
        [
            "--log-format=json",
            "--log-level=info",
            "--namespaces-to-ignore=kube-system,kube-public",
            "--auto-annotation=my.company.com/auto",
            "--configmap-annotation=my.company.com/configmap",
            "--search-match-annotation=my.company.com/match",
            "--auto-search-annotation=my.company.com/search",
            "--secret-annotation=my.company.com/secret",
            "--webhook-url=https://hooks.example.com/reloader",
            "--reload-on-create=true",
        ],
        base_rules(),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_values_render_the_expected_args_env_and_rbac(chart: Helm, case: Case) -> None:
    chart.lint(case.values)
    docs = chart.template(case.values)

    assert args_of(docs) == case.args
    settings = settings_for(docs)  # the binary's own parser accepts every flag and value
    controller_env = {"KUBERNETES_NAMESPACE", "POD_NAME", "POD_NAMESPACE"}
    controller_env |= {"METRICS_COUNT_BY_NAMESPACE"}
    assert set(env_of(docs)) & controller_env == set(case.env)

    assert_no_wildcards(docs)
    if case.role_namespaces:
        assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
        roles = [
            d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "rel-reloader-role"
        ]
        assert sorted(r["metadata"]["namespace"] for r in roles) == sorted(case.role_namespaces)
        for role in roles:
            assert rules_of(role) == case.rules, role["metadata"]["namespace"]
            binding = find(
                docs, "RoleBinding", f"{FULLNAME}-role-binding", role["metadata"]["namespace"]
            )
            assert binding["roleRef"] == {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": f"{FULLNAME}-role",
            }
            assert binding["subjects"] == [
                {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
            ]
        assert set(settings.scope.namespaces) == set(case.role_namespaces)
    else:
        assert rules_of(find(docs, "ClusterRole", f"{FULLNAME}-role")) == case.rules
        binding = find(docs, "ClusterRoleBinding", f"{FULLNAME}-role-binding")
        assert binding["roleRef"]["name"] == f"{FULLNAME}-role"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
        ]
        assert settings.scope.namespaces == ()
    assert [d for d in docs if d["kind"] == "Role" and "leader" in d["metadata"]["name"]] == (
        [find(docs, "Role", f"{FULLNAME}-leader-election")] if settings.leader.enabled else []
    )


def test_ha_renders_replicas_downward_api_lease_rbac_and_spread(chart: Helm) -> None:
    docs = chart.template({"reloader": {"enableHA": True, "deployment": {"replicas": 3}}})
    dep = find(docs, "Deployment", FULLNAME)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    env = env_of(docs)
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    settings = settings_for(docs)
    assert settings.leader.enabled
    assert settings.leader.namespace == NAMESPACE
    assert settings.leader.lease_name == "stakater-reloader-lock"

    lease_role = find(docs, "Role", f"{FULLNAME}-leader-election", NAMESPACE)
    assert lease_role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [settings.leader.lease_name],
            "verbs": ["get", "update"],
        },
    ]
    binding = find(docs, "RoleBinding", f"{FULLNAME}-leader-election", NAMESPACE)
    assert binding["roleRef"]["name"] == f"{FULLNAME}-leader-election"
    assert binding["subjects"][0]["name"] == FULLNAME

    affinity = dep["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_without_ha_one_replica_never_overlaps_another(chart: Helm) -> None:
    dep = find(chart.template(), "Deployment", FULLNAME)
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert "affinity" not in dep["spec"]["template"]["spec"]


def test_pod_passes_pod_security_restricted_with_resources_and_probes(chart: Helm) -> None:
    docs = chart.template()
    dep = find(docs, "Deployment", FULLNAME)
    pod = dep["spec"]["template"]["spec"]
    c = container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    assert not pod.get("hostNetwork")
    assert not pod.get("hostPID")
    assert {"name": "tmp-volume", "mountPath": "/tmp"} in c["volumeMounts"]
    assert any(v["name"] == "tmp-volume" and "emptyDir" in v for v in pod["volumes"])

    assert c["resources"] == {
        "requests": {"cpu": "10m", "memory": "96Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert c["ports"] == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["image"] == "ghcr.io/reloader/reloader:0.1.0"
    assert pod["serviceAccountName"] == FULLNAME
    # the selector is stakater's, so `helm upgrade` of a Reloader release keeps the Deployment
    assert dep["spec"]["selector"]["matchLabels"] == {"app": FULLNAME, "release": RELEASE}


def test_probes_resources_and_security_are_overridable(chart: Helm) -> None:
    docs = chart.template(
        {
            "reloader": {
                "deployment": {
                    "livenessProbe": {"periodSeconds": 30},
                    "resources": {"limits": {"memory": "1Gi", "cpu": "1"}},
                    "securityContext": {"runAsUser": 1000},
                }
            },
            "image": {"repository": "registry.local/reloader", "tag": "dev"},
        }
    )
    c = container(docs)
    assert c["livenessProbe"]["periodSeconds"] == 30
    assert c["livenessProbe"]["httpGet"]["path"] == "/live"
    assert c["resources"]["limits"] == {"memory": "1Gi", "cpu": "1"}
    assert c["resources"]["requests"] == {"cpu": "10m", "memory": "96Mi"}
    pod = find(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["image"] == "registry.local/reloader:dev"


def test_alert_env_from_values_secret_existing_and_field(chart: Helm) -> None:
    docs = chart.template(
        {
            "reloader": {
                "deployment": {
                    "env": {
                        "open": {"ALERT_ON_RELOAD": True, "ALERT_SINK": "slack", "EMPTY": ""},
                        "secret": {"ALERT_WEBHOOK_URL": "https://hooks.example.com/x"},
                        "existing": {"alert-secret": {"ALERT_ADDITIONAL_INFO": "info-key"}},
                        "field": {"NODE": "spec.nodeName"},
                    }
                }
            }
        }
    )
    env = env_of(docs)
    assert env["ALERT_ON_RELOAD"] == "true"
    assert env["ALERT_SINK"] == "slack"
    assert "EMPTY" not in env
    assert env["ALERT_WEBHOOK_URL"] == {
        "secretKeyRef": {"name": FULLNAME, "key": "ALERT_WEBHOOK_URL"}
    }
    assert env["ALERT_ADDITIONAL_INFO"] == {
        "secretKeyRef": {"name": "alert-secret", "key": "info-key"}
    }
    assert env["NODE"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    secret = find(docs, "Secret", FULLNAME, NAMESPACE)
    assert secret["data"] == {"ALERT_WEBHOOK_URL": "aHR0cHM6Ly9ob29rcy5leGFtcGxlLmNvbS94"}
    pod_annotations = find(docs, "Deployment", FULLNAME)["spec"]["template"]["metadata"]
    assert "checksum/secret" in pod_annotations["annotations"]


def test_webhook_url_alone_is_passed_to_the_controller(chart: Helm) -> None:
    """Reloader's chart renders --webhook-url only inside custom_annotations."""
    docs = chart.template({"reloader": {"webhookUrl": "http://receiver:8080/hook"}})
    assert "--webhook-url=http://receiver:8080/hook" in args_of(docs)
    assert settings_for(docs).reload.webhook_url == "http://receiver:8080/hook"


#: reloader's own flags (not Reloader's): value → (a value to set, the flag it renders)
OWN_FLAGS: dict[str, tuple[Any, str]] = {
    "reloadDebounce": ("1500ms", "--reload-debounce=1500ms"),
    "workers": (32, "--workers=32"),
    "maxRolloutsInProgress": (100000000, "--max-rollouts-in-progress=100000000"),
    "maxRolloutsPerNamespace": (3, "--max-rollouts-per-namespace=3"),
    "rolloutTimeout": ("15m", "--rollout-timeout=15m"),
    "flappingMaxWait": ("2m30s", "--flapping-max-wait=2m30s"),
    "canarySize": ("10%", "--canary-size=10%"),
    "healthTimeout": ("3m", "--health-timeout=3m"),
    "reloadWindow": ("Mon-Fri 09:00-17:00", "--reload-window=Mon-Fri 09:00-17:00"),
    "reloadWindowTimezone": ("Europe/Berlin", "--reload-window-timezone=Europe/Berlin"),
    "maxWritesPerSecond": (12.5, "--max-writes-per-second=12.5"),
    "scheduleDeadline": ("30m", "--schedule-deadline=30m"),
    "scheduleMaxConcurrent": (4, "--schedule-max-concurrent=4"),
    "scheduleJitter": ("10m", "--schedule-jitter=10m"),
    "imagePollInterval": ("10m", "--image-poll-interval=10m"),
    "imagePollIntervalMin": ("30s", "--image-poll-interval-min=30s"),
    "imagePlainHttpRegistries": ("r.local:5000", "--image-plain-http-registries=r.local:5000"),
    "leaderElectionLeaseDuration": ("30s", "--leader-election-lease-duration=30s"),
    "leaderElectionRenewDeadline": ("12s", "--leader-election-renew-deadline=12s"),
    "leaderElectionRetryPeriod": ("5s", "--leader-election-retry-period=5s"),
}


def test_own_flags_are_not_passed_by_default_nor_when_empty(chart: Helm) -> None:
    """Unset, "" or null: no flag, so the controller's own default applies."""
    own = {flag.partition("=")[0] for _, flag in OWN_FLAGS.values()}
    for values in (None, {"reloader": dict.fromkeys(OWN_FLAGS, "")}):
        assert {a.partition("=")[0] for a in args_of(chart.template(values))} & own == set()
    nulls = {"reloader": dict.fromkeys(OWN_FLAGS)}
    assert args_of(chart.template(nulls)) == ["--log-level=info"]
    assert settings_for(chart.template(nulls)) == settings_for(chart.template())


@pytest.mark.parametrize("key", list(OWN_FLAGS))
def test_each_own_flag_value_renders_exactly_its_flag(chart: Helm, key: str) -> None:
    value, flag = OWN_FLAGS[key]
    docs = chart.template({"reloader": {key: value}})
    assert args_of(docs) == ["--log-level=info", flag]
    settings_for(docs)  # the controller accepts it, with the defaults of the other flags


def test_all_own_flags_are_accepted_by_the_controller(chart: Helm) -> None:
    values = {"reloader": {key: value for key, (value, _) in OWN_FLAGS.items()}}
    chart.lint(values)
    docs = chart.template(values)
    assert args_of(docs)[1:] == [OWN_FLAGS[key][1] for key in sorted(OWN_FLAGS)]  # by value name
    settings = settings_for(docs)  # no ConfigError
    assert settings.reload.debounce_seconds == 1.5
    assert settings.reload.workers == 32
    assert settings.safety.max_rollouts == 100000000  # no exponent (JSON numbers are floats)
    assert settings.safety.max_rollouts_per_namespace == 3
    assert settings.safety.rollout_timeout == 900.0
    assert settings.safety.flap_max_wait == 150.0
    assert settings.safety.window == "Mon-Fri 09:00-17:00"
    assert settings.safety.window_timezone == "Europe/Berlin"
    assert settings.safety.writes_per_second == 12.5
    assert settings.schedule.deadline_seconds == 1800.0
    assert settings.schedule.max_concurrent == 4
    assert settings.schedule.jitter_seconds == 600
    assert settings.leader.lease_duration == 30.0
    assert settings.leader.renew_deadline == 12.0
    assert settings.leader.retry_period == 5.0


def test_own_flags_take_zero_strings_and_set_values(chart: Helm) -> None:
    """0 is a value (a limit turned off), not "unset"; --set gives int64, --set-string strings."""
    docs = chart.template(
        {"reloader": {"maxRolloutsInProgress": 0, "reloadDebounce": 0, "scheduleJitter": "0s"}}
    )
    assert args_of(docs)[1:] == [
        "--max-rollouts-in-progress=0",
        "--reload-debounce=0",
        "--schedule-jitter=0s",
    ]
    settings = settings_for(docs)
    assert (settings.safety.max_rollouts, settings.reload.debounce_seconds) == (0, 0.0)
    out = chart.run(
        "template", RELEASE, str(CHART), "-n", NAMESPACE,
        "--set", "reloader.workers=100000000",
        "--set-string", "reloader.maxWritesPerSecond=.5,reloader.scheduleMaxConcurrent=2",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert args_of(docs)[1:] == [
        "--max-writes-per-second=.5",
        "--schedule-max-concurrent=2",
        "--workers=100000000",
    ]
    assert settings_for(docs).safety.writes_per_second == 0.5


def test_dry_run_renders_its_flags(chart: Helm) -> None:
    assert not [a for a in args_of(chart.template()) if a.startswith("--dry-run")]
    docs = chart.template({"reloader": {"dryRun": True}})
    assert "--dry-run=true" in args_of(docs)
    assert settings_for(docs).dry_run
    docs = chart.template({"reloader": {"dryRun": True, "dryRunEvents": True}})
    assert settings_for(docs).dry_run_events
    message = "reloader.dryRunEvents needs reloader.dryRun: true"
    assert message in chart.fails({"reloader": {"dryRunEvents": True}})
    assert "got string, want boolean" in chart.fails({"reloader": {"dryRun": "yes"}})


def test_rbac_and_service_account_can_be_left_to_the_user(chart: Helm) -> None:
    docs = chart.template(
        {"reloader": {"rbac": {"enabled": False}, "serviceAccount": {"create": False, "name": "x"}}}
    )
    assert kinds(docs) == ["Deployment"]
    assert find(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "x"


def test_job_journal_env_and_role_in_the_release_namespace(chart: Helm) -> None:
    docs = chart.template()
    assert env_of(docs)["RELOADER_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert settings_for(docs).job_journal_namespace == NAMESPACE
    role = find(docs, "Role", f"{FULLNAME}-pending-jobs", NAMESPACE)
    assert rules_of(role) == {
        ("", "secrets"): {"create", "list", "delete"},
        ("", "configmaps"): {"list", "delete"},  # earlier versions' entries, moved to Secrets
    }
    binding = find(docs, "RoleBinding", f"{FULLNAME}-pending-jobs", NAMESPACE)
    assert binding["roleRef"]["name"] == f"{FULLNAME}-pending-jobs"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    ]
    # no Jobs, no journal to write
    ignored = chart.template({"reloader": {"ignoreJobs": True}})
    assert not [d for d in ignored if d["metadata"]["name"] == f"{FULLNAME}-pending-jobs"]


def test_monitoring_pdb_netpol_and_vpa_toggles(chart: Helm) -> None:
    assert kinds(chart.template()) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    docs = chart.template(
        {
            "reloader": {
                "serviceMonitor": {"enabled": True, "interval": "30s", "labels": {"p": "x"}},
                "podMonitor": {"enabled": True, "namespace": "monitoring"},
                "podDisruptionBudget": {"enabled": True},
                "netpol": {"enabled": True},
                "verticalPodAutoscaler": {"enabled": True},
            }
        }
    )
    selector = {"app": FULLNAME, "release": RELEASE}
    svc = find(docs, "Service", FULLNAME, NAMESPACE)  # made for the ServiceMonitor
    assert svc["spec"]["selector"] == selector
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 9090, "protocol": "TCP", "targetPort": "http"}
    ]
    sm = find(docs, "ServiceMonitor", FULLNAME)
    assert sm["metadata"]["labels"]["p"] == "x"
    assert sm["spec"]["selector"]["matchLabels"] == selector
    assert sm["spec"]["endpoints"][0] == {
        "port": "http",
        "path": "/metrics",
        "honorLabels": True,
        "interval": "30s",
    }
    pm = find(docs, "PodMonitor", FULLNAME, "monitoring")
    assert pm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    pdb = find(docs, "PodDisruptionBudget", FULLNAME)
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
    netpol = find(docs, "NetworkPolicy", FULLNAME)
    assert netpol["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    egress_ports = [p["port"] for rule in netpol["spec"]["egress"] for p in rule["ports"]]
    assert egress_ports == [443, 6443, 53, 53]
    vpa = find(docs, "VerticalPodAutoscaler", FULLNAME)
    assert vpa["spec"]["targetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": FULLNAME,
    }

    docs = chart.template(
        {"reloader": {"podDisruptionBudget": {"enabled": True, "minAvailable": 1}}}
    )
    assert find(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def _known_series() -> set[str]:
    names = set()
    metrics = controller_metrics(CollectorRegistry(), by_namespace=True)
    for family in metrics.registry.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
    return names


def test_grafana_dashboard_configmap_uses_only_exported_metrics(chart: Helm) -> None:
    docs = chart.template({"reloader": {"grafanaDashboard": {"enabled": True}}})
    cm = find(docs, "ConfigMap", f"{FULLNAME}-dashboard", NAMESPACE)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["reloader.json"])
    assert dashboard["uid"] == "reloader-overview"
    exprs = [t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b((?:reloader|rest_client|process)_\w+)", e)}
    assert used - _known_series() == set()
    for wanted in (
        "reloader_reload_executed_total",
        "reloader_reconcile_duration_seconds_bucket",
        "reloader_api_requests_total",
        "process_resident_memory_bytes",
    ):
        assert wanted in used, wanted
    titles = [p["title"] for p in dashboard["panels"]]
    assert len(titles) == len(set(titles))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"reloader": {"ignoreSecrets": True, "ignoreConfigMaps": True}},
            "reloader.ignoreSecrets and reloader.ignoreConfigMaps are both true",
        ),
        (
            {"reloader": {"deployment": {"replicas": 2}}},
            "reloader.deployment.replicas is 2 but reloader.enableHA is false",
        ),
        (
            {"reloader": {"namespaces": ["a"]}},
            "reloader.namespaces is set but reloader.watchGlobally is true",
        ),
        (
            {
                "nodeReboot": {
                    "enabled": True,
                    "rebootMethod": "signal",
                    "configuration": {"rebootSentinelCommand": "test -f /run/reboot"},
                }
            },
            "nodeReboot.configuration.rebootSentinelCommand needs nodeReboot.rebootMethod=command",
        ),
    ],
    ids=[
        "ignore-both",
        "replicas-without-ha",
        "namespaces-without-scoped-mode",
        "signal-with-sentinel-command",
    ],
)
def test_values_that_cannot_work_fail_with_a_clear_message(
    chart: Helm, values: Doc, message: str
) -> None:
    assert message in chart.fails(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"reloader": {"autoReloadAl": True}}, "additional properties 'autoReloadAl' not allowed"),
        ({"relaoder": {}}, "additional properties 'relaoder' not allowed"),
        ({"reloader": {"autoReloadAll": "yes"}}, "got string, want boolean"),
        ({"reloader": {"reloadStrategy": "restart"}}, "value must be one of"),
        ({"reloader": {"custom_annotations": {"confgmap": "x"}}}, "'confgmap' not allowed"),
        ({"reloader": {"deployment": {"replica": 2}}}, "'replica' not allowed"),
        ({"reloader": {"webhookUrl": "hooks.example.com"}}, "/reloader/webhookUrl"),
        ({"reloader": {"deployment": {"replicas": "2"}}}, "got string, want integer"),
        ({"reloader": {"rbac": None}}, "missing property 'rbac'"),
        ({"nodeReboot": {"enabeld": True}}, "additional properties 'enabeld' not allowed"),
        (
            {"nodeReboot": {"configuration": {"blockingPodSelectors": ["app=db"]}}},
            "additional properties 'blockingPodSelectors' not allowed",
        ),
        ({"nodeReboot": {"rebootMethod": "kexec"}}, "value must be one of"),
        ({"nodeReboot": {"configuration": {"lockTtl": "1 hour"}}}, "/nodeReboot/configuration"),
        ({"nodeReboot": {"configuration": {"concurrency": 0}}}, "minimum"),
        ({"nodeReboot": {"configuration": {"annotateNodes": "yes"}}}, "value must be one of"),
        (
            {"nodeReboot": {"configuration": {"preRebootNodeLabels": {"a": "b"}}}},
            "/nodeReboot/configuration/preRebootNodeLabels",
        ),
        # reloader's own flags: what would make the controller exit 2 fails here instead
        ({"reloader": {"maxRolloutsInProgres": 5}}, "'maxRolloutsInProgres' not allowed"),
        ({"reloader": {"workers": True}}, "/reloader/workers': got boolean"),
        ({"reloader": {"workers": 0}}, "minimum: got 0, want 1"),
        ({"reloader": {"workers": "many"}}, "/reloader/workers"),
        ({"reloader": {"maxRolloutsInProgress": -1}}, "minimum: got -1, want 0"),
        ({"reloader": {"maxRolloutsPerNamespace": 2.5}}, "want null or integer or string"),
        ({"reloader": {"scheduleMaxConcurrent": 1234567890}}, "maximum"),
        ({"reloader": {"maxWritesPerSecond": -1}}, "minimum: got -1, want 0"),
        ({"reloader": {"maxWritesPerSecond": "1e3"}}, "/reloader/maxWritesPerSecond"),
        ({"reloader": {"rolloutTimeout": 600}}, "/reloader/rolloutTimeout': got number"),
        ({"reloader": {"rolloutTimeout": "0s"}}, "/reloader/rolloutTimeout"),
        ({"reloader": {"scheduleDeadline": "1 hour"}}, "/reloader/scheduleDeadline"),
        ({"reloader": {"reloadDebounce": "-1s"}}, "/reloader/reloadDebounce"),
        ({"reloader": {"scheduleJitter": 5}}, "maximum: got 5, want 0"),
        ({"reloader": {"leaderElectionRetryPeriod": "0"}}, "/reloader/leaderElectionRetryPeriod"),
        ({"reloader": {"reloadWindow": "Mon-Fri 9-17"}}, "/reloader/reloadWindow"),
        ({"reloader": {"reloadWindow": "Funday 09:00-17:00"}}, "/reloader/reloadWindow"),
        ({"reloader": {"reloadWindow": "09:00-25:00"}}, "/reloader/reloadWindow"),
        ({"reloader": {"reloadWindowTimezone": "../etc/passwd"}}, "/reloader/reloadWindowTimezone"),
    ],
    ids=[
        "typo",
        "top-level-typo",
        "type",
        "enum",
        "annotation-key",
        "deployment-key",
        "url",
        "int",
        "removed-object",
        "node-reboot-key",
        "node-reboot-configuration-key",
        "node-reboot-method",
        "node-reboot-duration",
        "node-reboot-concurrency",
        "node-reboot-annotate-nodes",
        "node-reboot-labels",
        "own-flag-key",
        "workers-type",
        "workers-zero",
        "workers-not-a-number",
        "max-rollouts-negative",
        "max-rollouts-per-namespace-fraction",
        "schedule-max-concurrent-too-large",
        "max-writes-negative",
        "max-writes-exponent",
        "rollout-timeout-number",
        "rollout-timeout-zero",
        "schedule-deadline-syntax",
        "debounce-negative",
        "jitter-number",
        "leader-retry-zero",
        "window-syntax",
        "window-day",
        "window-time",
        "window-timezone",
    ],
)
def test_schema_rejects_typos_and_wrong_types(chart: Helm, values: Doc, message: str) -> None:
    assert message in chart.fails(values)


def _documented_keys(values: Doc, schema: Doc, prefix: str = "") -> Iterator[str]:
    """Dotted keys of values.yaml, down to the objects the schema describes key by key."""
    props = schema.get("properties") or {}
    for key, value in values.items():
        assert key in props, f"{prefix}{key} is in values.yaml but not in values.schema.json"
        yield prefix + key
        if isinstance(value, dict) and "properties" in props[key]:
            yield from _documented_keys(value, props[key], f"{prefix}{key}.")


def test_every_value_is_in_the_schema_and_documented_in_the_readme() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    keys = list(_documented_keys(values, schema))
    assert "reloader.deployment.replicas" in keys
    readme = (CHART / "README.md").read_text()
    assert [k for k in keys if f"`{k}`" not in readme] == []


# ---------------------------------------------------------------------- nodeReboot: the node agent

NODE_REBOOT = f"{FULLNAME}-node-reboot"
#: what `reloader node-agent` calls (reloader/reboot/*.py): its Node (get, merge
#: patch: cordon, uncordon, kured's taint, annotations and labels), pods listed by
#: spec.nodeName (never read by name), evictions, Events on the Node,
#: ReplicaSets/Deployments/StatefulSets read by name (--wait-for-rollouts)
AGENT_CLUSTER_RULES: Rules = {
    ("", "nodes"): {"get", "patch"},
    ("", "pods"): {"list"},
    ("", "pods/eviction"): {"create"},
    ("", "events"): {"create"},
    ("apps", "replicasets"): {"get"},
    ("apps", "deployments"): {"get"},
    ("apps", "statefulsets"): {"get"},
}
#: the lock Leases in --ds-namespace: listed by label, created, replaced (never read by name)
AGENT_LOCK_RULES: Rules = {("coordination.k8s.io", "leases"): {"list", "create", "update"}}
AGENT_ARGS = [
    "node-agent",
    f"--ds-namespace={NAMESPACE}",
    "--reboot-method=command",
    "--reboot-sentinel=/sentinel/reboot-required",
]


def node_reboot(**values: Any) -> Doc:
    return {"nodeReboot": {"enabled": True, **values}}


def agent_pod(docs: list[Doc]) -> Doc:
    ds = find(docs, "DaemonSet", NODE_REBOOT, NAMESPACE)
    return dict(ds["spec"]["template"]["spec"])


def agent_container(docs: list[Doc]) -> Doc:
    containers = agent_pod(docs)["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def agent_settings(docs: list[Doc], node: str = "node-1") -> NodeAgentSettings:
    """What the agent would run with: its own parser on the rendered args (it fails on a flag
    or value it does not accept), KURED_NODE_ID resolved as the downward API would."""
    c = agent_container(docs)
    args = [str(a) for a in c["args"]]
    assert args[0] == "node-agent"
    env = {}
    for var in c.get("env") or []:
        if var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            env[var["name"]] = node
        elif "value" in var:
            env[var["name"]] = str(var["value"])
    return node_agent.settings_from_args(node_agent.build_parser().parse_args(args[1:]), env)


def test_node_reboot_is_off_by_default(chart: Helm) -> None:
    for values in (None, {"nodeReboot": {"enabled": False, "rebootMethod": "signal"}}):
        docs = chart.template(values)
        assert "DaemonSet" not in kinds(docs)
        assert [d for d in docs if "node-reboot" in d["metadata"]["name"]] == []


def test_node_reboot_renders_the_agent_daemonset(chart: Helm) -> None:
    chart.lint(node_reboot())
    docs = chart.template(node_reboot())
    ds = find(docs, "DaemonSet", NODE_REBOOT, NAMESPACE)
    pod = agent_pod(docs)
    c = agent_container(docs)
    assert pod["hostPID"] is True
    assert not pod.get("hostNetwork")
    assert pod["serviceAccountName"] == NODE_REBOOT
    assert c["image"] == "ghcr.io/reloader/reloader:0.1.0"  # the controller's image
    assert "command" not in c  # the image's entrypoint is reloader
    assert c["args"] == AGENT_ARGS
    assert c["env"] == [
        {"name": "KURED_NODE_ID", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    ]
    # the host's /var/run, read-only, holds the sentinel file
    assert {"name": "sentinel", "mountPath": "/sentinel", "readOnly": True} in c["volumeMounts"]
    assert {"name": "sentinel", "hostPath": {"path": "/var/run", "type": "Directory"}} in pod[
        "volumes"
    ]
    assert {"name": "tmp-volume", "mountPath": "/tmp"} in c["volumeMounts"]
    assert c["securityContext"] == {
        "privileged": True,
        "runAsUser": 0,
        "runAsGroup": 0,
        "readOnlyRootFilesystem": True,
    }
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    assert c["resources"] == {
        "requests": {"cpu": "10m", "memory": "64Mi"},
        "limits": {"memory": "128Mi"},
    }
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1},
    }
    assert pod["tolerations"] == [
        {"key": f"node-role.kubernetes.io/{role}", "operator": "Exists", "effect": "NoSchedule"}
        for role in ("control-plane", "master")
    ]
    # its pods are not the controller's: the Deployment's selector (and the PDB, Service,
    # PodMonitor and NetworkPolicy that use it) must not pick them up
    selector = ds["spec"]["selector"]["matchLabels"]
    assert selector == {"app": NODE_REBOOT, "release": RELEASE}
    deployment_selector = find(docs, "Deployment", FULLNAME)["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert not all(labels.get(k) == v for k, v in deployment_selector.items())

    settings = agent_settings(docs)
    assert settings.node == "node-1"
    assert settings.lock.namespace == NAMESPACE  # where the lock Role is
    assert settings.host.method == "command"
    assert settings.host.sentinel_file == "/sentinel/reboot-required"
    assert settings.metrics_port == 8080
    assert settings.period == 3600.0  # nothing set: the agent's defaults
    assert settings.lock.ttl == 1800.0


def test_node_reboot_signal_method_runs_unprivileged_with_cap_kill(chart: Helm) -> None:
    docs = chart.template(node_reboot(rebootMethod="signal"))
    c = agent_container(docs)
    assert c["securityContext"] == {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "runAsUser": 0,
        "runAsGroup": 0,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["KILL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert agent_pod(docs)["hostPID"] is True  # PID 1 is the host's systemd
    assert "--reboot-method=signal" in c["args"]
    assert agent_settings(docs).host.method == "signal"


def test_node_reboot_configuration_becomes_flags_and_unset_values_none(chart: Helm) -> None:
    configuration = {
        "metricsPort": 9100,
        "period": "5m",
        "rebootDays": ["mo", "tu", "we"],
        "startTime": "2am",
        "endTime": "04:30",
        "timeZone": "Europe/Paris",
        "rebootDelay": "30s",
        "concurrency": 2,
        "lockTtl": 0,
        "lockReleaseDelay": "5m",
        "drainTimeout": "10m",
        "drainGracePeriod": 60,
        "drainPodSelector": "app!=cache",
        "blockingPodSelector": ["app=db", "team=x,tier=batch"],
        "prometheusUrl": "http://prometheus.monitoring:9090",
        "alertFilterRegexp": "^Watchdog$",
        "alertFiringOnly": True,
        "alertFilterMatchOnly": False,
        "waitForRollouts": False,
        "preferNoScheduleTaint": "example.com/reboot-pending",
        "annotateNodes": True,
        "preRebootNodeLabels": ["node-state=rebooting", "example.com/drained=true"],
        "postRebootNodeLabels": "node-state=ready",
        "notifyUrl": "slack://hook:A-B-C@webhook",
        "messageTemplateDrain": "Draining %s",
        "rebootCommand": "/usr/bin/systemctl reboot --force",
        "rebootLoopLimit": 5,
        "rebootLoopWindow": "12h",
        "logFormat": "json",
        "logLevel": "debug",
        # unset: no flag, the agent's default
        "messageTemplateReboot": "",
        "messageTemplateUncordon": None,
        "forceReboot": None,
    }
    values = node_reboot(
        configuration=configuration,
        extraArgs=["--drain-delay=1m"],
        extraEnv=[{"name": "TZ", "value": "UTC"}],
    )
    chart.lint(values)
    docs = chart.template(values)
    c = agent_container(docs)
    assert c["args"] == [
        *AGENT_ARGS,
        "--metrics-port=9100",
        "--alert-filter-match-only=false",
        "--alert-filter-regexp=^Watchdog$",
        "--alert-firing-only=true",
        "--annotate-nodes=true",
        "--concurrency=2",
        "--drain-grace-period=60",
        "--drain-pod-selector=app!=cache",
        "--drain-timeout=10m",
        "--end-time=04:30",
        "--lock-release-delay=5m",
        "--lock-ttl=0",
        "--log-format=json",
        "--log-level=debug",
        "--message-template-drain=Draining %s",
        "--period=5m",
        "--prefer-no-schedule-taint=example.com/reboot-pending",
        "--prometheus-url=http://prometheus.monitoring:9090",
        "--reboot-command=/usr/bin/systemctl reboot --force",
        "--reboot-delay=30s",
        "--reboot-loop-limit=5",
        "--reboot-loop-window=12h",
        "--start-time=2am",
        "--time-zone=Europe/Paris",
        "--wait-for-rollouts=false",
        "--reboot-days=mo,tu,we",
        "--blocking-pod-selector=app=db",
        "--blocking-pod-selector=team=x,tier=batch",
        "--post-reboot-node-labels=node-state=ready",
        "--pre-reboot-node-labels=node-state=rebooting",
        "--pre-reboot-node-labels=example.com/drained=true",
        "--notify-url=slack://hook:A-B-C@webhook",
        "--drain-delay=1m",
    ]
    assert c["ports"][0]["containerPort"] == 9100
    assert {"name": "TZ", "value": "UTC"} in c["env"]

    s = agent_settings(docs)  # the agent accepts every flag and value
    assert (s.period, s.reboot_delay, s.loop_limit, s.loop_window) == (300, 30, 5, 43200)
    assert s.window.describe() == agent_window("mo,tu,we", "2am", "04:30", "Europe/Paris")
    assert (s.lock.concurrency, s.lock.ttl, s.lock.release_delay) == (2, 0, 300)
    assert (s.drain.timeout, s.drain.grace_period, s.drain.delay) == (600, 60, 60)
    assert s.drain.pod_selector == "app!=cache"
    assert s.drain.force_reboot is False
    assert s.gates.blocking_pod_selectors == ("app=db", "team=x,tier=batch")
    assert s.gates.prometheus_url == "http://prometheus.monitoring:9090"
    assert s.gates.alert_firing_only is True
    assert s.gates.wait_for_rollouts is False
    assert s.host.reboot_command == ("/usr/bin/systemctl", "reboot", "--force")
    assert len(s.notify.targets) == 1
    assert s.notify.drain == "Draining %s"
    assert s.notify.reboot == "Rebooting node %s"  # unset: the default
    assert s.metrics_port == 9100
    assert (s.log_format, s.log_level) == ("json", "debug")
    assert s.marks.taint == "example.com/reboot-pending"
    assert s.marks.annotate is True
    assert s.marks.pre_labels == (("node-state", "rebooting"), ("example.com/drained", "true"))
    assert s.marks.post_labels == (("node-state", "ready"),)


def agent_window(days: str, start: str, end: str, zone: str) -> str:
    return RebootWindow.parse(days=days.split(","), start=start, end=end, time_zone=zone).describe()


KURED_CONFIGURATION = """
metricsPort: 8080
lockTtl: 0
alertFilterRegexp: ""
alertFiringOnly: false
alertFilterMatchOnly: false
blockingPodSelector: []
endTime: ""
period: ""
forceReboot: false
drainGracePeriod: ""
drainPodSelector: ""
drainTimeout: ""
skipWaitForDeleteTimeout: ""
prometheusUrl: ""
rebootDays: []
rebootSentinel: ""
rebootSentinelCommand: ""
rebootCommand: "/bin/systemctl reboot"
rebootDelay: ""
slackHookUrl: ""
notifyUrl: ""
messageTemplateDrain: ""
messageTemplateReboot: ""
messageTemplateUncordon: ""
startTime: ""
timeZone: ""
annotateNodes: false
preRebootNodeLabels: []
postRebootNodeLabels: []
preferNoScheduleTaint: ""
lockReleaseDelay: 0
logFormat: "text"
concurrency: 1
"""


def test_node_reboot_takes_a_kured_configuration_block(chart: Helm) -> None:
    """kured's chart defaults (configuration.*), less the flags that have no effect here."""
    kured = yaml.safe_load(KURED_CONFIGURATION)
    docs = chart.template(node_reboot(configuration=kured))
    args = agent_container(docs)["args"]
    assert "--reboot-command=/bin/systemctl reboot" in args
    assert "--lock-ttl=0" in args  # kured's default: a lock that never expires
    assert not [a for a in args if a.startswith("--period")]
    assert "--annotate-nodes=false" in args
    assert not [a for a in args if "taint" in a or "node-labels" in a]
    s = agent_settings(docs)
    assert s.lock.ttl == 0
    assert s.lock.concurrency == 1
    assert s.marks == MarkSettings()
    assert s.log_format == "console"  # kured's text


def test_node_reboot_sentinel_path_and_command(chart: Helm) -> None:
    docs = chart.template(node_reboot(sentinel={"hostPath": "/run/updates", "file": "needed"}))
    assert "--reboot-sentinel=/sentinel/needed" in agent_container(docs)["args"]
    assert {"name": "sentinel", "hostPath": {"path": "/run/updates", "type": "Directory"}} in (
        agent_pod(docs)["volumes"]
    )
    # a sentinel command replaces the file: no mount, no --reboot-sentinel
    docs = chart.template(node_reboot(configuration={"rebootSentinelCommand": "test -f /x"}))
    c = agent_container(docs)
    assert c["args"] == [*AGENT_ARGS[:3], "--reboot-sentinel-command=test -f /x"]
    assert [m["name"] for m in c["volumeMounts"]] == ["tmp-volume"]
    assert agent_settings(docs).host.sentinel_command == ("test", "-f", "/x")


def test_node_reboot_rbac_is_exactly_what_the_agent_calls(chart: Helm) -> None:
    docs = chart.template(node_reboot())
    assert_no_wildcards(docs)
    subject = [{"kind": "ServiceAccount", "name": NODE_REBOOT, "namespace": NAMESPACE}]
    assert rules_of(find(docs, "ClusterRole", NODE_REBOOT)) == AGENT_CLUSTER_RULES
    binding = find(docs, "ClusterRoleBinding", NODE_REBOOT)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": NODE_REBOOT,
    }
    assert binding["subjects"] == subject
    role = find(docs, "Role", f"{NODE_REBOOT}-lock", NAMESPACE)
    assert rules_of(role) == AGENT_LOCK_RULES
    binding = find(docs, "RoleBinding", f"{NODE_REBOOT}-lock", NAMESPACE)
    assert binding["roleRef"]["name"] == f"{NODE_REBOOT}-lock"
    assert binding["subjects"] == subject
    sa = find(docs, "ServiceAccount", NODE_REBOOT, NAMESPACE)
    assert sa["metadata"]["labels"]["app.kubernetes.io/component"] == "node-reboot"
    # the controller's RBAC is unchanged
    assert rules_of(find(docs, "ClusterRole", f"{FULLNAME}-role")) == base_rules()

    docs = chart.template(
        node_reboot(
            rbac={"create": False},
            serviceAccount={"create": False, "name": "agent"},
            image={"repository": "registry.local/agent"},
        )
    )
    assert [d["kind"] for d in docs if "node-reboot" in d["metadata"]["name"]] == ["DaemonSet"]
    assert agent_pod(docs)["serviceAccountName"] == "agent"
    assert agent_container(docs)["image"] == "registry.local/agent:0.1.0"


def test_node_reboot_service_monitor(chart: Helm) -> None:
    docs = chart.template(
        node_reboot(serviceMonitor={"enabled": True, "interval": "60s", "labels": {"p": "x"}})
    )
    selector = {"app": NODE_REBOOT, "release": RELEASE}
    svc = find(docs, "Service", NODE_REBOOT, NAMESPACE)
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == selector
    assert svc["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    sm = find(docs, "ServiceMonitor", NODE_REBOOT)
    assert sm["metadata"]["labels"]["p"] == "x"
    assert sm["spec"]["selector"]["matchLabels"] == selector
    assert sm["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "honorLabels": True, "interval": "60s"}
    ]
    assert "ServiceMonitor" not in kinds(chart.template(node_reboot()))
