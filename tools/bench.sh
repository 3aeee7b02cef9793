#!/usr/bin/env bash
# bench.sh - the benchmark in one command: installs what it needs (wrk; and
# Node.js with npm, for the express counterpart of the edge section, unless
# --quick), builds, starts a PostgreSQL server of its own (tools/pg.sh, on
# a Unix socket, stopped at the end), and runs zmesh-bench, which measures
# zmesh and raw libzmq side by side and writes the table to docs/bench.md
# (with --quick, to build/bench-quick.md). Other options go to zmesh-bench: see
# build/tools/zmesh-bench --help.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
    case "$arg" in
        -q|--quick) quick=1 ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    esac
done

extra=(wrk)
if [[ $quick -eq 0 ]] && ! command -v npm >/dev/null; then
    extra+=(nodejs npm)
fi
tools/setup.sh "${extra[@]}"
tools/build.sh >/dev/null

# A PostgreSQL server of its own, fsync on, for the store's rows; stopped
# when the bench ends
pg_dir=$(mktemp -d /tmp/zmesh-bench-pg-XXXXXX)
trap 'tools/pg.sh stop "$pg_dir"' EXIT
pg_uri=$(tools/pg.sh start "$pg_dir" --durable)

options=(--postgresql "$pg_uri")
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
