#!/usr/bin/env bash
# demo-replicas.sh - the demo mesh as two replicas of each service on three
# hosts: network namespaces zr-h1..zr-h3 on a bridge (10.77.0.0/24) that
# this script makes and removes, and a PostgreSQL server of its own
# (tools/pg.sh, on a Unix socket under demo-data/replicas), one database
# per service, which the service's two replicas share. Needs root.
#
#   h1 10.77.0.1: gateway, user-a, order-a
#   h2 10.77.0.2: user-b, inventory-a, payment-a
#   h3 10.77.0.3: order-b, inventory-b, payment-b
#
# It places orders through the gateway, SIGKILLs order-a, inventory-a and
# payment-a, places more, starts them again, and shows that every order
# was paid once and that both replicas of each service took a share. Then
# the mesh runs until Ctrl-C; --stop ends it once that is shown.
#
#   tools/demo-replicas.sh [--stop] [--orders N] [--help]
set -euo pipefail
cd "$(dirname "$0")/.."

stop=0
count=20
while [[ $# -gt 0 ]]; do
    case "$1" in
        --stop) stop=1 ;;
        --orders) count="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo-replicas: unknown option $1; try --help" >&2; exit 2 ;;
    esac
    shift
done
[[ $count =~ ^[0-9]+$ && $count -ge 1 && $count -le 1000 ]] \
    || { echo "demo-replicas: --orders wants 1 to 1000" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] \
    || { echo "demo-replicas: making network namespaces needs root" >&2; exit 1; }

tools/setup.sh
tools/build.sh >/dev/null

data=$PWD/demo-data/replicas
bin=$PWD/build/nodes
net=10.77.0
declare -A pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in zr-h1 zr-h2 zr-h3 zr-sw; do ip netns del "$ns" 2>/dev/null || true; done
    tools/pg.sh stop "$data/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM
cleanup
rm -rf "$data"
mkdir -p "$data"

# Three hosts, each a veth on one bridge.
ip netns add zr-sw
ip -n zr-sw link add br0 type bridge
ip -n zr-sw link set br0 up
for host in 1 2 3; do
    ip netns add "zr-h$host"
    ip link add "zr-h$host" type veth peer name "zr-s$host"
    ip link set "zr-h$host" netns "zr-h$host"
    ip link set "zr-s$host" netns zr-sw
    ip -n zr-sw link set "zr-s$host" master br0 up
    ip -n "zr-h$host" addr add "$net.$host/24" dev "zr-h$host"
    ip -n "zr-h$host" link set "zr-h$host" up
    ip -n "zr-h$host" link set lo up
done

# One database per service, on a Unix socket every namespace sees.
uri=$(tools/pg.sh start "$data/pg")
socket=${uri#*host=}
socket=${socket%%&*}
for service in user order inventory payment; do
    psql -q "$uri" -c "CREATE DATABASE \"$service\"" >/dev/null
done

# Where each instance runs, and its two ports (events, calls).
declare -A host=([user-a]=1 [order-a]=1 [user-b]=2 [inventory-a]=2
                 [payment-a]=2 [order-b]=3 [inventory-b]=3 [payment-b]=3
                 [gateway]=1)
declare -A port=([user-a]=7710 [user-b]=7712 [order-a]=7720 [order-b]=7722
                 [inventory-a]=7730 [inventory-b]=7732 [payment-a]=7740
                 [payment-b]=7742 [gateway]=7750)
instances=(user-a user-b order-a order-b inventory-a inventory-b payment-a
           payment-b)

start() {       # start NAME EXTRA...: in its host's namespace
    local name=$1; shift
    local service=${name%-?} args=()
    [[ $name == gateway ]] && service=gateway
    local address=$net.${host[$name]}
    [[ $service == gateway ]] || args+=(--name "$name")   # Its own default
    args+=(--set "node/service=$service"
           --set "node/events=tcp://$address:${port[$name]}"
           --set "node/calls=tcp://$address:$((${port[$name]} + 1))"
           --set timing/heartbeat=250 --set timing/quiet=1000
           --set "access/admins=*")
    if [[ $service == gateway ]]; then
        args+=(--set "node/data=$data/gateway" --set service/http_host=0.0.0.0)
    else
        args+=(--set "node/data=postgresql:///$service?host=$socket&user=zmesh")
    fi
    for peer in "${instances[@]}"; do
        [[ $peer == "$name" ]] && continue
        local at=$net.${host[$peer]}
        args+=(--set "peers/$peer/service=${peer%-?}"
               --set "peers/$peer/events=tcp://$at:${port[$peer]}"
               --set "peers/$peer/calls=tcp://$at:$((${port[$peer]} + 1))")
    done
    ip netns exec "zr-h${host[$name]}" "$bin/zmesh-$service" "${args[@]}" "$@" \
        > "$data/$name.out" 2>> "$data/$name.log" &
    pids[$name]=$!
}
for name in "${instances[@]}"; do
    case $name in
        inventory-*) start "$name" --set service/stock=100000 ;;
        *) start "$name" ;;
    esac
