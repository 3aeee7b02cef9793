#!/usr/bin/env bash
# check.sh - installs what is missing, builds, and runs every suite: the
# normal build, its unit suites once more under valgrind, then the
# AddressSanitizer + UndefinedBehaviorSanitizer build, and last the node
# shared between threads under ThreadSanitizer. The valgrind runs come
# after the rest, so that they do not slow the timed integration suites
# down. The store suites run on SQLite files and on a PostgreSQL server of
# their own (tools/pg.sh), on a Unix socket, stopped at the end; as root,
# the replicated demo (tools/demo-replicas.sh) runs once too.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

pg_dir=$(mktemp -d /tmp/zmesh-pg-XXXXXX)
trap 'tools/pg.sh stop "$pg_dir"' EXIT
ZMESH_TEST_PG=$(tools/pg.sh start "$pg_dir")
export ZMESH_TEST_PG

tools/build.sh
(cd build && ctest --output-on-failure -j 2 -LE valgrind)
# The replicated demo, end to end: three namespace hosts, PostgreSQL, a
# replica of each service killed and started again. Namespaces need root.
if [[ $(id -u) -eq 0 ]]; then
    tools/demo-replicas.sh --stop --orders 10
else
    echo "check: tools/demo-replicas.sh not run: it needs root" >&2
fi
(cd build && ctest --output-on-failure -j 2 -L valgrind)

tools/build.sh --sanitize
(cd build-asan && ctest --output-on-failure -j 2)

tools/build.sh --tsan
(cd build-tsan && ctest --output-on-failure)
