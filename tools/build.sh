#!/usr/bin/env bash
# build.sh - configures and builds zmesh into build/ (or build-asan/ with
# --sanitize: AddressSanitizer + UndefinedBehaviorSanitizer; or, with
# --tsan, only the library and tests/threads under ThreadSanitizer, into
# build-tsan/).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
options=()
targets=()
case ${1:-} in
    --sanitize) dir=build-asan; options+=(-DZMESH_SANITIZE=ON) ;;
    --tsan) dir=build-tsan; targets+=(--target test_threads)
            options+=(-DZMESH_TSAN=ON -DZMESH_BUILD_TESTS=OFF) ;;
esac
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${options[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