done
start gateway --set service/http_port=8080
for _ in $(seq 100); do
    grep -q http= "$data/gateway.out" 2>/dev/null && break
    sleep 0.1
done
grep -q http= "$data/gateway.out" \
    || { echo "demo-replicas: the gateway did not start; see $data/gateway.log" >&2; exit 1; }
sleep 1         # The replicas hear each other
echo "demo-replicas: two replicas of user, order, inventory and payment on three hosts, over PostgreSQL"

api=http://$net.1:8080
http() { ip netns exec zr-h2 curl -s --max-time 10 "$@"; }     # from another host
field() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"; }
user_id=$(http -X POST "$api/users" -d '{"name": "Ada", "email": "ada@example.org"}' | field id)
[[ -n $user_id ]] || { echo "demo-replicas: no user; see $data/*.log" >&2; exit 1; }
orders=()
place() {       # place N: N orders of one book
    for _ in $(seq "$1"); do
        local id
        id=$(http -X POST "$api/orders" \
            -d "{\"userId\": \"$user_id\", \"items\": [{\"productId\": \"p-book\", \"quantity\": 1, \"price\": 1250}]}" \
            | field id)
        if [[ -n $id ]]; then orders+=("$id"); fi
    done
}
place "$count"
echo "demo-replicas: $count orders placed; killing order-a, inventory-a and payment-a"
for name in order-a inventory-a payment-a; do
    kill -KILL "${pids[$name]}"
    wait "${pids[$name]}" 2>/dev/null || true
    unset "pids[$name]"
done
place "$count"
echo "demo-replicas: $count more placed with them down; starting them again"
start order-a
start inventory-a --set service/stock=100000
start payment-a
sleep 1
place "$count"

paid=0
for id in "${orders[@]}"; do
    for _ in $(seq 200); do
        status=$(http "$api/orders/$id" | field status)
        [[ $status == paid || $status == cancelled ]] && break
        sleep 0.1
    done
    [[ $status == paid ]] && paid=$((paid + 1))
done
# Who did what, from the shared stores: each replica's log.
tally() {       # tally DATABASE TYPE
    psql -qtA "postgresql:///$1?host=$socket&user=zmesh" \
        -c "SELECT publisher || ' ' || COUNT (*) FROM events WHERE type = '$2' GROUP BY publisher ORDER BY publisher" \
        | tr '\n' ' '
}
charges=$(psql -qtA "postgresql:///payment?host=$socket&user=zmesh" \
    -c "SELECT COUNT (*) FROM events WHERE type = 'payment.processed'")
twice=$(psql -qtA "postgresql:///payment?host=$socket&user=zmesh" \
    -c "SELECT COUNT (*) FROM (SELECT stream FROM events WHERE type = 'payment.processed' GROUP BY stream HAVING COUNT (*) > 1) AS t")
echo "demo-replicas: ${#orders[@]} orders accepted, $paid paid; $charges charges, $twice orders charged twice"
echo "demo-replicas: order.placed by $(tally order order.placed)"
echo "demo-replicas: inventory.reserved by $(tally inventory inventory.reserved)"
echo "demo-replicas: payment.processed by $(tally payment payment.processed)"
# (An order whose answer was lost with a killed replica may be paid too,
# though curl saw no id: so charges may exceed the orders accepted.)
[[ $paid -eq ${#orders[@]} && $charges -ge $paid && $twice -eq 0 ]] \
    || { echo "demo-replicas: not every order was paid once; see $data/*.log" >&2; exit 1; }

if [[ $stop -eq 1 ]]; then
    echo "demo-replicas: stopping"
    exit 0
fi
echo "demo-replicas: the mesh runs until Ctrl-C; the gateway is $api in namespace zr-h1 (ip netns exec zr-h1 curl ...); logs in $data/*.log"
wait
