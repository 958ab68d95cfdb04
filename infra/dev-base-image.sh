#!/usr/bin/env bash
# Builds a local stand-in for `node:22-bookworm-slim` without pulling from any registry:
# a minimal Debian root filesystem from Debian's own packages (debootstrap), plus this machine's
# Node runtime (node, npm, headers for node-gyp, and any shared library the rootfs lacks),
# imported with `docker import`. Dockerfile.session then builds on it with
# `--build-arg BASE_IMAGE=catty-base:dev`.
#
# Usage: infra/dev-base-image.sh [--force]      (idempotent: skips when the image exists)
# Env:   CATTY_BASE_IMAGE (default catty-base:dev), DEBIAN_MIRROR (default: the mirror apt
#        already uses on this machine), DEBIAN_SUITE (default: this machine's codename).
# Needs: root, debootstrap, docker.
set -euo pipefail

image=${CATTY_BASE_IMAGE:-catty-base:dev}
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
say() { printf '[dev-base-image] %s\n' "$*"; }

if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
  say "$image exists; nothing to do (use --force to rebuild)"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }

# The first Debian mirror apt is configured with (deb822 .sources or one-line .list files),
# read at run time so no host is baked into this script.
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f"
  done | head -n1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) { print $i; exit } }' "$f"
  done | head -n1
}
suite=${DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
mirror=${DEBIAN_MIRROR:-$(find_mirror | head -n1)}
[ -n "$mirror" ] || { echo "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR" >&2; exit 1; }

node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")   # …/node_modules/npm
node_prefix=$(dirname "$(dirname "$node_bin")")                           # /usr or /usr/local
headers="$node_prefix/include/node"

rootfs=$(mktemp -d /tmp/catty-base.XXXXXX)
cleanup() { rm -rf "$rootfs"; }
trap cleanup EXIT

start=$(date +%s)
say "debootstrap --variant=minbase $suite from $mirror into $rootfs"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >/tmp/catty-debootstrap.log 2>&1 ||
  { tail -n 20 /tmp/catty-debootstrap.log >&2; exit 1; }

say "adding Node $("$node_bin" --version) from $node_bin, npm from $npm_dir, headers from $headers"
install -d "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/include"
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
# node-gyp must never download headers: the image carries them where the official images do
# (`npm_config_nodedir=/usr/local`).
[ -d "$headers" ] && cp -a "$headers" "$rootfs/usr/local/include/node"

# Shared libraries node links against that minbase lacks (same distribution, same paths).
ldd "$node_bin" | awk '/=> \// { print $3 } /^\s*\/lib/ { print $1 }' | while read -r lib; do
  if [ ! -e "$rootfs$lib" ]; then
    say "copying missing library $lib"
    install -D "$(readlink -f "$lib")" "$rootfs$lib"
  fi
done
chroot "$rootfs" /usr/bin/env -i /usr/local/bin/node -e 'process.exit(0)' ||
  { echo "node does not run inside the new rootfs" >&2; exit 1; }

# Keep the image small: apt caches and docs are rebuilt by `apt-get update` in Dockerfile.session.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/tmp/*

say "docker import -> $image"
tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null
say "built $image in $(( $(date +%s) - start ))s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%d MB", $1/1e6 }'))"
