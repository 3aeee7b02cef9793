#!/usr/bin/env bash
# bench.sh - the benchmark in one command: installs what it needs (wrk; and
# unless --quick, Node.js with npm, for the express counterpart of the edge
# section, nats-server with libnats, for the nats section, and
# rabbitmq-server with librabbitmq, for the durable section's), builds,
# starts a PostgreSQL server of its own (tools/pg.sh, on a Unix socket), a
# nats-server and a RabbitMQ server (tools/rabbitmq.sh) on loopback, all
# stopped at the end, and runs zmesh-bench, which measures zmesh and its
# counterparts side by side and writes the table to docs/bench.md (with
# --quick, to build/bench-quick.md).
# Other options go to zmesh-bench: see build/tools/zmesh-bench --help.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
    case "$arg" in
        -q|--quick) quick=1 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    esac
done

extra=(wrk)
if [[ $quick -eq 0 ]]; then
    command -v npm >/dev/null || extra+=(nodejs npm)
    extra+=(nats-server libnats-dev rabbitmq-server librabbitmq-dev)
fi
tools/setup.sh "${extra[@]}"
tools/build.sh >/dev/null

# A PostgreSQL server of its own, fsync on, for the store's rows; and, but
# for --quick, a nats-server and a RabbitMQ server on loopback at ports of
# their choosing. All are stopped when the bench ends.
pg_dir=$(mktemp -d /tmp/zmesh-bench-pg-XXXXXX)
rabbitmq_dir=$pg_dir.rabbitmq
nats_pid=
stop_servers() {
    if [[ -n $nats_pid ]]; then
        kill "$nats_pid" 2>/dev/null || true
        wait "$nats_pid" 2>/dev/null || true
    fi
    tools/rabbitmq.sh stop "$rabbitmq_dir" || true
    tools/pg.sh stop "$pg_dir"
}
trap stop_servers EXIT
pg_uri=$(tools/pg.sh start "$pg_dir" --durable)

options=(--postgresql "$pg_uri")
if [[ $quick -eq 0 ]]; then
    /usr/sbin/nats-server -a 127.0.0.1 -p -1 -l "$pg_dir/nats.log" &
    nats_pid=$!
    nats_url=
    for _ in $(seq 50); do
        nats_url=$(sed -n 's/.*Listening for client connections on \(127.0.0.1:[0-9]*\).*/nats:\/\/\1/p' "$pg_dir/nats.log" 2>/dev/null | head -1 || true)
        [[ -n $nats_url ]] && break
        sleep 0.1
    done
    if [[ -n $nats_url ]]; then
        options+=(--nats "$nats_url")
    else
        echo "bench: nats-server did not start; see $pg_dir/nats.log" >&2
    fi
    if rabbitmq_url=$(tools/rabbitmq.sh start "$rabbitmq_dir"); then
        options+=(--rabbitmq "$rabbitmq_url")
    fi
fi
if [[ $quick -eq 1 ]]; then
    options+=(--report build/bench-quick.md)
else
    mkdir -p docs
    options+=(--report docs/bench.md)
    modules=build/bench-express
    if [[ ! -d $modules/node_modules/express ]]; then
        npm install --prefix "$modules" --no-audit --no-fund --silent \
            express@4 uuid@9 >/dev/null 2>&1 \
            || echo "bench: npm could not install express; the edge will have no counterpart" >&2
    fi
    if [[ -d $modules/node_modules/express ]]; then
        export NODE_PATH="$PWD/$modules/node_modules"
        options+=(--express tools/bench/express_orders.js)
    fi
fi
build/tools/zmesh-bench "${options[@]}" "$@"
