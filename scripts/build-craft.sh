#!/usr/bin/env bash
# Builds C-Raft (cowsql/raft) from a source tree in its default configuration and installs it
# under PREFIX, so that `make test-craft CRAFT_PREFIX=PREFIX` can compile classic-API programs
# against C-Raft's own raft.h and run them on its own libraft.so.0.
#
# Usage: scripts/build-craft.sh SRC PREFIX
#   SRC     a C-Raft source tree, e.g. one extracted from a release tag:
#             git -C cowsql-raft archive v0.22.1 | tar -x -C /tmp/craft-src
#   PREFIX  where to install (include/raft.h, include/raft/*.h, lib/libraft.so.0, ...)
#
# "Default configuration" means no ./configure options: the v0 (classic) API, the libuv raft_io
# (raft/uv.h) and the fixture (raft/fixture.h) are all enabled, as in distributions' builds.
# That is the header variant whose layout our classic API follows. Needs autoconf, automake,
# libtool, pkg-config, libuv1-dev and liblz4-dev (Debian package names). The build happens in a
# directory of its own (BUILD_DIR, default: a temporary one), so SRC is left untouched.
# JOBS sets make's parallelism (default: the number of CPUs).
set -euo pipefail

usage() {
    echo "usage: $0 SRC PREFIX" >&2
    exit 2
}

[ $# -eq 2 ] || usage
src=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no source tree at $1" >&2; exit 2; }
prefix=$2
case $prefix in
    /*) ;;
    *) prefix=$(pwd)/$prefix ;;
esac

if [ ! -f "$src/configure.ac" ] || ! grep -q 'AC_INIT(\[raft\]' "$src/configure.ac"; then
    echo "$0: $src does not look like a C-Raft source tree (no AC_INIT([raft]...) in configure.ac)" >&2
    exit 2
fi

missing=()
for tool in autoreconf aclocal automake libtoolize pkg-config make cc; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
for module in libuv liblz4; do
    pkg-config --exists "$module" 2>/dev/null || missing+=("$module (pkg-config)")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "$0: missing: ${missing[*]}" >&2
    echo "  on Debian: apt-get install -y autoconf automake libtool pkg-config libuv1-dev liblz4-dev" >&2
    exit 1
fi

# autoreconf writes into the tree it runs in: work on a copy so SRC stays as extracted. A
# temporary build tree is removed after a successful install and kept after a failure, for its
# logs; one named by BUILD_DIR is always kept.
if [ -n "${BUILD_DIR:-}" ]; then
    build=$BUILD_DIR
    keep_build=1
else
    build=$(mktemp -d "${TMPDIR:-/tmp}/craft-build.XXXXXX")
    keep_build=0
fi
mkdir -p "$build"
cp -a "$src/." "$build/"
cd "$build"

jobs=${JOBS:-$(nproc 2>/dev/null || echo 1)}
echo "== C-Raft: $(sed -n 's/^AC_INIT(\[raft\], \[\([^]]*\)\].*/\1/p' configure.ac) from $src, built in $build"
autoreconf -i >autoreconf.log 2>&1 || { cat autoreconf.log >&2; exit 1; }
./configure --prefix="$prefix" >configure.log || { tail -30 configure.log >&2; exit 1; }
# The summary of what configure enabled, so the log says which variant was built.
grep -E '^checking for (UV|LZ4)\.\.\.' configure.log || true
make -j"$jobs" >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
make install >install.log 2>&1 || { tail -40 install.log >&2; exit 1; }

echo "== installed under $prefix:"
ls "$prefix/include" "$prefix/include/raft" "$prefix/lib" | sed 's/^/   /'
# The default build must carry the v0 API in its header; say so loudly if it does not.
if ! grep -q 'struct raft_io' "$prefix/include/raft.h"; then
    echo "$0: $prefix/include/raft.h has no struct raft_io: not the v0-enabled variant" >&2
    exit 1
fi
if [ "$keep_build" = 1 ]; then
    echo "== done (build tree in $build)"
else
    cd /
    rm -rf "$build"
    echo "== done"
fi
