#!/usr/bin/env bash
# Build the reloader container image without a Docker daemon: Debian's buildah, a local
# debootstrapped base (cached outside git), then the repository's Dockerfile.
#
#   tools/image/build.sh            build (or reuse) the base, build the image, print its name
#
# The last line printed on stdout is the image name (everything else goes to stderr), so callers
# can do `image=$(tools/image/build.sh | tail -n1)`.
#
# Environment (all optional):
#   RELOADER_IMAGE        image name to tag                        [localhost/reloader:dev]
#   RELOADER_IMAGE_CONTEXT build context holding pyproject.toml, README.md, reloader/ and the
#                         Dockerfile                              [the repository: the work tree]
#   RELOADER_BASE_IMAGE   use this base image as is (skip debootstrap), e.g. a pulled
#                         python:3.11-slim-bookworm where a registry is reachable
#   RELOADER_IMAGE_SUITE  Debian suite of the local base          [bookworm]
#   RELOADER_DEBIAN_MIRROR                                        [http://deb.debian.org/debian]
#   RELOADER_CACHE        cache root                              [$XDG_CACHE_HOME/reloader or ~/.cache/reloader]
#   RELOADER_BUILD_TIMEOUT seconds for each of debootstrap and the image build  [1200]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
context="$(cd "${RELOADER_IMAGE_CONTEXT:-$repo}" && pwd)"

image="${RELOADER_IMAGE:-localhost/reloader:dev}"
suite="${RELOADER_IMAGE_SUITE:-bookworm}"
mirror="${RELOADER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache_root="${RELOADER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reloader}"
step_timeout="${RELOADER_BUILD_TIMEOUT:-1200}"
# What the Dockerfile needs from its base: an interpreter, and venv (ensurepip) for the builder.
base_packages="python3,python3-venv"
base_variant="minbase"
# Bump when the way the base is made changes (pruning, config), to get a new cache key.
base_recipe=1

log() { printf 'image: %s\n' "$*" >&2; }
die() { printf 'image: error: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$((SECONDS - $1))s"; }

# ------------------------------------------------------------------------------------ tools
ensure_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  if [ -z "${RELOADER_BASE_IMAGE:-}" ]; then
    command -v debootstrap >/dev/null || missing+=(debootstrap)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root"
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  local t0=$SECONDS
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
  timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
  log "installed ${missing[*]} in $(elapsed $t0)"
}

# ------------------------------------------------------------------------------------ base
# The base is keyed by everything that goes into it; the rootfs tarball is cached under
# $cache_root/image-base/, the image lives in buildah's local storage as localhost/reloader-base:KEY.
base_key() {
  printf '%s\n' "$suite" "$base_variant" "$base_packages" "$mirror" "$(dpkg --print-architecture)" \
    "$base_recipe" | sha256sum | cut -c1-12
}

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }

