#!/bin/bash
# Differential test of data directories: each implementation writes one (cleanly closed, and
# "crashed" with its open segment left), and both implementations' dumps of it must be
# identical and complete.  Usage: run.sh UVDIR_CRAFT UVDIR_OURS
set -euo pipefail
craft=$1
ours=$2
work=$(mktemp -d /tmp/raft-uv-diff-XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
passes=0
for writer in craft ours; do
  for mode in closed crash; do
    dir=$work/$writer-$mode
    mkdir "$dir"
    writer_bin=${!writer}
    if [ "$mode" = crash ]; then "$writer_bin" write "$dir" crash; else "$writer_bin" write "$dir"; fi
    if [ "$mode" = crash ] && ! ls "$dir" | grep -q '^open-'; then
      echo "FAIL: $writer-$mode: no open segment left to recover"; failures=$((failures + 1))
    fi
    if [ "$mode" = crash ]; then
      # A crash can also leave a segment prepared ahead of need (both implementations make
      # them): the next counter, the format version, zeros. Both loaders must pass over it.
      last=$(ls "$dir" | sed -n 's/^open-//p' | sort -n | tail -1)
      spare="$dir/open-$((last + 1))"
      printf '\001\000\000\000\000\000\000\000' > "$spare"
      truncate -s 8192 "$spare"
    fi
    # Each reader loads its own copy: a load recovers open segments (renames them), and the
    # second reader must meet the directory as the writer left it.
    cp -a "$dir" "$dir.for-craft"
    "$craft" dump "$dir.for-craft" > "$work/$writer-$mode.by-craft"
    "$ours" dump "$dir" > "$work/$writer-$mode.by-ours"
    if ! grep -q '^308: term 3' "$work/$writer-$mode.by-ours"; then
      echo "FAIL: $writer-$mode: the dump does not reach index 308"; failures=$((failures + 1))
    elif diff -u "$work/$writer-$mode.by-craft" "$work/$writer-$mode.by-ours"; then
      echo "ok: directory written by $writer ($mode): identical dumps ($(wc -l < "$work/$writer-$mode.by-ours") lines)"
      passes=$((passes + 1))
    else
      echo "FAIL: $writer-$mode: the dumps differ"; failures=$((failures + 1))
    fi
  done
done
# The same operations give the same state, whoever wrote it.
for mode in closed crash; do
  if diff -u "$work/craft-$mode.by-craft" "$work/ours-$mode.by-craft" > /dev/null; then
    echo "ok: same state written by both ($mode)"; passes=$((passes + 1))
  else
    echo "FAIL: the states written by C-Raft and by us differ ($mode)"; failures=$((failures + 1))
  fi
done
echo "uv-diff: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
