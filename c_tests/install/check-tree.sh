#!/usr/bin/env bash
# Checks what `make install` put under PREFIX_DIR (the staged /usr of make test-install) against
# the source tree it came from: the headers where C-Raft installs them and identical to the
# committed ones, the shared library under its soname with the development link, the static
# library, and raft.pc naming the prefix and the crate's version. Run from the source tree.
set -euo pipefail
prefix_dir="$1"
expected_prefix="${2:-/usr}"
failures=0

fail() {
  echo "check-tree: $*" >&2
  failures=$((failures + 1))
}

# The installed header set is exactly include/raft.h plus include/raft/*.h, byte for byte.
expected_headers() {
  (cd include && find . -name '*.h' | sed 's|^\./||' | sort)
}
installed_headers() {
  (cd "$prefix_dir/include" && find . -name '*.h' | sed 's|^\./||' | sort)
}
if ! diff -u <(expected_headers) <(installed_headers) >&2; then
  fail "the installed headers are not include/'s (-: source tree, +: installed)"
fi
while read -r header; do
  if [ -f "$prefix_dir/include/$header" ] && ! cmp -s "include/$header" "$prefix_dir/include/$header"; then
    fail "include/$header differs from its installed copy"
  fi
done < <(expected_headers)

# libraft.so -> libraft.so.0 -> libraft.so.0.0.0, whose soname is what programs record.
lib="$prefix_dir/lib"
[ "$(readlink "$lib/libraft.so")" = libraft.so.0 ] || fail "libraft.so must link to libraft.so.0"
[ "$(readlink "$lib/libraft.so.0")" = libraft.so.0.0.0 ] || fail "libraft.so.0 must link to libraft.so.0.0.0"
[ -f "$lib/libraft.so.0.0.0" ] && [ ! -L "$lib/libraft.so.0.0.0" ] || fail "libraft.so.0.0.0 must be a file"
soname=$(readelf -d "$lib/libraft.so.0.0.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libraft.so.0 ] || fail "soname is '$soname', expected libraft.so.0"
[ -f "$lib/libraft.a" ] || fail "libraft.a is missing (Cargo.toml builds a staticlib)"

# raft.pc: the prefix it was installed for and the crate's version.
pc="$lib/pkgconfig/raft.pc"
version=$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
grep -qx "prefix=$expected_prefix" "$pc" || fail "raft.pc does not say prefix=$expected_prefix"
grep -qx "Version: $version" "$pc" || fail "raft.pc does not say Version: $version"

if ((failures)); then
  echo "check-tree: $failures problem(s) in $prefix_dir" >&2
  exit 1
fi
echo "check-tree: $(installed_headers | wc -l) headers, libraft.so.0 (soname), libraft.a and raft.pc $version installed as expected"
