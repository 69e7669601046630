"""Settings: frozen, grouped, documented; built once from flags and environment
by ``cli/convert.py``.

Every field's default is the behaviour of stakater/Reloader with no flags, unless noted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reloader.core.annotations import AnnotationNames, SourceKind


class Strategy(StrEnum):
    """How a reload changes the pod template (``--reload-strategy``)."""

    #: a ``STAKATER_<NAME>_<KIND>`` env var per source in the target container
    ENV_VARS = "env-vars"
    #: the pod-template annotation ``reloader.stakater.com/last-reloaded-from``
    ANNOTATIONS = "annotations"


class AlertSink(StrEnum):
    """The body an alert is posted as (``ALERT_SINK``)."""

    SLACK = "slack"
    TEAMS = "teams"
    GCHAT = "gchat"
    #: plain text: any other value of ALERT_SINK
    RAW = "raw"


@dataclass(frozen=True, slots=True)
class ReloadSettings:
    """What triggers a reload and how it is written."""

    #: env-vars: a STAKATER_<NAME>_<KIND> env var per source in the target container;
    #: annotations: the pod-template annotation reloader.stakater.com/last-reloaded-from.
    strategy: Strategy = Strategy.ENV_VARS
    #: reload every workload that references a changed source unless it opts out (auto: "false").
    auto_reload_all: bool = False
    #: ConfigMaps or Secrets (--resources-to-ignore=configmaps|secrets): that type is not
    #: watched at all (at most one).
    resources_to_ignore: frozenset[SourceKind] = frozenset()
    #: "jobs", "cronjobs": those workload kinds never reload.
    ignored_workload_types: frozenset[str] = frozenset()
    #: a source created while the controller runs rolls the workloads that use or name it
    #: (default: it is recorded without a rollout).
    reload_on_create: bool = False
    #: a deleted source rolls its workloads: its env var is removed (env-vars) or
    #: last-reloaded-from gets the delete marker hash (annotations), as in Reloader.
    reload_on_delete: bool = False
    #: accepted for compatibility; a level-triggered controller never replays history.
    sync_after_restart: bool = False
    #: seconds to wait after a source change before reconciling its workloads, so that changes
    #: made together (several sources, or one source several times) give one rollout.
    debounce_seconds: float = 0.05
    #: also reload Argo Rollouts (--is-Argo-Rollouts); needs the argoproj.io Rollout CRD.
    argo_rollouts: bool = False
    #: also watch CSI SecretProviderClassPodStatuses (--enable-csi-integration).
    csi: bool = False
    #: webhook mode: POST what changed to this URL instead of rolling workloads.
    webhook_url: str = ""
    #: concurrent reconciles (distinct workloads; one workload is never reconciled twice at once).
    workers: int = 16


@dataclass(frozen=True, slots=True)
class ScopeSettings:
    """Which namespaces and objects are watched."""

    #: scoped mode: watch exactly these namespaces (--namespaces, or KUBERNETES_NAMESPACE).
    namespaces: tuple[str, ...] = ()
    #: global mode only: namespaces whose sources and workloads are ignored.
    namespaces_to_ignore: frozenset[str] = frozenset()
    #: global mode only: a label selector on Namespaces; others are ignored.
    namespace_selector: str = ""
    #: label selector applied server-side to the ConfigMap/Secret watch.
    resource_label_selector: str = ""


@dataclass(frozen=True, slots=True)
class LogSettings:
    #: "json", "console", or "" (JSON when stderr is not a terminal).
    format: str = ""
    level: str = "info"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The HTTP server for /metrics, /live and /ready (Reloader's fixed :9090)."""

    host: str = "0.0.0.0"  # noqa: S104 - a pod's metrics port must be reachable by Prometheus
    port: int = 9090


@dataclass(frozen=True, slots=True)
class KubeSettings:
    #: kubeconfig path; None: $KUBECONFIG, then the in-cluster service account, ~/.kube/config.
    kubeconfig: str | None = None


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """From Reloader's environment variables (docs/flags.md#alerts)."""

    enabled: bool = False  # ALERT_ON_RELOAD=true
    url: str = ""  # ALERT_WEBHOOK_URL
    sink: AlertSink = AlertSink.RAW  # ALERT_SINK: slack, teams, gchat, anything else = raw text
    proxy: str = ""  # ALERT_WEBHOOK_PROXY
    additional_info: str = ""  # ALERT_ADDITIONAL_INFO, prefixed to the message

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AlertSettings:
        return cls(
            enabled=env.get("ALERT_ON_RELOAD") == "true",
            url=env.get("ALERT_WEBHOOK_URL", "").strip(),
            sink=_alert_sink(env.get("ALERT_SINK", "")),
            proxy=env.get("ALERT_WEBHOOK_PROXY", "").strip(),
            additional_info=env.get("ALERT_ADDITIONAL_INFO", ""),
        )


