#!/usr/bin/env bash
# demo.sh - installs what is missing, builds, and runs the demo mesh on this
# host: the user, order, inventory and payment nodes and the HTTP gateway,
# each its own process, on loopback, with their stores under demo-data/.
# It drives a short scenario through the gateway with curl, prints what
# happened to each order and its correlation id, and leaves the mesh running
# until Ctrl-C; --stop stops it as soon as the scenario is done.
#
#   tools/demo.sh [--stop] [--port HTTP_PORT] [--help]
set -euo pipefail
cd "$(dirname "$0")/.."

stop=0
port=8080
while [[ $# -gt 0 ]]; do
    case "$1" in
        --stop) stop=1 ;;
        --port) port="$2"; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown option $1; try --help" >&2; exit 2 ;;
    esac
    shift
done

tools/setup.sh
tools/build.sh >/dev/null

data=demo-data
rm -rf "$data"
mkdir -p "$data"
bin=build/nodes
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Every node on loopback, at its own three ports: events, calls and its
# admin endpoint (/healthz, /readyz, /metrics).
declare -A base=([user]=7710 [order]=7720 [inventory]=7730 [payment]=7740
                 [gateway]=7750)
endpoints() {   # endpoints NODE PEER... -> --set arguments
    local node=$1; shift
    echo "--set node/events=tcp://127.0.0.1:${base[$node]}"
    echo "--set node/calls=tcp://127.0.0.1:$((${base[$node]} + 1))"
    echo "--set node/data=$data/$node"
    echo "--set admin/port=$((${base[$node]} + 2))"
    for peer in "$@"; do
        echo "--set peers/$peer/events=tcp://127.0.0.1:${base[$peer]}"
        echo "--set peers/$peer/calls=tcp://127.0.0.1:$((${base[$peer]} + 1))"
    done
}
start() {       # start NODE "PEERS" EXTRA...
    local node=$1 peers=$2; shift 2
    # Administrative built-ins (zmesh trace, tap, dlq) for anyone: one host,
    # no security
    # shellcheck disable=SC2046
    "$bin/zmesh-$node" $(endpoints "$node" $peers) --set "access/admins=*" "$@" \
        > "$data/$node.out" 2> "$data/$node.log" &
    pids+=($!)
}
start user ""
start order "user inventory payment"
start inventory "order" --set service/stock=10
start payment "inventory" --set service/limit=100000 --set service/latency_ms=50
start gateway "user order" --set service/http_port="$port"

for _ in $(seq 50); do
    grep -q http= "$data/gateway.out" 2>/dev/null && break
    sleep 0.1
done
grep -q http= "$data/gateway.out" || { echo "demo: the gateway did not start; see $data/gateway.log" >&2; exit 1; }
echo "demo: mesh up: user, order, inventory, payment, gateway on http://127.0.0.1:$port"

api=http://127.0.0.1:$port
field() {       # field NAME < json -> its string value
    sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"
}
user=$(curl -s -X POST "$api/users" -d '{"name": "Ada", "email": "ada@example.org"}')
user_id=$(field id <<< "$user")
echo "demo: user $user_id created"

order() {       # order QUANTITY PRICE LABEL
    local reply cid id
    reply=$(curl -s -i -X POST "$api/orders" \
        -d "{\"userId\": \"$user_id\", \"items\": [{\"productId\": \"p-book\", \"quantity\": $1, \"price\": $2}]}")
    cid=$(grep -i '^X-Correlation-ID:' <<< "$reply" | tr -d '\r' | cut -d' ' -f2)
    id=$(tail -n 1 <<< "$reply" | field id)
    echo "$id $cid $3"
}
orders=("$(order 2 1250 'two books')" "$(order 50 100 'fifty books, more than in stock')"
        "$(order 1 250000 'one book over the card limit')")

for entry in "${orders[@]}"; do
    read -r id cid label <<< "$entry"
    status=pending
    for _ in $(seq 100); do
        status=$(curl -s "$api/orders/$id" | field status)
        [[ $status == paid || $status == cancelled ]] && break
        sleep 0.1
    done
    printf 'demo: order %s (%s): %s, correlation %s\n' "$id" "$label" "$status" "$cid"
done
unknown=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$api/orders" \
    -d '{"userId": "00000000-0000-4000-8000-000000000000", "items": [{"productId": "p-book", "quantity": 1, "price": 1}]}')
echo "demo: an order for an unknown user: HTTP $unknown"
echo "demo: metrics: $(curl -s "$api/metrics" | grep -c '^zmesh_') series at $api/metrics"
for node in user order inventory payment; do
    admin=http://127.0.0.1:$((${base[$node]} + 2))
    echo "demo: $node: $(curl -s "$admin/readyz"), $(curl -s "$admin/metrics" | grep -c '^zmesh_') series at $admin/metrics"
done

if [[ $stop -eq 1 ]]; then
    echo "demo: stopping"
    exit 0
fi
echo "demo: the mesh runs until Ctrl-C; logs in $data/*.log"
wait
