#!/usr/bin/env bash
# Install (if needed) and start a throwaway PostgreSQL cluster for the storage tests.
#
# Idempotent: a second call finds the running cluster and only prints its URL again.
# Exports nothing; the last line of stdout is the database URL, so a caller does
#
#     EPISTULA_TEST_POSTGRES_URL="$(bash .ci/postgres.sh | tail -n 1)"
#
# Everything lives under $PGTEST_DIR (default /tmp/epistula-pg); the server listens on
# 127.0.0.1:$PGTEST_PORT (default 55432) and on a unix socket in that directory.
set -euo pipefail

PGTEST_DIR="${PGTEST_DIR:-/tmp/epistula-pg}"
PGTEST_PORT="${PGTEST_PORT:-55432}"
DB_NAME="epistula_test"
DB_USER="epistula"
DB_PASS="epistula"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
            echo "$d"
        fi
    done | sort -V | tail -n 1
}

BINDIR="$(find_bindir || true)"
if [ -z "$BINDIR" ]; then
    log "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BINDIR="$(find_bindir)"
fi

# The server refuses to run as root: run it as the `postgres` account the package creates.
as_pg() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

mkdir -p "$PGTEST_DIR"
if [ "$(id -u)" = "0" ]; then
    chown postgres:postgres "$PGTEST_DIR"
fi
DATA="$PGTEST_DIR/data"

if [ ! -s "$DATA/PG_VERSION" ]; then
    log "initdb in $DATA"
    as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >&2
fi

if ! as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "starting on 127.0.0.1:$PGTEST_PORT"
    as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$PGTEST_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PGTEST_PORT -k $PGTEST_DIR -c fsync=off" start >&2
fi

psql_pg() {
    as_pg "$BINDIR/psql" -h "$PGTEST_DIR" -p "$PGTEST_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

if [ "$(psql_pg -c "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" != "1" ]; then
    psql_pg -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS'" >&2
fi
if [ "$(psql_pg -c "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")" != "1" ]; then
    psql_pg -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >&2
fi

echo "postgresql://$DB_USER:$DB_PASS@127.0.0.1:$PGTEST_PORT/$DB_NAME"
