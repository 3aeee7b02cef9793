#!/usr/bin/env bash
# build.sh - configures and builds zmesh into build/ (or build-asan/ with
# --sanitize: AddressSanitizer + UndefinedBehaviorSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
options=()
if [[ ${1:-} == --sanitize ]]; then
    dir=build-asan
    options+=(-DZMESH_SANITIZE=ON)
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${options[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
