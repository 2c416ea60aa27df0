#!/usr/bin/env bash
# The example cluster end to end: 3 nodes on 127.0.0.1 in a temporary directory; write keys,
# kill -9 the leader, watch the election, keep writing, restart the killed node and watch it
# catch up (through a snapshot: it is far behind), compare the three state machines, stop
# everything with SIGTERM, tear an open segment's tail, restart and compare again.
# Every process started here is stopped on exit, failure or Ctrl-C.
set -euo pipefail

BUILD=${BUILD:-build}
NODE=$BUILD/examples/node
CLIENT=$BUILD/examples/client
KEYS1=${DEMO_KEYS1:-2000}
KEYS2=${DEMO_KEYS2:-1500}
BASE=${DEMO_PORT:-$((20000 + (RANDOM % 1200) * 10))}  # below the ephemeral ports (32768-)
DIR=$(mktemp -d "${TMPDIR:-/tmp}/raft-demo.XXXXXX")
declare -A PID=()

cleanup() {
    local status=$?
    for id in "${!PID[@]}"; do
        kill -9 "${PID[$id]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        echo "demo FAILED (status $status); logs kept in $DIR" >&2
        tail -n 5 "$DIR"/n*.log >&2 || true
    else
        rm -rf "$DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLUSTER="1=127.0.0.1:$((BASE + 1)),2=127.0.0.1:$((BASE + 2)),3=127.0.0.1:$((BASE + 3))"
client_addr() { echo "127.0.0.1:$((BASE + 1000 + $1))"; }
ALL="$(client_addr 1),$(client_addr 2),$(client_addr 3)"
ms() { date +%s%3N; }
say() { printf '\n== %s\n' "$*"; }

start() {
    "$NODE" --id "$1" --cluster "$CLUSTER" --dir "$DIR/n$1" --snapshot-every 500 \
        --trailing 100 >>"$DIR/n$1.log" 2>&1 &
    PID[$1]=$!
}

status() { "$CLIENT" "$(client_addr "$1")" status 2>/dev/null || echo "down"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# Waits until one of the given nodes is leader; prints its ID.
wait_leader() {
    local deadline=$(($(ms) + 15000))
    while [ "$(ms)" -lt "$deadline" ]; do
        for id in "$@"; do
            if [ "$(status "$id" | field state)" = leader ]; then
                echo "$id"
                return 0
            fi
        done
        sleep 0.05
    done
    echo "no leader among $*" >&2
    return 1
}

# Waits until the given nodes report the same state machine digest (the one in $EXPECT, when
# set); prints it.
wait_converged() {
    local deadline=$(($(ms) + 30000)) hashes
    while [ "$(ms)" -lt "$deadline" ]; do
        # Digest and key count (field 3, the applied index, moves with barriers).
        hashes=$(for id in "$@"; do "$CLIENT" "$(client_addr "$id")" hash 2>/dev/null ||
            echo "down $id"; done | awk '{print $1, $2, $4}' | sort -u)
        if [ "$(echo "$hashes" | wc -l)" -eq 1 ] && [[ $hashes == HASH* ]] &&
            [ -z "${EXPECT:-}" -o "$hashes" = "${EXPECT:-}" ]; then
            echo "$hashes"
            return 0
        fi
        sleep 0.1
    done
    echo "state machines differ:" >&2
    for id in "$@"; do echo "  node $id: $("$CLIENT" "$(client_addr "$id")" hash)" >&2; done
    return 1
}

say "starting 3 nodes (raft ports $((BASE + 1))-$((BASE + 3)), data in $DIR)"
t0=$(ms)
for id in 1 2 3; do start "$id"; done
leader=$(wait_leader 1 2 3)
t_first_election=$(($(ms) - t0))
echo "node $leader is leader after ${t_first_election} ms"

say "writing $KEYS1 keys"
"$CLIENT" "$ALL" load a 1 "$KEYS1" | tee "$DIR/load1.txt"

say "killing the leader (node $leader) with SIGKILL"
# Reaping the killed job inside a redirected group keeps bash's "Killed" notice off the output.
{ kill -9 "${PID[$leader]}"; wait "${PID[$leader]}"; } 2>/dev/null || true
unset "PID[$leader]"
killed=$leader
others=()
for id in 1 2 3; do [ "$id" != "$killed" ] && others+=("$id"); done
t0=$(ms)
leader=$(wait_leader "${others[@]}")
t_failover=$(($(ms) - t0))
echo "node $leader took over after ${t_failover} ms: $(status "$leader")"

say "writing $KEYS2 more keys with node $killed down"
"$CLIENT" "$ALL" load b 1 "$KEYS2" | tee "$DIR/load2.txt"
wait_converged "${others[@]}" >/dev/null

say "restarting node $killed"
t0=$(ms)
start "$killed"
hash=$(wait_converged 1 2 3)
t_catch_up=$(($(ms) - t0))
echo "node $killed caught up in ${t_catch_up} ms: $(status "$killed")"
if grep -q "installed snapshot" "$DIR/n$killed.log"; then
    via="a snapshot from the leader ($(grep 'installed snapshot' "$DIR/n$killed.log" | tail -1))"
else
    via="log entries only"
fi
echo "caught up through $via"
echo "all three state machines: $hash"

expected=$((KEYS1 + KEYS2))
keys=$(echo "$hash" | awk '{print $3}')
[ "$keys" -eq "$expected" ] || { echo "expected $expected keys, found $keys" >&2; exit 1; }
value=$("$CLIENT" "$ALL" get "a-$KEYS1")
[ "$value" = "VALUE value-$KEYS1-a" ] || { echo "unexpected read: $value" >&2; exit 1; }

say "stopping every node with SIGTERM"
for id in 1 2 3; do kill -TERM "${PID[$id]}"; done
for id in 1 2 3; do wait "${PID[$id]}" || { echo "node $id exited with $?" >&2; exit 1; }; unset "PID[$id]"; done
grep -h "clean shutdown" "$DIR"/n*.log | tail -3

victim=${others[0]}
segment=$(ls "$DIR/n$victim" | grep '^open-' | sort -t- -k2 -n | tail -1 || true)
if [ -n "$segment" ]; then
    say "tearing the tail of node $victim's $segment (37 bytes of garbage) and restarting"
    head -c 37 /dev/urandom >>"$DIR/n$victim/$segment"
fi
t0=$(ms)
for id in 1 2 3; do start "$id"; done
wait_leader 1 2 3 >/dev/null
# After a restart the commit index is only known up to the snapshot until the new leader
# commits an entry of its term; wait for the state machines to reach the state before.
restart_hash=$(EXPECT=$hash wait_converged 1 2 3)
t_restart=$(($(ms) - t0))
grep -h "RECOVERED" "$DIR/n$victim.log" || echo "(no torn tail to recover)"
[ "$restart_hash" = "$hash" ] || { echo "after restart: $restart_hash, before: $hash" >&2; exit 1; }
echo "after restart from disk: $restart_hash"
for id in 1 2 3; do kill -TERM "${PID[$id]}"; wait "${PID[$id]}" || true; unset "PID[$id]"; done

say "summary"
printf '  first election            %6d ms\n' "$t_first_election"
printf '  %-25s %s\n' "writes before the crash" "$(cat "$DIR/load1.txt")"
printf '  failover (new leader)     %6d ms\n' "$t_failover"
printf '  %-25s %s\n' "writes after the crash" "$(cat "$DIR/load2.txt")"
printf '  restarted node caught up  %6d ms (through %s)\n' "$t_catch_up" \
    "$(case $via in a\ snapshot*) echo snapshot ;; *) echo entries ;; esac)"
printf '  full restart from disk    %6d ms\n' "$t_restart"
printf '  state machines            identical: %s\n' "$hash"
echo "demo: OK"
