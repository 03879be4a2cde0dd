#!/bin/bash
# A private PostgreSQL 15 cluster for `make run` and `make test`; never the
# system one. Created on first start: role `netily` (password `netily`,
# CREATEDB) owning database `netily`, reachable on 127.0.0.1 with a password
# and on a unix socket in the cluster dir.
#
# Usage: scripts/pg.sh start|stop|status|url|destroy
#   NETILY_PG_DIR   cluster dir (default: <project>/.run/pg; data in DIR/data)
#   NETILY_PG_PORT  TCP port on 127.0.0.1 (default 55432)
#   NETILY_PG_OPTS  extra postgres options, e.g. "-c fsync=off" for tests
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${NETILY_PG_DIR:-$root/.run/pg}
port=${NETILY_PG_PORT:-55432}
user=${NETILY_PG_USER:-postgres}
bin=${NETILY_PG_BINDIR:-/usr/lib/postgresql/15/bin}
url="postgresql://netily:netily@127.0.0.1:$port/netily"

say() { echo "pg.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# initdb and postgres refuse root: run them as $user then.
as_pg() {
    # From / : the caller's cwd may be closed to $user.
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u "$user" -- "$@"); else "$@"; fi
}

pid_of() {
    local pid
    [ -f "$dir/postgres.pid" ] || return 1
    pid=$(cat "$dir/postgres.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # A recycled PID is not our server.
    grep -qa postgres "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

# Make $dir a directory the server user can reach. A project checked out
# under a private dir (mktemp -d is 0700) is unreachable for "postgres"; then
# the cluster lives in /var/tmp and $dir is a symlink to it.
prepare_dir() {
    if [ -d "$dir" ] || [ -L "$dir" ]; then return; fi
    mkdir -p "$(dirname "$dir")"
    if [ "$(id -u)" -eq 0 ] && ! as_pg test -x "$(dirname "$dir")"; then
        local real
        real=$(mktemp -d /var/tmp/netily-pg.XXXXXX)
        ln -s "$real" "$dir"
        say "$(dirname "$dir") is not reachable by $user; cluster in $real"
    else
        mkdir "$dir"
    fi
    if [ "$(id -u)" -eq 0 ]; then chown "$user:" "$(readlink -f "$dir")"; fi
    chmod 700 "$(readlink -f "$dir")"
}

cmd_start() {
    [ -x "$bin/postgres" ] || die "no PostgreSQL 15 in $bin; run scripts/install-deps.sh"
    if pid=$(pid_of); then
        say "already running (pid $pid) on 127.0.0.1:$port"
        return
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is already in use; set NETILY_PG_PORT"
    fi
    prepare_dir
    local real fresh=
    real=$(readlink -f "$dir")
    if [ ! -f "$real/data/PG_VERSION" ]; then
        say "creating cluster in $real/data"
        rm -rf "$real/data"
        # Socket: trust (only $user and root can enter the 0700 dir);
        # TCP: password.
        as_pg "$bin/initdb" -D "$real/data" -U postgres -E UTF8 --locale=C \
            --auth-local=trust --auth-host=scram-sha-256 --no-instructions >"$real/initdb.log" ||
            { cat "$real/initdb.log" >&2; die "initdb failed"; }
        fresh=1
    fi
    # pg_ctl daemonizes the server; we keep its PID and stop it by PID.
    # shellcheck disable=SC2086
    as_pg "$bin/pg_ctl" -D "$real/data" -l "$real/postgres.log" -w -t 60 \
        -o "-p $port -k $real -c listen_addresses=127.0.0.1 ${NETILY_PG_OPTS:-}" start >/dev/null ||
        { tail -n 20 "$real/postgres.log" >&2; die "postgres did not start"; }
    head -n 1 "$real/data/postmaster.pid" >"$real/postgres.pid"
    if [ -n "$fresh" ]; then
        as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$real" -p "$port" -U postgres -d postgres \
            -c "CREATE ROLE netily LOGIN CREATEDB PASSWORD 'netily'" \
            -c "CREATE DATABASE netily OWNER netily" >/dev/null
    fi
    say "running (pid $(cat "$real/postgres.pid")) on 127.0.0.1:$port"
}

cmd_stop() {
    local pid
    if ! pid=$(pid_of); then
        rm -f "$dir/postgres.pid"
        say "not running"
        return
    fi
    # SIGINT: fast shutdown, disconnecting clients rather than waiting for them.
    kill -INT "$pid"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid still running after 30 s; SIGQUIT"
        kill -QUIT "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$dir/postgres.pid"
    say "stopped (pid $pid)"
}

# Stop and delete the cluster (the throwaway one `make test` uses).
cmd_destroy() {
    cmd_stop
    if [ -L "$dir" ]; then rm -rf "$(readlink -f "$dir")"; fi
    rm -rf "$dir"
    say "removed $dir"
}

cmd_status() {
    local pid
    if pid=$(pid_of); then
        echo "running (pid $pid) on 127.0.0.1:$port, data in $(readlink -f "$dir")/data"
    else
        echo "stopped"
        exit 3
    fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
url) echo "$url" ;;
destroy) cmd_destroy ;;
*)
    echo "usage: $0 start|stop|status|url|destroy" >&2
    exit 2
    ;;
esac
