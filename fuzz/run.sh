#!/usr/bin/env bash
# Runs every cargo-fuzz target (the codecs' and the event sequences') for SECONDS seconds each
# (default 60).
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs a nightly toolchain (libFuzzer with sanitizer coverage) and cargo-fuzz, installed with
# `cargo install cargo-fuzz` if missing. Each target starts from its committed seeds
# (fuzz/seeds/TARGET) and a local corpus (fuzz/corpus/TARGET, not committed). A crash is copied
# to fuzz/regressions/TARGET/, which `cargo test --test fuzz_regressions` replays on stable: fix
# the bug, keep the file, commit both. The script exits non-zero if any target crashed.
set -euo pipefail

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(stream batch segment configuration metadata snapshot core_events ffi_events)
fi

cd "$(dirname "$0")"
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz/run.sh: a nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
# Separate from the stable build's target directory: sanitizer flags force a full rebuild.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}

failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "=== $target: ${seconds}s"
    if ! cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1; then
        failed+=("$target")
    fi
    for crash in artifacts/"$target"/*; do
        [ -e "$crash" ] || continue
        mkdir -p "regressions/$target"
        cp "$crash" "regressions/$target/"
        echo "saved $crash to regressions/$target/"
    done
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "crashes in: ${failed[*]} (inputs saved under fuzz/regressions/)" >&2
    exit 1
fi
echo "no crash in: ${targets[*]}"
