#!/bin/sh
# `catty-api` and `catty-node` inside the API image (infra/Dockerfile.api installs this file
# under both names): runs the program after reading the secrets it is given as files. Swarm
# hands secrets over as files (/run/secrets/<name>); the programs read CATTY_SECRET_KEY_FILE
# (and `catty-api s3-server` its S3 key files) themselves, the rest is read here:
#   CATTY_S3_ACCESS_KEY_ID_FILE, CATTY_S3_SECRET_ACCESS_KEY_FILE -> the S3 key the API signs with
#   PGPASSWORD_FILE -> PGPASSWORD, the Postgres password (CATTY_DATABASE_URL holds none)
# Through `docker exec <task> catty-api users add …` the same settings apply.
set -eu
for name in CATTY_S3_ACCESS_KEY_ID CATTY_S3_SECRET_ACCESS_KEY PGPASSWORD; do
  eval "file=\${${name}_FILE:-}"
  [ -n "$file" ] || continue
  [ -r "$file" ] || { echo "$(basename "$0"): cannot read ${name}_FILE ($file)" >&2; exit 2; }
  eval "value=\${${name}:-}"
  [ -z "$value" ] || { echo "$(basename "$0"): both $name and ${name}_FILE are set; set one of them" >&2; exit 2; }
  value=$(tr -d '\r\n' < "$file")
  export "$name=$value"
  unset "${name}_FILE"
done
case "$(basename "$0")" in
  catty-node) exec node /opt/catty/dist/api/node/bin.js "$@" ;;
  *) exec node /opt/catty/dist/api/bin.js "$@" ;;
esac
