#!/usr/bin/env bash
# Builds the session image on this machine without any registry:
#   1. catty-base:dev  — infra/dev-base-image.sh (skipped when it exists)
#   2. catty-deps:dev  — this checkout's natively built *production* node_modules (the lockfile's
#                        non-dev packages) at /app/node_modules, via `docker import`; rebuilt only
#                        when package-lock.json or the Node ABI changed
#   3. catty-session:dev — Dockerfile.session on top of both, built with --network host
# Needs `npm ci` and `npm run build` first (dist/ is copied into the image).
#
# Usage: infra/build-session-image.sh [--force] [--npm]
#   --force  rebuild the base and deps images too
#   --npm    compile the dependencies inside the build instead (Dockerfile.session's deps-npm
#            stage: apt build tools + npm ci with npm_config_nodedir=/usr/local; needs the npm
#            registry and Debian's mirror, nothing else)
# Env: CATTY_SESSION_IMAGE (default catty-session:dev), CATTY_BASE_IMAGE (default catty-base:dev),
#      CATTY_BUILD_CA_FILE (--npm: extra PEM CAs to trust; default /usr/local/share/ca-certificates/*.crt)
set -euo pipefail
cd "$(dirname "$0")/.."

session_image=${CATTY_SESSION_IMAGE:-catty-session:dev}
base_image=${CATTY_BASE_IMAGE:-catty-base:dev}
deps_image=catty-deps:dev
force=() ; deps_mode=host
for arg in "$@"; do
  case "$arg" in
    --force) force=(--force) ;;
    --npm) deps_mode=npm ;;
    -h|--help) sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
say() { printf '[build-session-image] %s\n' "$*"; }
t0=$(date +%s)

[ -d dist ] || { echo "dist/ is missing: run npm run build first" >&2; exit 1; }
[ -f dist/session-runtime/bin.js ] || say "warning: dist/session-runtime/bin.js is missing; the image will not start until npm run build produces it"

CATTY_BASE_IMAGE="$base_image" infra/dev-base-image.sh "${force[@]}"

deps_arg=deps-npm
if [ "$deps_mode" = host ]; then
  [ -d node_modules ] || { echo "node_modules is missing: run npm ci first" >&2; exit 1; }
  # The key says which lockfile and Node ABI the native modules were built for.
  key="$(sha256sum package-lock.json | cut -c1-16)-abi$(node -p process.versions.modules)"
  have=$(docker image inspect -f '{{index .Config.Labels "catty.deps-key"}}' "$deps_image" 2>/dev/null || true)
  if [ "${#force[@]}" -eq 0 ] && [ "$have" = "$key" ]; then
    say "$deps_image is current ($key)"
  else
    say "packing production node_modules into $deps_image ($key)"
    list=$(mktemp)
    node infra/prod-modules.mjs > "$list"
    tar -c --transform 's,^,app/,S' -T "$list" | docker import --change "LABEL catty.deps-key=$key" - "$deps_image" >/dev/null
    rm -f "$list"
  fi
  deps_arg=$deps_image
fi

ca_args=()
if [ "$deps_mode" = npm ]; then
  # CAs added on this machine (e.g. a TLS-intercepting egress proxy's), so npm ci inside the
  # build trusts them too: CATTY_BUILD_CA_FILE, else Debian's place for local CAs.
  ca_pem=""
  if [ -n "${CATTY_BUILD_CA_FILE:-}" ]; then ca_pem=$(cat "$CATTY_BUILD_CA_FILE")
  elif compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then ca_pem=$(cat /usr/local/share/ca-certificates/*.crt)
  fi
  if [ -n "$ca_pem" ]; then say "trusting this machine's local CA certificates in the build"; ca_args=(--build-arg "EXTRA_CA_CERTS=$ca_pem"); fi
fi

say "docker build -f Dockerfile.session -> $session_image (BASE_IMAGE=$base_image DEPS_IMAGE=$deps_arg)"
set +e
docker build --network host -f Dockerfile.session \
  --build-arg BASE_IMAGE="$base_image" --build-arg DEPS_IMAGE="$deps_arg" "${ca_args[@]}" \
  -t "$session_image" . 2>&1 | grep -vE '^ ---> |^Removing intermediate|DEPRECATED|BuildKit|buildx|Install the buildx|^ *$'
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || { echo "docker build of $session_image failed ($status)" >&2; exit 1; }
# Superseded (now untagged) session images only; the layer cache stays.
docker image prune -f --filter label=catty.image=session >/dev/null
say "built $session_image in $(( $(date +%s) - t0 ))s ($(docker image inspect -f '{{.Size}}' "$session_image" | awk '{ printf "%d MB", $1/1e6 }'))"
