#!/bin/sh
# run.sh BUILD_DIR - install zmesh from BUILD_DIR into a fresh prefix, build
# hello_service against it outside the tree, once with find_package and
# once with pkg-config, and run both: each must print "ok".
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/zmesh-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(ls -d "$work"/prefix/lib*/cmake/zmesh | sed 's|/cmake/zmesh$||')

cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/cmake/hello_service" | grep -qx ok
echo "find_package: ok"

mkdir -p "$work/pc"
PKG_CONFIG_PATH=$libdir/pkgconfig make -s -C "$here" OUT="$work/pc" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/pc/hello_service" | grep -qx ok
echo "pkg-config: ok"
