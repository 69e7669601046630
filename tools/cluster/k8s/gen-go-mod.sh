#!/usr/bin/env bash
# Regenerates go.mod/go.sum for the pinned Kubernetes version.
# k8s.io/kubernetes requires its staging modules at v0.0.0 with relative replaces, which a
# consumer cannot use; we replace each with the matching v0.X.Y release, read from the
# proxy's own go.mod of the pinned version (never typed by hand).
set -euo pipefail
cd "$(dirname "$0")"
K="${1:-$(cat VERSION)}"
S="v0.${K#v1.}"
rm -f go.mod go.sum
go mod init reloader.local/tools/k8s >/dev/null 2>&1
go mod edit -go=1.26.0 -godebug=default=go1.26
MOD=$(go mod download -json "k8s.io/kubernetes@$K" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*#\1#p' "$MOD" | while read -r m; do
  go mod edit "-replace=$m=$m@$S"
done
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go get -tool "k8s.io/kubernetes/cmd/$c@$K"
done
go mod tidy
echo "$K" > VERSION
