#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok, helm) from the Go modules pinned under tools/cluster/*/go.mod, into a cache
# directory outside git keyed by those pins. Prints the bin directory. A second run with the same
# pins rebuilds nothing. With arguments (e.g. `build.sh helm`), only those binaries are built.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${RELOADER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reloader}"
# Bump RECIPE when the way binaries are built changes (flags, ldflags); pins change the key anyway.
RECIPE=1
key="$( (echo "$RECIPE"; go version; cat "$here"/*/go.mod "$here"/*/go.sum) | sha256sum | cut -c1-16)"
bin="$cache_root/cluster-$key/bin"
if [[ -f "$bin/.complete" ]]; then echo "$bin"; exit 0; fi
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
log() { echo "build: $*" >&2; }

K="$(cat "$here/k8s/VERSION")"
minor="${K#v1.}"; minor="${minor%%.*}"
ver="-X k8s.io/component-base/version.gitVersion=$K -X k8s.io/component-base/version.gitMajor=1"
ver+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$K"
ver+=" -X k8s.io/component-base/version.gitTreeState=clean"

only=" $* "
build() {  # module-dir output-name package [ldflags]
  local dir="$1" out="$2" pkg="$3" ld="${4:-}"
  if [[ -x "$bin/$out" ]]; then return 0; fi
  if [[ "$only" != "  " && "$only" != *" $out "* ]]; then return 0; fi
  log "$out ($pkg)"
  local t0=$SECONDS
  (cd "$here/$dir" && go build -tags=selinux,notest,grpcnotrace -ldflags "-s -w $ld" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  log "$out done in $((SECONDS - t0))s"
}

build etcd etcd go.etcd.io/etcd/server/v3
build k8s kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ver"
build k8s kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ver"
build k8s kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$ver"
build k8s kubectl k8s.io/kubernetes/cmd/kubectl "$ver"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok
build helm helm helm.sh/helm/v3/cmd/helm
if [[ "$only" != "  " ]]; then echo "$bin"; exit 0; fi

# kwok v0.8 has no built-in stages: ship the module's own stage files next to the binary.
kwok_dir="$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
stages="$kwok_dir/kustomize/stage"
{
  first=1
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ $first == 1 ]] || echo "---"
    first=0
    cat "$stages/$f"
  done
} > "$bin/kwok-stages.yaml"
touch "$bin/.complete"
echo "$bin"
