#!/bin/sh
# run.sh BUILD_DIR - install zmesh from BUILD_DIR into a fresh prefix, build
# the tutorial's greeter and friend against it outside the tree, once with
# find_package and once with pkg-config, and run each pair: the friend
# must get its greeting.
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/zmesh-install.XXXXXX)
greeter=
cleanup () {
    [ -n "$greeter" ] && kill "$greeter" 2>/dev/null && wait "$greeter" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(ls -d "$work"/prefix/lib*/cmake/zmesh | sed 's|/cmake/zmesh$||')

#  run DIR: the greeter in the background, the friend against it
run () {
    LD_LIBRARY_PATH=$libdir "$1/greeter" --set "node/events=ipc://$work/e" \
        --set "node/calls=ipc://$work/c" >/dev/null 2>&1 &
    greeter=$!
    LD_LIBRARY_PATH=$libdir "$1/friend" Ada \
        --set "peers/greeter/events=ipc://$work/e" \
        --set "peers/greeter/calls=ipc://$work/c" 2>/dev/null \
        | grep -qx "reply: hello, Ada"
    kill "$greeter"
    wait "$greeter" || true
    greeter=
}

cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
run "$work/cmake"
echo "find_package: ok"

mkdir -p "$work/pc"
PKG_CONFIG_PATH=$libdir/pkgconfig make -s -C "$here" OUT="$work/pc" >/dev/null
run "$work/pc"
echo "pkg-config: ok"
