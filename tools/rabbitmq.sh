#!/usr/bin/env bash
# rabbitmq.sh - a RabbitMQ server of its own for the benchmark: its node,
# its database, its logs and its Erlang cookie in a directory, listening
# on 127.0.0.1 only (AMQP, Erlang distribution and epmd alike), with no
# plugins (so no management listener), and the default user guest, which
# RabbitMQ lets in on loopback only.
#
#   tools/rabbitmq.sh start DIR    make and start it; prints its URL
#   tools/rabbitmq.sh stop DIR     stop it (and its epmd) and remove DIR
#
# It starts an epmd of its own, on a loopback port, since epmd outlives
# the server that would start one. Both are stopped by the pids recorded
# in DIR. Needs Debian's rabbitmq-server package (tools/bench.sh installs
# it, without letting the package start a server of its own).
set -euo pipefail

usage () {
    echo "usage: tools/rabbitmq.sh start DIR | stop DIR" >&2
    exit 2
}
[[ $# -eq 2 ]] || usage
command=$1 dir=$2
server=/usr/lib/rabbitmq/bin/rabbitmq-server
if [[ ! -x $server ]] || ! command -v epmd >/dev/null; then
    echo "rabbitmq.sh: no RabbitMQ server here: install rabbitmq-server" >&2
    exit 1
fi

# A TCP port that nothing listens on, on loopback.
free_port () {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if [[ -z $(ss -Hltn "( sport = :$port )") ]]; then
            echo "$port"
            return
        fi
    done
    echo "rabbitmq.sh: no free port" >&2
    exit 1
}

# Stop the process whose pid is in file, if it still runs: TERM, then
# KILL after 30 s.
stop_pid () {
    local pid
    [[ -f $1 ]] || return 0
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

case $command in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    amqp=$(free_port) dist=$(free_port) epmd_port=$(free_port)
    epmd -address 127.0.0.1 -port "$epmd_port" </dev/null \
        >"$dir/epmd.log" 2>&1 &
    echo $! >"$dir/epmd.pid"
    echo "listeners.tcp.default = 127.0.0.1:$amqp" >"$dir/rabbitmq.conf"
    echo "[]." >"$dir/enabled_plugins"
    # The script, not its wrapper (which would switch to the user
    # rabbitmq): it stops the Erlang VM when it gets TERM
    env HOME="$dir" \
        RABBITMQ_NODENAME=zbench@localhost \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp" \
        RABBITMQ_DIST_PORT="$dist" \
        ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$epmd_port" \
        RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
        RABBITMQ_CONFIG_FILE="$dir/rabbitmq" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        "$server" </dev/null >"$dir/server.log" 2>&1 &
    echo $! >"$dir/server.pid"
    for _ in $(seq 600); do
        if [[ -n $(ss -Hltn "( sport = :$amqp )") ]]; then
            echo "amqp://127.0.0.1:$amqp"
            exit 0
        fi
        kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "rabbitmq.sh: the server did not start; see $dir/server.log" >&2
    stop_pid "$dir/server.pid"
    stop_pid "$dir/epmd.pid"
    exit 1
    ;;
stop)
    [[ -d $dir ]] || exit 0
    stop_pid "$dir/server.pid"
    stop_pid "$dir/epmd.pid"
    rm -rf "$dir"
    ;;
*)
    usage
    ;;
esac
