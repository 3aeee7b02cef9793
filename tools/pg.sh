#!/usr/bin/env bash
# pg.sh - a PostgreSQL server of its own for the suites and the benchmark:
# made in a directory with initdb, listening on a Unix socket in that
# directory only (no TCP port), with trust for the local user "zmesh".
#
#   tools/pg.sh start DIR [--durable]   make and start it; prints its URI
#   tools/pg.sh stop DIR                stop it and remove DIR
#
# Without --durable it runs with fsync off, which is for tests. As root it
# runs as the user postgres (the server refuses to run as root). Needs
# Debian's postgresql package (tools/setup.sh installs it).
set -euo pipefail

usage () {
    echo "usage: tools/pg.sh start DIR [--durable] | stop DIR" >&2
    exit 2
}
[[ $# -ge 2 ]] || usage
command=$1 dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [[ -z $bin || ! -x $bin/pg_ctl ]]; then
    echo "pg.sh: no PostgreSQL server here: run tools/setup.sh" >&2
    exit 1
fi

# Run a server program as the user that owns the cluster.
as_owner () {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case $command in
start)
    fsync=off
    [[ ${3:-} == --durable ]] && fsync=on
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
    chmod 0700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U zmesh --auth=trust -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    # The socket's directory must be reachable by the suites' user
    chmod 0711 "$dir"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -c listen_addresses='' -c fsync=$fsync \
            -c max_connections=200" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql:///postgres?host=$dir&user=zmesh"
    ;;
stop)
    [[ -d $dir/data ]] || exit 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null \
        || true
    rm -rf "$dir"
    ;;
*)
    usage
    ;;
esac
