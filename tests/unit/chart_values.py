"""Values files written for stakater's chart, for the chart tests (written here, not copied)."""

from __future__ import annotations

from typing import Any

import yaml

Doc = dict[str, Any]

#: every key of the default values of stakater's chart 2.2.16 (Reloader v1.4.22), with the
#: defaults it ships (the image stays stakater's here: only the layout is under test)
STAKATER_2_2_16 = """
global:
  imageRegistry: ""
  imagePullSecrets: []
kubernetes:
  host: https://kubernetes.default
nameOverride: ""
fullnameOverride: ""
image:
  name: stakater/reloader
  repository: ghcr.io/stakater/reloader
  tag: v1.4.21
  pullPolicy: IfNotPresent
reloader:
  autoReloadAll: false
  isArgoRollouts: false
  isOpenshift: false
  ignoreSecrets: false
  ignoreConfigMaps: false
  ignoreJobs: false
  ignoreCronJobs: false
  reloadOnCreate: false
  reloadOnDelete: false
  syncAfterRestart: false
  reloadStrategy: default
  ignoreNamespaces: ""
  namespaceSelector: ""
  resourceLabelSelector: ""
  logFormat: ""
  logLevel: info
  watchGlobally: true
  namespaces: []
  enableHA: false
  leaderElection: {leaseDuration: "", renewDeadline: "", retryPeriod: ""}
  enablePProf: false
  enableCSIIntegration: false
  pprofAddr: ":6060"
  readOnlyRootFileSystem: false
  legacy: {rbac: false}
  matchLabels: {}
  enableMetricsByNamespace: false
  deployment:
    dnsConfig: {}
    replicas: 1
    revisionHistoryLimit: 2
    hostUsers: null
    nodeSelector: null
    affinity: {}
    volumeMounts: []
    volumes: []
    securityContext:
      runAsNonRoot: true
      runAsUser: 65534
      seccompProfile: {type: RuntimeDefault}
    containerSecurityContext: {}
    tolerations: []
    topologySpreadConstraints: []
    annotations: {}
    labels: {provider: stakater, group: com.stakater.platform, version: v1.4.21}
    env: {open: null, secret: null, field: null, existing: null}
    livenessProbe: {}
    readinessProbe: {}
    resources: {}
    pod: {annotations: {}}
    priorityClassName: ""
    runtimeClassName: ""
    schedulerName: ""
    gomaxprocsOverride: ""
    gomemlimitOverride: ""
  service: {}
  rbac: {enabled: true, labels: {}}
  serviceAccount: {create: true, labels: {}, annotations: {}, name: null}
  custom_annotations: {}
  serviceMonitor:
    enabled: false
    labels: {}
    annotations: {}
    honorLabels: true
    metricRelabelings: []
    relabelings: []
    targetLabels: []
  podMonitor:
    enabled: false
    labels: {}
    annotations: {}
    honorLabels: true
    metricRelabelings: []
    relabelings: []
    podTargetLabels: []
  podDisruptionBudget: {enabled: false}
  netpol: {enabled: false, from: [], to: []}
  verticalPodAutoscaler:
    enabled: false
    controlledResources: []
    maxAllowed: {}
    minAllowed: {}
    updatePolicy: {updateMode: Auto}
  webhookUrl: ""
"""

#: the keys stakater's chart 2.2.16 added over the versions this chart took in first
NEW_POD_FIELDS = ("runtimeClassName", "schedulerName", "hostUsers")


def stakater_values(**reloader: Any) -> Doc:
    """stakater's 2.2.16 defaults, with ``reloader`` merged in (one level into ``deployment``)."""
    values: Doc = yaml.safe_load(STAKATER_2_2_16)
    for key, value in reloader.items():
        if key == "deployment":
            values["reloader"]["deployment"].update(value)
        else:
            values["reloader"][key] = value
    return values
