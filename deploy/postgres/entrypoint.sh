#!/usr/bin/env bash
# First start: make the cluster in the volume, with a password for the postgres superuser and
# one role and one database per service (POSTGRES_SERVICES; each role's password from
# <SERVICE>_DB_PASSWORD), each database owned by its role and closed to everyone else. Later
# starts: just run the server. Passwords reach psql through its environment, never a command line.
set -euo pipefail

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
SERVICES="${POSTGRES_SERVICES:-gateway provisioner billing activity netbird audit webhooks}"
say() { printf '[postgres-entrypoint] %s\n' "$*" >&2; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    say "initializing the cluster in $PGDATA"
    pwfile="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    {
        echo "listen_addresses = '*'"
        echo "password_encryption = 'scram-sha-256'"
    } >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"

    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start >/dev/null
    for service in $SERVICES; do
        var="${service^^}_DB_PASSWORD"
        password="${!var:?$var is required}"
        ROLE_PASSWORD="$password" psql -v ON_ERROR_STOP=1 -q -h /var/run/postgresql \
            -U postgres -v role="$service" <<'SQL'
\getenv password ROLE_PASSWORD
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
        say "database and role: $service"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi

exec postgres -D "$PGDATA"
