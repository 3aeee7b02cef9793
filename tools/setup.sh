#!/usr/bin/env bash
# setup.sh - installs the Debian 12 packages that zmesh needs to build, test
# and run, and only those that are missing. Needs root when it installs.
# Packages named as arguments are wanted too (tools/bench.sh adds wrk).
set -euo pipefail

packages=(
    build-essential cmake pkg-config git
    libzmq3-dev libczmq-dev libmsgpack-dev uuid-dev libsqlite3-dev libpq-dev
    postgresql
    libjansson-dev libmicrohttpd-dev curl
    libcriterion-dev valgrind iproute2 help2man python3-zmq python3-msgpack
    "$@"
)

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root to install: ${missing[*]}" >&2
    exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
