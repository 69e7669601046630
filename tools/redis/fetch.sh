#!/usr/bin/env bash
# Debian's Redis for the tests that need a real one (restart hooks): the packages redis-server
# and redis-tools and the libraries they need that a minimal Debian lacks, downloaded with apt
# and unpacked (dpkg -x) into a cache directory outside git: no maintainer script runs, no
# service starts, nothing is installed system-wide. Prints a directory holding redis-server and
# redis-cli wrappers (they set LD_LIBRARY_PATH to the unpacked libraries).
set -euo pipefail
cache_root="${RELOADER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reloader}"
packages=(redis-server redis-tools libjemalloc2 liblzf1)
dir="$cache_root/redis"
if [[ -x "$dir/bin/redis-server" && -f "$dir/.complete" ]]; then echo "$dir/bin"; exit 0; fi
rm -rf "$dir" && mkdir -p "$dir/debs" "$dir/root" "$dir/bin"
cd "$dir/debs"
if ! apt-get download "${packages[@]}" >/dev/null 2>&1; then
  echo "redis: apt-get download failed; refreshing the package lists" >&2
  timeout 600 apt-get update -qq >&2
  timeout 600 apt-get download "${packages[@]}" >&2
fi
for deb in ./*.deb; do dpkg -x "$deb" "$dir/root"; done
libs="$dir/root/usr/lib/x86_64-linux-gnu"
for tool in redis-server redis-cli; do
  # redis-server is Debian's symlink to redis-check-rdb: the binary picks its mode from argv[0]
  target="$(readlink -f "$dir/root/usr/bin/$tool" || true)"
  [[ -x "$target" ]] || { echo "redis: $tool missing from the packages" >&2; exit 1; }
  printf '#!/bin/bash\nLD_LIBRARY_PATH=%q exec -a %q %q "$@"\n' "$libs" "$tool" "$target" >"$dir/bin/$tool"
  chmod +x "$dir/bin/$tool"
done
"$dir/bin/redis-server" --version >&2
touch "$dir/.complete"
echo "$dir/bin"
