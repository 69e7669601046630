#!/usr/bin/env bash
# The demo: run by `make demo` inside `cluster.py run`, so KUBECONFIG points at a fresh local
# cluster and PATH holds its kubectl. Starts the controller, makes a Deployment that uses a
# ConfigMap, edits the ConfigMap, and shows the Deployment rolling: new ReplicaSet, the
# controller's log line, the Event.
set -euo pipefail
cd "$(dirname "$0")/.."
ns=demo
log=".cluster/demo/reloader.log"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "kubeconfig: $KUBECONFIG"
kubectl get nodes

step "starting the controller (logs: $log)"
.venv/bin/reloader --kubeconfig "$KUBECONFIG" --log-format json --metrics-addr 127.0.0.1:0 \
  >"$log" 2>&1 &
controller=$!
trap 'kill "$controller" 2>/dev/null; wait "$controller" 2>/dev/null || true' EXIT

step "a ConfigMap and a Deployment annotated reloader.stakater.com/auto: \"true\""
kubectl create namespace "$ns"
kubectl -n "$ns" create configmap app-config --from-literal=greeting=hello
kubectl -n "$ns" apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    reloader.stakater.com/auto: "true"
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.local/web:1
          envFrom: [{configMapRef: {name: app-config}}]
YAML
kubectl -n "$ns" rollout status deployment/web --timeout=60s
kubectl -n "$ns" get replicasets

step "waiting until the controller has recorded the ConfigMap's hash on the Deployment"
for _ in $(seq 1 100); do
  if kubectl -n "$ns" get deployment web \
      -o jsonpath='{.metadata.annotations.reloader\.stakater\.com/applied-hashes}' | grep -q configmap; then
    break
  fi
  sleep 0.2
done
kubectl -n "$ns" get deployment web \
  -o jsonpath='{.metadata.annotations.reloader\.stakater\.com/applied-hashes}{"\n"}'

step "editing the ConfigMap: greeting=hello -> greeting=bonjour"
kubectl -n "$ns" patch configmap app-config --type merge -p '{"data":{"greeting":"bonjour"}}'

step "the Deployment rolls"
for _ in $(seq 1 150); do
  [ "$(kubectl -n "$ns" get replicasets -o name | wc -l)" -ge 2 ] && break
  sleep 0.2
done
kubectl -n "$ns" rollout status deployment/web --timeout=60s
kubectl -n "$ns" get replicasets
kubectl -n "$ns" get deployment web \
  -o jsonpath='{range .spec.template.spec.containers[0].env[*]}{.name}={.value}{"\n"}{end}'

step "the controller's log line"
grep '"workload.reloaded"' "$log"

step "the Event on the Deployment"
kubectl -n "$ns" get events --field-selector involvedObject.name=web,reason=Reloaded

step "done: the cluster and the controller stop now (make cluster-up keeps a cluster running)"
