#!/usr/bin/env bash
# demo.sh - installs what is missing, builds, and runs zmesh's demo: one node
# publishes enveloped events over tcp loopback, another receives and prints
# them, all of one flow (one correlation id).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh

hello=build/examples/hello_events
count=5
coproc LISTENER { exec "$hello" listen --count "$count"; }
listener_pid=$LISTENER_PID
trap 'kill "$listener_pid" 2>/dev/null || true' EXIT
read -r endpoint <&"${LISTENER[0]}"
echo "demo: listener bound $endpoint; publishing $count events"
"$hello" publish --endpoint "$endpoint" --count "$count"
cat <&"${LISTENER[0]}"
wait "$listener_pid"
trap - EXIT
