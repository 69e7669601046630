#!/usr/bin/env bash
# `make image-test`: build the container image (tools/image/build.sh: buildah, no daemon, a cached
# debootstrapped base), then run tests/e2e/test_image.py against it: the image's `reloader` as
# uid 65532 on a fresh local cluster (a ConfigMap change rolls a Deployment, /metrics, no writes
# outside /tmp, exit 0 on SIGTERM). Prints the build and test times and the image size.
#
#   tools/image/test.sh [PYTEST ARGS...]
#
# Environment: everything tools/image/build.sh reads; PYTEST (default .venv/bin/pytest);
# RELOADER_IMAGE_TEST_TIMEOUT seconds for the test run (default 900).
set -euo pipefail
cd "$(dirname "$0")/../.."

pytest_bin="${PYTEST:-.venv/bin/pytest}"
[ -x "$pytest_bin" ] || { echo "image-test: error: no $pytest_bin (run make venv)" >&2; exit 1; }

t0=$SECONDS
image="$(bash tools/image/build.sh | tail -n1)"
t_build=$((SECONDS - t0))

t1=$SECONDS
rc=0
RELOADER_IMAGE="$image" timeout --kill-after=30 "${RELOADER_IMAGE_TEST_TIMEOUT:-900}" \
  "$pytest_bin" tests/e2e -p no:cacheprovider "$@" || rc=$?
t_test=$((SECONDS - t1))

size="$(buildah images --format '{{.Size}}' "$image" | head -n1)"
echo "image-test: $image ($size): build ${t_build}s, test ${t_test}s, total $((SECONDS - t0))s" >&2
[ "$rc" -eq 124 ] && echo "image-test: error: the tests timed out" >&2
exit "$rc"
