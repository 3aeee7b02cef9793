#!/usr/bin/env bash
# setup.sh - installs the Debian 12 packages that zmesh needs to build, test
# and run, and only those that are missing. Needs root when it installs.
# Packages named as arguments are wanted too (tools/bench.sh adds wrk).
set -euo pipefail

packages=(
    build-essential cmake pkg-config git
    libzmq3-dev libczmq-dev libmsgpack-dev uuid-dev libsqlite3-dev libpq-dev
    postgresql
    libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev curl
    libcriterion-dev valgrind iproute2 help2man python3-zmq python3-msgpack
    "$@"
)

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$package")
done
# The admin endpoint's test checks /metrics with promtool, from Debian's
# prometheus package: only that one program is taken out of it, since the
# package would install (and start) a Prometheus server too.
want_promtool=
command -v promtool >/dev/null || want_promtool=1
[[ ${#missing[@]} -eq 0 && -z $want_promtool ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root to install: ${missing[*]}${want_promtool:+ promtool}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Server packages (postgresql, and the bench's rabbitmq-server and
# nats-server) would start their servers as they install, some on every
# interface: while installing, a policy-rc.d refuses, if the machine has
# none. Our scripts start servers of their own, on loopback or a socket.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# tools/setup.sh: no service starts while it installs\nexit 101\n' \
        >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ -n $want_promtool ]]; then
    echo "setup: installing promtool (from Debian's prometheus package)" >&2
    download=$(mktemp -d)
    (cd "$download" && apt-get download -qq -o APT::Sandbox::User=root prometheus)
    dpkg-deb --fsys-tarfile "$download"/prometheus_*.deb \
        | tar -xO ./usr/bin/promtool > "$download/promtool"
    install -m 755 "$download/promtool" /usr/local/bin/promtool
    rm -rf "$download"
fi
