#!/usr/bin/env bash
# Builds C-Raft's own fixture tests (test/integration/test_fixture.c and its munit harness, from
# a C-Raft source tree) against the headers of a C-Raft installation, then runs the binary on
# that C-Raft and on our library. Nothing of C-Raft is copied into this repository: the build
# happens in a scratch directory.
#
#   scripts/craft-fixture-tests.sh CRAFT_SRC CRAFT_PREFIX OUR_LIBDIR
set -euo pipefail
src=$1 prefix=$2 ours=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The tests include "../../include/raft.h" (the source tree's, which is generated): stage the
# installed headers where they look for them.
cp -r "$src/test" "$src/src" "$work/"
mkdir -p "$work/include"
cp -r "$prefix/include/." "$work/include/"
cc -std=c11 -g -O1 -o "$work/test_fixture" "$work/test/integration/test_fixture.c" \
    "$work/test/integration/main_core.c" "$work/test/lib/fsm.c" "$work/test/lib/heap.c" \
    "$work/test/lib/fault.c" "$work/test/lib/munit.c" -L"$prefix/lib" -lraft
for lib in "$prefix/lib" "$ours"; do
    found=$(LD_LIBRARY_PATH=$lib ldd "$work/test_fixture" | awk '$1 == "libraft.so.0" {print $3}')
    case "$found" in "$lib"/*) ;; *) echo "expected libraft.so.0 from $lib, got $found" >&2; exit 1;; esac
    echo "== C-Raft's test_fixture.c (compiled against $prefix/include) on $found"
    LD_LIBRARY_PATH=$lib "$work/test_fixture" 2>/dev/null | tail -1
    LD_LIBRARY_PATH=$lib "$work/test_fixture" >/dev/null 2>&1
done
