#!/usr/bin/env bash
# check.sh - installs what is missing, builds, and runs every suite: the
# normal build (unit suites also under valgrind), then the AddressSanitizer +
# UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

tools/build.sh
(cd build && ctest --output-on-failure -j 2)

tools/build.sh --sanitize
(cd build-asan && ctest --output-on-failure -j 2)