def _alert_sink(value: str) -> AlertSink:
    try:
        return AlertSink(value.strip().lower())
    except ValueError:
        return AlertSink.RAW


@dataclass(frozen=True, slots=True)
class SafetySettings:
    """Holding reloads back so a shared source cannot roll the whole cluster at once.

    Defaults protect a cluster without surprising a Reloader user: at most 20 rollouts in progress
    at once (the rest wait in order), no per-namespace limit, a newer change waits at most a
    minute for a rollout still in progress, no window, 50 writes per second.
    """

    #: rollouts in progress at once, cluster-wide (0: no limit)
    max_rollouts: int = 20
    #: rollouts in progress at once per namespace (0: no limit)
    max_rollouts_per_namespace: int = 0
    #: a rollout that has not completed after this long no longer counts (a stuck one)
    rollout_timeout: float = 600.0
    #: a workload still rolling out is not rolled again for a newer change for up to this long
    #: (short by default: a fix for a broken rollout should not wait long)
    flap_max_wait: float = 60.0
    #: health-gated waves (docs/waves.md): a change shared by several workloads rolls this many
    #: first (``N``, or ``P%`` of them; ``0``: no waves), then doubling waves once they are healthy
    canary_size: str = "1"
    #: seconds a rolled workload has to become complete and healthy; 0: 5 minutes, at most 80 %
    #: of a Deployment's progressDeadlineSeconds
    health_timeout: float = 0.0
    #: global reload window (``Mon-Fri 09:00-17:00``), empty: always; a workload's annotation wins
    window: str = ""
    window_timezone: str = "UTC"
    #: writes to the API per second (token bucket), 0: no limit
    writes_per_second: float = 50.0
    write_burst: int = 100


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """Scheduled restarts (``reloader.stakater.com/restart-schedule``, docs/schedules.md)."""

    #: a due slot later than this is skipped, not restarted (a CronJob's startingDeadlineSeconds);
    #: a workload's ``reloader.stakater.com/restart-deadline`` wins
    deadline_seconds: float = 3600.0
    #: scheduled restarts rolling out at once, cluster-wide (0: no limit); the next one waits
    #: until a rollout completes
    max_concurrent: int = 0
    #: each workload restarts a fixed 0..this many seconds after each slot (a hash of
    #: namespace/name), so workloads sharing a schedule do not all restart at once
    jitter_seconds: int = 0


@dataclass(frozen=True, slots=True)
class ImageSettings:
    """Restarts when a watched tag moves (``reloader.stakater.com/image-watch``, docs/images.md)."""

    #: how often a watched tag is looked up, unless a workload's annotation says otherwise
    interval: float = 300.0
    #: no workload's tags are looked up more often than this
    min_interval: float = 60.0
    #: registry hosts spoken to over plain HTTP (loopback ones always are)
    plain_http: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    """High availability (--enable-ha): a coordination.k8s.io Lease elects one active replica."""

    enabled: bool = False
    #: Reloader's lock name, so a mixed rollout never has two active controllers
    lease_name: str = "stakater-reloader-lock"
    namespace: str = ""  # POD_NAMESPACE
    identity: str = ""  # POD_NAME
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True, slots=True)
class Settings:
    reload: ReloadSettings = field(default_factory=ReloadSettings)
    scope: ScopeSettings = field(default_factory=ScopeSettings)
    names: AnnotationNames = field(default_factory=AnnotationNames)
    log: LogSettings = field(default_factory=LogSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    #: --enable-pprof: where the debug endpoints listen (None: not served)
    pprof: HttpSettings | None = None
    kube: KubeSettings = field(default_factory=KubeSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    #: METRICS_COUNT_BY_NAMESPACE=enabled adds reloader_reload_executed_total_by_namespace.
    metrics_by_namespace: bool = False
    #: where Jobs deleted for a recreate are journaled until created again (RELOADER_NAMESPACE,
    #: else POD_NAMESPACE; "": in memory only)
    job_journal_namespace: str = ""
    #: --dry-run: decide and log every write, send none (workloads/dry_run.py)
    dry_run: bool = False
    #: --dry-run-events: a dry run posts its Events, reasons prefixed DryRun
    dry_run_events: bool = False
