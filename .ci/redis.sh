#!/usr/bin/env bash
# Install (if needed) and start a throwaway Redis for the rate-limit tests.
#
# Idempotent: a second call finds the running server and only prints its URL again.
# Exports nothing; the last line of stdout is the Redis URL, so a caller does
#
#     EPISTULA_TEST_REDIS_URL="$(bash .ci/redis.sh | tail -n 1)"
#
# Everything lives under $REDISTEST_DIR (default /tmp/epistula-redis); the server listens
# on 127.0.0.1:$REDISTEST_PORT (default 56379) only, without persistence.
set -euo pipefail

REDISTEST_DIR="${REDISTEST_DIR:-/tmp/epistula-redis}"
REDISTEST_PORT="${REDISTEST_PORT:-56379}"

log() { echo "redis.sh: $*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
    log "installing Redis from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq redis-server >&2
fi

mkdir -p "$REDISTEST_DIR"
if ! redis-cli -h 127.0.0.1 -p "$REDISTEST_PORT" ping >/dev/null 2>&1; then
    log "starting on 127.0.0.1:$REDISTEST_PORT"
    redis-server --port "$REDISTEST_PORT" --bind 127.0.0.1 --daemonize yes \
        --dir "$REDISTEST_DIR" --pidfile "$REDISTEST_DIR/redis.pid" --logfile "$REDISTEST_DIR/redis.log" \
        --save "" --appendonly no >&2
    for _ in $(seq 1 100); do
        if redis-cli -h 127.0.0.1 -p "$REDISTEST_PORT" ping >/dev/null 2>&1; then
            break
        fi
        sleep 0.1
    done
    redis-cli -h 127.0.0.1 -p "$REDISTEST_PORT" ping >/dev/null
fi

echo "redis://127.0.0.1:$REDISTEST_PORT/0"