debootstrap_rootfs() {  # $1: output tarball
  local out="$1" work t0=$SECONDS
  # Leftovers of an interrupted run (the caller holds the lock: nobody else is debootstrapping).
  rm -rf "$(dirname "$out")"/.debootstrap.*
  work="$(mktemp -d "$(dirname "$out")/.debootstrap.XXXXXX")"
  log "debootstrap $suite ($base_variant, +$base_packages) from $mirror (takes a few minutes)"
  if ! timeout "$step_timeout" debootstrap --variant="$base_variant" --include="$base_packages" \
      "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    if [ -f "$work/rootfs/debootstrap/debootstrap.log" ]; then
      tail -n 30 "$work/rootfs/debootstrap/debootstrap.log" >&2
    fi
    rm -rf "$work"
    die "debootstrap failed (log above)"
  fi
  # Nothing the image needs at runtime: docs, man pages, locales, apt's downloads and lists.
  local r="$work/rootfs"
  rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* \
    "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
    "$r"/var/log/* "$r"/debootstrap
  tar --numeric-owner --xattrs --acls -C "$r" -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$out"
  rm -rf "$work"
  log "debootstrapped in $(elapsed $t0): $(du -h "$out" | cut -f1) rootfs"
}

ensure_base() {  # prints the base image name
  if [ -n "${RELOADER_BASE_IMAGE:-}" ]; then
    echo "$RELOADER_BASE_IMAGE"
    return
  fi
  local key name dir ctr mnt t0=$SECONDS
  key="$suite-$(base_key)"
  name="localhost/reloader-base:$key"
  dir="$cache_root/image-base/$key"
  mkdir -p "$dir"
  # One builder at a time per base (parallel runs wait here instead of debootstrapping twice).
  exec 9>"$dir/.lock"
  flock -w "$step_timeout" 9 || die "timed out waiting for the lock $dir/.lock"
  if image_exists "$name"; then
    log "base $name: cached image"
  else
    if [ -f "$dir/rootfs.tar" ]; then
      log "base $name: importing the cached rootfs $dir/rootfs.tar"
    else
      debootstrap_rootfs "$dir/rootfs.tar"
      printf 'suite=%s\nvariant=%s\npackages=%s\nmirror=%s\n' \
        "$suite" "$base_variant" "$base_packages" "$mirror" >"$dir/recipe.txt"
    fi
    ctr="$(buildah from scratch)"
    mnt="$(buildah mount "$ctr")"
    tar --numeric-owner --xattrs --acls -C "$mnt" -xf "$dir/rootfs.tar"
    buildah umount "$ctr" >/dev/null
    buildah config \
      --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env LANG=C.UTF-8 \
      --cmd /bin/sh \
      --label "org.opencontainers.image.title=reloader-base" \
      --label "org.opencontainers.image.description=debootstrap $suite $base_variant + $base_packages" \
      "$ctr"
    buildah commit --rm --quiet "$ctr" "$name" >/dev/null
    log "base $name: committed in $(elapsed $t0)"
  fi
  exec 9>&-
  echo "$name"
}

# ------------------------------------------------------------------------------------ image
build_image() {  # $1: base image
  local base="$1" t0=$SECONDS version revision created
  [ -f "$context/Dockerfile" ] || die "no Dockerfile in the build context $context"
  version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$context/pyproject.toml" | head -n1)"
  revision="$(git -C "$context" rev-parse HEAD 2>/dev/null || echo unknown)"
  if [ "$revision" != unknown ] && [ -n "$(git -C "$context" status --porcelain 2>/dev/null)" ]; then
    revision="$revision-dirty"
  fi
  created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local pull=()
  [ -z "${RELOADER_BASE_IMAGE:-}" ] && pull=(--pull-never)  # the local base is never pulled
  local args=(
    bud --isolation chroot --network host --layers
    "${pull[@]}" --build-arg "BASE=$base"
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created"
    -f "$context/Dockerfile" -t "$image"
  )
  # pip inside the build trusts the host's CA bundle (the local base has no ca-certificates).
  local ca=/etc/ssl/certs/ca-certificates.crt
  if [ -f "$ca" ]; then
    args+=(-v "$ca:$ca:ro" --build-arg "PIP_CERT=$ca")
  fi
  [ -n "${PIP_INDEX_URL:-}" ] && args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
  local old new
  old="$(image_id "$image")"
  log "building $image from $base (context $context)"
  if ! timeout "$step_timeout" buildah "${args[@]}" "$context" >&2; then
    die "buildah bud failed (output above)"
  fi
  new="$(image_id "$image")"
  # The image this tag named before is garbage now (its layers under the cached ones stay).
  if [ -n "$old" ] && [ "$old" != "$new" ]; then
    buildah rmi "$old" >/dev/null 2>&1 || true
  fi
  log "built $image in $(elapsed $t0): id ${new:0:12}, size $(buildah images --format '{{.Size}}' "$image" | head -n1)"
}

main() {
  local t0=$SECONDS base
  ensure_tools
  base="$(ensure_base)"
  build_image "$base"
  log "done in $(elapsed $t0)"
  echo "$image"
}

main "$@"
