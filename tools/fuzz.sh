#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets (clang, AddressSanitizer and
# UndefinedBehaviorSanitizer) in build-fuzz/ and runs each one: the
# envelope decoder, the msgpack -> JSON renderer, and the gateway's JSON
# body parsing. Seeds come from proto/vectors; every input that ever made
# a target fail is kept in tests/fuzz/regressions/<target>/ and run first.
#
#     tools/fuzz.sh [SECONDS]        each target for SECONDS (default 60)
#     tools/fuzz.sh --runs N         each target for N executions
#
# Exits non-zero on the first crash, leak or hang, with the input saved
# under build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-max_total_time="${1:-60}")
if [[ ${1:-} == --runs ]]; then
    limit=(-runs="$2")
elif [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

tools/setup.sh clang libclang-rt-14-dev
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZMESH_SANITIZE=ON -DZMESH_FUZZ=ON \
    -DZMESH_BUILD_TESTS=OFF >/dev/null
targets=(envelope msgpack_json http_json gateway_route)
cmake --build build-fuzz -j "$(nproc)" --target fuzz_seeds \
    "${targets[@]/#/fuzz_}" >/dev/null

bin=build-fuzz/tests/fuzz
rm -rf build-fuzz/seeds
"$bin/fuzz_seeds" proto/vectors/envelope.zpl build-fuzz/seeds
mkdir -p build-fuzz/artifacts
for target in "${targets[@]}"; do
    corpus=build-fuzz/corpus/$target
    regressions=tests/fuzz/regressions/$target
    mkdir -p "$corpus" "$regressions"
    echo "fuzz: $target" >&2
    log=build-fuzz/$target.log
    if ! "$bin/fuzz_$target" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 \
            -artifact_prefix="build-fuzz/artifacts/$target-" \
            "$corpus" "$regressions" "build-fuzz/seeds/$target" > "$log" 2>&1
    then
        tail -n 40 "$log" >&2
        echo "fuzz: $target failed; the input is in build-fuzz/artifacts/" >&2
        exit 1
    fi
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" \
        | sed "s/^/fuzz: $target: /" >&2
done
echo "fuzz: no crash, leak or hang" >&2
