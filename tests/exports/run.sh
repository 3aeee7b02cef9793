#!/usr/bin/env bash
# run.sh LIBRARY INCLUDE_DIR - the shared library exports exactly the
# functions its public headers declare with ZMESH_EXPORT: no internal
# (zmesh__*, s_*) leaks out, and no public function is left hidden.
set -euo pipefail
library=$1 include=$2
exported=$(mktemp) declared=$(mktemp)
trap 'rm -f "$exported" "$declared"' EXIT
# Names with a leading underscore are the toolchain's (a sanitizer's, say).
nm -D --defined-only "$library" \
    | awk '($2 == "T" || $2 == "D" || $2 == "B") && $3 !~ /^_/ {print $3}' \
    | sort -u > "$exported"
# A declaration is ZMESH_EXPORT and the return type, then the indented name.
grep -h -A1 '^ZMESH_EXPORT ' "$include"/zmesh/*.h \
    | grep -oE '^ +zmesh_[a-z0-9_]+ \(' | tr -d ' (' | sort -u > "$declared"
if ! diff -u "$declared" "$exported"; then
    echo "exports: the lines with - are declared but not exported, with + exported but not declared" >&2
    exit 1
fi
echo "exports: $(wc -l < "$exported") functions, all of them public"
