{{/* vim: set filetype=mustache: */}}

{{/* The chart name, as in stakater's chart ("reloader-name"). */}}
{{- define "reloader-name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" | lower -}}
{{- end -}}

{{/*
The full name: <release>-reloader, as in stakater's chart, so that `helm upgrade` of a Reloader
release keeps its object names and its (immutable) Deployment selector.
*/}}
{{- define "reloader-fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The namespace of the chart's own objects (stakater's top-level `namespace` value). */}}
{{- define "reloader.namespace" -}}
{{- .Values.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* Selector labels: stakater's (app, release), so an upgrade from Reloader's chart works. */}}
{{- define "reloader.selectorLabels" -}}
app: {{ include "reloader-fullname" . }}
release: {{ .Release.Name | quote }}
{{- with .Values.reloader.matchLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "reloader.labels" -}}
{{ include "reloader.selectorLabels" . }}
chart: "{{ .Chart.Name }}-{{ .Chart.Version }}"
heritage: {{ .Release.Service | quote }}
app.kubernetes.io/name: {{ include "reloader-name" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}

{{- define "reloader-serviceAccountName" -}}
{{- if .Values.reloader.serviceAccount.create -}}
{{- default (include "reloader-fullname" .) .Values.reloader.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.reloader.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The container image: repository[:tag][@digest], or <global.imageRegistry>/<image.name>. */}}
{{- define "reloader.image" -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.global.imageRegistry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .Values.global.imageRegistry) .Values.image.name -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/* A comma-separated value that may also be given as a list. */}}
{{- define "reloader.csv" -}}
{{- if kindIs "slice" . -}}
{{- join "," . -}}
{{- else -}}
{{- . | default "" | toString -}}
{{- end -}}
{{- end -}}

{{/*
Scoped mode: the namespaces watched (reloader.namespaces plus the release namespace, in order,
without duplicates), as a JSON list. Empty in global mode.
*/}}
{{- define "reloader.watchedNamespaces" -}}
{{- $out := list -}}
{{- if not .Values.reloader.watchGlobally -}}
{{- range .Values.reloader.namespaces -}}
{{- $out = append $out . -}}
{{- end -}}
{{- $out = append $out (include "reloader.namespace" .) | uniq -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
Refuse values that cannot work, with a message that says what to change. Reloader's chart
renders some of these and the binary then fails at runtime.
*/}}
{{- define "reloader.validate" -}}
{{- $r := .Values.reloader -}}
{{- if and $r.ignoreSecrets $r.ignoreConfigMaps -}}
{{- fail "reloader.ignoreSecrets and reloader.ignoreConfigMaps are both true: reloader would watch nothing. Set at most one of them." -}}
{{- end -}}
{{- if and (gt (int $r.deployment.replicas) 1) (not $r.enableHA) -}}
{{- fail (printf "reloader.deployment.replicas is %d but reloader.enableHA is false: replicas without leader election would all reload the same workloads. Set reloader.enableHA=true (leader election on the Lease stakater-reloader-lock) or reloader.deployment.replicas=1." (int $r.deployment.replicas)) -}}
{{- end -}}
{{- range $key := list "leaseDuration" "renewDeadline" "retryPeriod" -}}
{{- $nested := get ($r.leaderElection | default dict) $key -}}
{{- $flat := get $r (printf "leaderElection%s" (title $key)) -}}
{{- if and $nested $flat -}}
{{- fail (printf "reloader.leaderElection.%s and reloader.leaderElection%s are both set: they are the same flag, --leader-election-%s. Keep one of them." $key (title $key) (kebabcase $key)) -}}
{{- end -}}
{{- end -}}
{{- if hasKey ($r.deployment | default dict) "image" -}}
{{- fail "reloader.deployment.image is the image layout of stakater's charts 1.0.x. This chart (like stakater's charts since then) takes the image from the top-level image.repository, image.tag or image.digest, and image.pullPolicy, and it must be reloader's image, not stakater/reloader: remove reloader.deployment.image and set image.repository to where you pushed reloader's image (docs/migration.md)." -}}
{{- end -}}
{{- if and $r.watchGlobally $r.namespaces -}}
{{- fail "reloader.namespaces is set but reloader.watchGlobally is true: set reloader.watchGlobally=false to watch only the listed namespaces (the release namespace is added)." -}}
{{- end -}}
{{- end -}}

{{/* Whether the namespace selector / ignore list apply (global mode only). */}}
{{- define "reloader.namespaceSelector" -}}
{{- if .Values.reloader.watchGlobally -}}
{{- include "reloader.csv" .Values.reloader.namespaceSelector -}}
{{- end -}}
{{- end -}}

{{- define "reloader.ignoreNamespaces" -}}
{{- if .Values.reloader.watchGlobally -}}
{{- include "reloader.csv" .Values.reloader.ignoreNamespaces -}}
{{- end -}}
{{- end -}}

{{/*
The controller's flags, one "--flag=value" per item, only those whose value is not the default.
Only flags that `reloader --help` lists are rendered.
*/}}
{{- define "reloader.args" -}}
{{- $r := .Values.reloader -}}
{{- $args := list -}}
{{- if $r.logFormat -}}{{- $args = append $args (printf "--log-format=%s" $r.logFormat) -}}{{- end -}}
{{- if $r.logLevel -}}{{- $args = append $args (printf "--log-level=%s" $r.logLevel) -}}{{- end -}}
{{- if $r.ignoreSecrets -}}{{- $args = append $args "--resources-to-ignore=secrets" -}}{{- end -}}
{{- if $r.ignoreConfigMaps -}}{{- $args = append $args "--resources-to-ignore=configmaps" -}}{{- end -}}
{{- $types := list -}}
{{- if $r.ignoreJobs -}}{{- $types = append $types "jobs" -}}{{- end -}}
{{- if $r.ignoreCronJobs -}}{{- $types = append $types "cronjobs" -}}{{- end -}}
{{- if $types -}}{{- $args = append $args (printf "--ignored-workload-types=%s" (join "," $types)) -}}{{- end -}}
{{- $watched := include "reloader.watchedNamespaces" . | fromJsonArray -}}
{{- if $r.namespaces -}}
{{- $args = append $args (printf "--namespaces=%s" (join "," $watched)) -}}
{{- end -}}
{{- $ignore := include "reloader.ignoreNamespaces" . -}}
{{- if $ignore -}}{{- $args = append $args (printf "--namespaces-to-ignore=%s" $ignore) -}}{{- end -}}
{{- $nsSelector := include "reloader.namespaceSelector" . -}}
{{- if $nsSelector -}}{{- $args = append $args (printf "--namespace-selector=%s" $nsSelector) -}}{{- end -}}
{{- $resSelector := include "reloader.csv" $r.resourceLabelSelector -}}
{{- if $resSelector -}}{{- $args = append $args (printf "--resource-label-selector=%s" $resSelector) -}}{{- end -}}
{{- $annotationFlags := dict "auto" "auto-annotation" "configmap" "configmap-annotation" "secret" "secret-annotation" "configmap_auto" "configmap-auto-annotation" "secret_auto" "secret-auto-annotation" "search" "auto-search-annotation" "match" "search-match-annotation" "ignore" "ignore-annotation" "pausePeriod" "pause-deployment-annotation" "pauseTime" "pause-deployment-time-annotation" -}}
{{- range $key := keys $annotationFlags | sortAlpha -}}
{{- $value := get ($r.custom_annotations | default dict) $key -}}
{{- if $value -}}{{- $args = append $args (printf "--%s=%s" (get $annotationFlags $key) $value) -}}{{- end -}}
{{- end -}}
{{- if $r.webhookUrl -}}{{- $args = append $args (printf "--webhook-url=%s" $r.webhookUrl) -}}{{- end -}}
{{- if $r.isArgoRollouts -}}{{- $args = append $args "--is-Argo-Rollouts=true" -}}{{- end -}}
{{- if $r.reloadOnCreate -}}{{- $args = append $args "--reload-on-create=true" -}}{{- end -}}
{{- if $r.reloadOnDelete -}}{{- $args = append $args "--reload-on-delete=true" -}}{{- end -}}
{{- if $r.syncAfterRestart -}}{{- $args = append $args "--sync-after-restart=true" -}}{{- end -}}
{{- if $r.dryRun -}}{{- $args = append $args "--dry-run=true" -}}{{- end -}}
{{- if $r.dryRunEvents -}}
{{- if not $r.dryRun -}}{{- fail "reloader.dryRunEvents needs reloader.dryRun: true (a real run posts its usual Events)" -}}{{- end -}}
{{- $args = append $args "--dry-run-events=true" -}}
{{- end -}}
{{- if ne $r.reloadStrategy "default" -}}{{- $args = append $args (printf "--reload-strategy=%s" $r.reloadStrategy) -}}{{- end -}}
{{- if $r.enableHA -}}{{- $args = append $args "--enable-ha=true" -}}{{- end -}}
{{- if $r.enablePProf -}}{{- $args = append $args "--enable-pprof=true" -}}{{- $args = append $args (printf "--pprof-addr=%s" $r.pprofAddr) -}}{{- end -}}
{{- if $r.enableCSIIntegration -}}{{- $args = append $args "--enable-csi-integration=true" -}}{{- end -}}
{{- if $r.autoReloadAll -}}{{- $args = append $args "--auto-reload-all=true" -}}{{- end -}}
{{- /*
reloader's own flags (Reloader has none of these): one per value that is set ("" and null are
not: the controller's default). Whole numbers without an exponent (reloader.flagValue).
*/ -}}
{{- $own := dict
  "reloadDebounce" "reload-debounce" "workers" "workers"
  "maxRolloutsInProgress" "max-rollouts-in-progress"
  "maxRolloutsPerNamespace" "max-rollouts-per-namespace" "rolloutTimeout" "rollout-timeout"
  "flappingMaxWait" "flapping-max-wait" "reloadWindow" "reload-window"
  "canarySize" "canary-size" "healthTimeout" "health-timeout"
  "reloadWindowTimezone" "reload-window-timezone" "maxWritesPerSecond" "max-writes-per-second"
  "scheduleDeadline" "schedule-deadline" "scheduleMaxConcurrent" "schedule-max-concurrent"
  "scheduleJitter" "schedule-jitter"
  "imagePollInterval" "image-poll-interval" "imagePollIntervalMin" "image-poll-interval-min"
  "imagePlainHttpRegistries" "image-plain-http-registries"
  "leaderElectionLeaseDuration" "leader-election-lease-duration"
  "leaderElectionRenewDeadline" "leader-election-renew-deadline"
  "leaderElectionRetryPeriod" "leader-election-retry-period"
-}}
{{- range $key := keys $own | sortAlpha -}}
{{- $value := get $r $key -}}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") -}}
{{- $args = append $args (printf "--%s=%s" (get $own $key) (include "reloader.flagValue" $value)) -}}
{{- end -}}
{{- end -}}
{{- /* stakater's layout of the same timings (reloader.leaderElection), applied with enableHA as there */ -}}
{{- if $r.enableHA -}}
{{- $nested := dict "leaseDuration" "leader-election-lease-duration" "renewDeadline" "leader-election-renew-deadline" "retryPeriod" "leader-election-retry-period" -}}
{{- range $key := keys $nested | sortAlpha -}}
{{- $value := get ($r.leaderElection | default dict) $key -}}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") -}}
{{- $args = append $args (printf "--%s=%s" (get $nested $key) (toString $value)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $r.extraArgs -}}{{- $args = append $args (toString .) -}}{{- end -}}
{{- toJson $args -}}
{{- end -}}

{{/*
RBAC rules for watching and reloading, from the values (least privilege, no wildcards). The same
rules go into the ClusterRole (global mode) or into a Role per watched namespace (scoped mode),
except `namespaces`, which only global mode's --namespace-selector reads.
Verbs follow what the controller does: sources are listed and watched, never read one by one;
workloads are listed, watched, read again on a write conflict and patched; CronJob reloads create
a Job; a Job reload deletes and re-creates the Job; an Argo Rollout's template change is a GET
and a PUT (custom resources take no strategic merge patch); Events are created, never updated.
*/}}
{{- define "reloader.rules" -}}
{{- $r := .root.Values.reloader -}}
{{- $sources := list -}}
{{- if not $r.ignoreConfigMaps -}}{{- $sources = append $sources "configmaps" -}}{{- end -}}
{{- if not $r.ignoreSecrets -}}{{- $sources = append $sources "secrets" -}}{{- end }}
- apiGroups: [""]
  resources: {{ toJson $sources }}
  verbs: ["list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments", "daemonsets", "statefulsets"]
  verbs: ["list", "watch", "get", "patch"]
{{- if not $r.ignoreCronJobs }}
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["list", "watch", "get", "patch"]
{{- end }}
{{- if not $r.ignoreJobs }}
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch", "get", "patch", "delete", "create"]
{{- else if not $r.ignoreCronJobs }}
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create"]
{{- end }}
{{- if $r.isArgoRollouts }}
- apiGroups: ["argoproj.io"]
  resources: ["rollouts"]
  verbs: ["list", "watch", "get", "patch", "update"]
{{- end }}
{{- if $r.enableHooks }}
{{- /* restart hooks (docs/hooks.md): a Job from a CronJob's template, an exec in a pod */}}
- apiGroups: ["batch"]
  resources: ["cronjobs", "jobs"]
  verbs: ["get"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create"]
{{- /* exec is a WebSocket upgrade of a GET: the API server checks get, and create too */}}
- apiGroups: [""]
  resources: ["pods/exec"]
  verbs: ["get", "create"]
{{- end }}
{{- if $r.enableCSIIntegration }}
- apiGroups: ["secrets-store.csi.x-k8s.io"]
  resources: ["secretproviderclasspodstatuses"]
  verbs: ["list", "watch"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if $r.imagePullCredentials }}
{{- /* image watching reads a workload's pull Secrets (and its ServiceAccount's) when asked */}}
- apiGroups: [""]
  resources: ["secrets", "serviceaccounts"]
  verbs: ["get"]
{{- end }}
{{- /* a stop-start scheduled restart scales back up only once the old pods are gone; a
wave's verdict reads a rolled workload's new pods, and which ReplicaSet is a Deployment's newest */}}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list"]
{{- if and .cluster (include "reloader.namespaceSelector" .root) }}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end -}}

{{/* The default pod anti-affinity of HA mode (replicas on different nodes, preferably). */}}
{{- define "reloader-podAntiAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        labelSelector:
          matchLabels:
            {{- include "reloader.selectorLabels" . | nindent 12 }}
        topologyKey: kubernetes.io/hostname
{{- end -}}

{{/* A value as a flag would have it: whole numbers without an exponent (JSON values are floats). */}}
{{- define "reloader.flagValue" -}}
{{- if and (kindIs "float64" .) (eq (floor .) (float64 .)) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}
