#!/usr/bin/env bash
# Builds every image of the swarm stack (infra/stack.yml) on this machine, without a registry:
#   catty-session:TAG   the session machines    (infra/build-session-image.sh: base, deps, session)
#   catty-api:TAG       catty-api, catty-node and `catty-api s3-server`   (infra/Dockerfile.api)
#   catty-postgres:TAG  Debian's postgresql-15   (infra/Dockerfile.postgres)
#   catty-caddy:TAG     Debian's caddy, TLS in front (infra/Dockerfile.caddy + Caddyfile.stack)
# all on catty-base:dev (debootstrap + this host's Node; infra/dev-base-image.sh). Needs `npm ci`
# and `npm run build` first, root (debootstrap) and dockerd; the Debian mirror for apt-get.
# One build at a time on this machine: it holds /tmp/catty-image.lock (do not wrap it in flock).
#
# Usage: infra/build-stack-images.sh [--env FILE]
#   --env FILE  also write CATTY_*_IMAGE=sha256:… lines (each image by its id) for
#               `docker stack deploy`: a service naming its image by id is never looked up in
#               a registry, on any node (by name, every task start first tries one).
# Env: CATTY_STACK_TAG (dev), CATTY_BASE_IMAGE (catty-base:dev).
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

lock=/tmp/catty-image.lock
if [ "${CATTY_IMAGE_LOCK_HELD:-}" != "$lock" ]; then
  export CATTY_IMAGE_LOCK_HELD=$lock
  exec flock "$lock" "$self" "$@"
fi

env_file=""
while [ $# -gt 0 ]; do
  case "$1" in
    --env) env_file=${2:?--env needs a file}; shift 2 ;;
    -h|--help) sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
tag=${CATTY_STACK_TAG:-dev}
base=${CATTY_BASE_IMAGE:-catty-base:dev}
say() { printf '[build-stack-images] %s\n' "$*"; }
t0=$(date +%s)

CATTY_SESSION_IMAGE="catty-session:$tag" CATTY_BASE_IMAGE="$base" infra/build-session-image.sh

# The classic builder (Debian's docker.io has no buildx); its chatter filtered out.
build() {
  local image=$1; shift
  local started=$(date +%s) status
  set +e
  docker build --network host --build-arg BASE_IMAGE="$base" -t "$image" "$@" 2>&1 |
    grep -vE '^ ---> |^Removing intermediate|DEPRECATED|BuildKit|buildx|Install the buildx|^ *$|^Step |^Sending build context|debconf: delaying|^.\[0m'
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || { echo "docker build of $image failed ($status)" >&2; exit 1; }
  say "$image built in $(( $(date +%s) - started ))s"
}
build "catty-api:$tag" --build-arg DEPS_IMAGE=catty-deps:dev -f infra/Dockerfile.api .
build "catty-postgres:$tag" -f infra/Dockerfile.postgres infra
build "catty-caddy:$tag" -f infra/Dockerfile.caddy infra
# Superseded (now untagged) stack images only; the layer cache stays.
docker image prune -f --filter label=catty.image=stack >/dev/null

if [ -n "$env_file" ]; then
  id() { docker image inspect -f '{{.Id}}' "$1"; }
  {
    echo "CATTY_API_IMAGE=$(id "catty-api:$tag")"
    echo "CATTY_POSTGRES_IMAGE=$(id "catty-postgres:$tag")"
    echo "CATTY_CADDY_IMAGE=$(id "catty-caddy:$tag")"
    echo "CATTY_SESSION_IMAGE=$(id "catty-session:$tag")"
  } > "$env_file"
  say "image ids in $env_file"
fi
say "stack images ready in $(( $(date +%s) - t0 ))s: catty-{session,api,postgres,caddy}:$tag"
