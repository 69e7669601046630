{{- /*
Helpers of the node agent's templates (nodereboot-*.yaml). See docs/node-reboots.md.
*/}}

{{/* <release>-reloader-node-reboot: the DaemonSet, ServiceAccount, RBAC objects, Service. */}}
{{- define "reloader.nodeReboot.fullname" -}}
{{- printf "%s-node-reboot" (include "reloader-fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: not those of the controller's Deployment, whose selector must not match. */}}
{{- define "reloader.nodeReboot.selectorLabels" -}}
app: {{ include "reloader.nodeReboot.fullname" . }}
release: {{ .Release.Name | quote }}
{{- with .Values.reloader.matchLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "reloader.nodeReboot.labels" -}}
{{ include "reloader.nodeReboot.selectorLabels" . }}
chart: "{{ .Chart.Name }}-{{ .Chart.Version }}"
heritage: {{ .Release.Service | quote }}
app.kubernetes.io/name: {{ include "reloader-name" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/component: node-reboot
{{- end -}}

{{- define "reloader.nodeReboot.serviceAccountName" -}}
{{- $sa := .Values.nodeReboot.serviceAccount -}}
{{- if $sa.create -}}
{{- default (include "reloader.nodeReboot.fullname" .) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{/* nodeReboot.image.*, each empty field taken from the controller's image. */}}
{{- define "reloader.nodeReboot.image" -}}
{{- $i := .Values.nodeReboot.image | default dict -}}
{{- if not (or $i.repository $i.tag $i.digest) -}}
{{- include "reloader.image" . -}}
{{- else -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.global.imageRegistry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .Values.global.imageRegistry) .Values.image.name -}}
{{- end -}}
{{- $repository = $i.repository | default $repository -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $repository $i.digest -}}
{{- else if and (not $i.tag) (not $i.repository) .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($i.tag | default .Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The agent's flags as a JSON list: node-agent, --ds-namespace (the lock Leases live in the chart's
namespace, where the Role is), then one flag per configuration value that is set ("" and null are
not: the agent's default), then extraArgs.
*/}}
{{- define "reloader.nodeReboot.args" -}}
{{- $n := .Values.nodeReboot -}}
{{- $c := $n.configuration | default dict -}}
{{- $args := list "node-agent" (printf "--ds-namespace=%s" (include "reloader.namespace" .)) -}}
{{- $args = append $args (printf "--reboot-method=%s" $n.rebootMethod) -}}
{{- $sentinel := $n.sentinel | default dict -}}
{{- if $c.rebootSentinelCommand -}}
{{- $args = append $args (printf "--reboot-sentinel-command=%s" $c.rebootSentinelCommand) -}}
{{- else if $c.rebootSentinel -}}
{{- $args = append $args (printf "--reboot-sentinel=%s" $c.rebootSentinel) -}}
{{- else if $sentinel.hostPath -}}
{{- $args = append $args (printf "--reboot-sentinel=/sentinel/%s" ($sentinel.file | default "reboot-required")) -}}
{{- end -}}
{{- if ne (int $c.metricsPort) 8080 -}}
{{- $args = append $args (printf "--metrics-port=%d" (int $c.metricsPort)) -}}
{{- end -}}
{{- $flags := dict
  "period" "period" "startTime" "start-time" "endTime" "end-time" "timeZone" "time-zone"
  "rebootDelay" "reboot-delay" "concurrency" "concurrency" "lockTtl" "lock-ttl"
  "lockReleaseDelay" "lock-release-delay" "lockName" "lock-name" "drainTimeout" "drain-timeout"
  "drainGracePeriod" "drain-grace-period" "drainPodSelector" "drain-pod-selector"
  "drainDelay" "drain-delay" "skipWaitForDeleteTimeout" "skip-wait-for-delete-timeout"
  "forceReboot" "force-reboot" "prometheusUrl" "prometheus-url"
  "alertFilterRegexp" "alert-filter-regexp" "alertFiringOnly" "alert-firing-only"
  "alertFilterMatchOnly" "alert-filter-match-only" "waitForRollouts" "wait-for-rollouts"
  "preferNoScheduleTaint" "prefer-no-schedule-taint" "annotateNodes" "annotate-nodes"
  "rebootCommand" "reboot-command" "rebootSignal" "reboot-signal"
  "rebootLoopLimit" "reboot-loop-limit" "rebootLoopWindow" "reboot-loop-window"
  "slackHookUrl" "slack-hook-url" "messageTemplateDrain" "message-template-drain"
  "messageTemplateReboot" "message-template-reboot"
  "messageTemplateUncordon" "message-template-uncordon" "logFormat" "log-format"
  "logLevel" "log-level"
-}}
{{- range $key := keys $flags | sortAlpha -}}
{{- $value := get $c $key -}}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") -}}
{{- $args = append $args (printf "--%s=%s" (get $flags $key) (include "reloader.flagValue" $value)) -}}
{{- end -}}
{{- end -}}
{{- $days := $c.rebootDays -}}
{{- if kindIs "slice" $days -}}{{- $days = join "," $days -}}{{- end -}}
{{- if $days -}}{{- $args = append $args (printf "--reboot-days=%s" $days) -}}{{- end -}}
{{- range $c.blockingPodSelector -}}
{{- if . -}}{{- $args = append $args (printf "--blocking-pod-selector=%s" .) -}}{{- end -}}
{{- end -}}
{{- range $key, $flag := dict "preRebootNodeLabels" "pre-reboot-node-labels" "postRebootNodeLabels" "post-reboot-node-labels" -}}
{{- $labels := get $c $key -}}
{{- if not (kindIs "slice" $labels) -}}{{- $labels = list $labels -}}{{- end -}}
{{- range $labels -}}
{{- if . -}}{{- $args = append $args (printf "--%s=%s" $flag .) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- $urls := $c.notifyUrl -}}
{{- if not (kindIs "slice" $urls) -}}{{- $urls = list $urls -}}{{- end -}}
{{- range $urls -}}
{{- if . -}}{{- $args = append $args (printf "--notify-url=%s" .) -}}{{- end -}}
{{- end -}}
{{- if kindIs "map" $n.extraArgs -}}
{{- range $key := keys $n.extraArgs | sortAlpha -}}
{{- $value := get $n.extraArgs $key -}}
{{- if or (kindIs "invalid" $value) (eq (toString $value) "") -}}
{{- $args = append $args (printf "--%s" $key) -}}
{{- else -}}
{{- $args = append $args (printf "--%s=%s" $key (include "reloader.flagValue" $value)) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- range $n.extraArgs -}}{{- $args = append $args (toString .) -}}{{- end -}}
{{- end -}}
{{- toJson $args -}}
{{- end -}}

{{/*
command: nsenter into PID 1's namespaces needs a privileged container. signal: kill(1, SIGRTMIN+5)
needs root and CAP_KILL only. The root filesystem is read-only either way (/tmp is an emptyDir).
*/}}
{{- define "reloader.nodeReboot.securityContext" -}}
{{- if eq .Values.nodeReboot.rebootMethod "signal" -}}
privileged: false
allowPrivilegeEscalation: false
runAsUser: 0
runAsGroup: 0
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
  add:
    - KILL
seccompProfile:
  type: RuntimeDefault
{{- else -}}
privileged: true
runAsUser: 0
runAsGroup: 0
readOnlyRootFilesystem: true
{{- end -}}
{{- end -}}

{{- define "reloader.nodeReboot.validate" -}}
{{- $n := .Values.nodeReboot -}}
{{- if and (eq $n.rebootMethod "signal") $n.configuration.rebootSentinelCommand -}}
{{- fail "nodeReboot.configuration.rebootSentinelCommand needs nodeReboot.rebootMethod=command: the command runs in the host's mount namespace (nsenter), which only a privileged container may enter. With rebootMethod=signal, use the sentinel file (nodeReboot.sentinel)." -}}
{{- end -}}
{{- end -}}
