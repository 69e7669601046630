#!/usr/bin/env bash
# Builds the reference controller, stakater/Reloader, from the Go module pinned in
# tools/reference/reloader/go.mod (and go.sum), into a cache directory outside git keyed by those
# pins and the Go version, the way tools/cluster/build.sh builds the control plane. Prints the
# path of the binary. A second run with the same pins rebuilds nothing.
#
# Its pins live here, not under tools/cluster, so changing them never rebuilds the control plane.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${RELOADER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reloader}"
# Bump RECIPE when the way the binary is built changes (flags, ldflags); pins change the key anyway.
RECIPE=1
key="$( (echo "$RECIPE"; go version; cat "$here"/reloader/go.mod "$here"/reloader/go.sum) \
  | sha256sum | cut -c1-16)"
bin="$cache_root/reference-$key/bin"
out="$bin/stakater-reloader"
if [[ -x "$out" && -f "$bin/.complete" ]]; then echo "$out"; exit 0; fi
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
version="$(cd "$here/reloader" && go list -m -f '{{.Version}}' github.com/stakater/Reloader)"
echo "build: stakater/Reloader $version (first build: a few minutes)" >&2
t0=$SECONDS
(cd "$here/reloader" && go build -ldflags "-s -w" -o "$out.tmp" github.com/stakater/Reloader)
mv "$out.tmp" "$out"
echo "$version" > "$bin/VERSION"
touch "$bin/.complete"
echo "build: stakater-reloader done in $((SECONDS - t0))s" >&2
echo "$out"
