#!/bin/sh
# Entry point of infra/Dockerfile.postgres. On the first start (an empty data volume): initdb,
# then, in single-user mode (no socket open yet), the application's role with the password from
# POSTGRES_PASSWORD_FILE (a Docker secret) and its database. Every start: postgres itself, as
# the postgres user, listening on every address of the container (the stack's overlay network
# only: the stack publishes no port for it), password (SCRAM) required from the network.
# Env: POSTGRES_PASSWORD_FILE (required), POSTGRES_USER (catty), POSTGRES_DB (catty), PGDATA.
set -eu
say() { printf '[catty-postgres] %s\n' "$*" >&2; }
: "${POSTGRES_PASSWORD_FILE:?set POSTGRES_PASSWORD_FILE to a file (a Docker secret) holding the database password}"
user=${POSTGRES_USER:-catty}
db=${POSTGRES_DB:-catty}
case "$user$db" in *[!a-z0-9_]*) say "POSTGRES_USER and POSTGRES_DB must be lowercase letters, digits and _"; exit 2 ;; esac
[ -r "$POSTGRES_PASSWORD_FILE" ] || { say "cannot read POSTGRES_PASSWORD_FILE ($POSTGRES_PASSWORD_FILE)"; exit 2; }
password=$(tr -d '\r\n' < "$POSTGRES_PASSWORD_FILE")
[ "${#password}" -ge 16 ] || { say "the password in $POSTGRES_PASSWORD_FILE is shorter than 16 characters (openssl rand -hex 24 makes one)"; exit 2; }

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
# A fresh named volume is root's on some engines: the data directory must be postgres' and 0700.
chown postgres:postgres "$PGDATA" && chmod 0700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  say "first start: initdb in $PGDATA, role $user, database $db"
  # The superuser has no password and is reachable only over the container's local socket.
  as_postgres initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
password_encryption = 'scram-sha-256'
CONF
  cat > "$PGDATA/pg_hba.conf" <<HBA
local all postgres peer
host  all all 0.0.0.0/0 scram-sha-256
host  all all ::/0      scram-sha-256
HBA
  quoted=$(printf '%s' "$password" | sed "s/'/''/g")
  # Single-user mode runs one statement per line; exit_on_error makes a failed one fail the start.
  printf "CREATE ROLE \"%s\" LOGIN PASSWORD '%s';\nCREATE DATABASE \"%s\" OWNER \"%s\";\n" "$user" "$quoted" "$db" "$user" |
    as_postgres postgres --single -c exit_on_error=on -D "$PGDATA" postgres >/dev/null
  say "initialised"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA"
