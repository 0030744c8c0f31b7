#!/usr/bin/env bash
# Heap allocations the router makes per routed message, counted with uprobes
# on mimalloc's entry points (`mi_malloc_aligned`, `mi_realloc_aligned`: the
# two the Rust global allocator calls) while loadgen runs a scenario.
#
#   perf/allocs.sh JUNCTION_BIN SCENARIO [--record]
#
#   SCENARIO  unbatched  10 publishers x 100 subscribers over 10 topics, 200
#                        msg/s each (2,000 publishes, 20k deliveries/s), WAMP
#                        JSON over WebSocket (perf/bench-config.json)
#             iot-mqtt   loadgen iot, 10,000 devices at 1 msg/s, 2 dashboards,
#                        100 commands/s, over MQTT (perf/iot-config.json)
#             iot-wamp   the same over WebSocket
#
# One shard on CPU 0, loadgen on CPU 1. The count covers 4 s from the 6th
# second of a 12 s run; the script prints allocations per second and per
# publish (the scenario's publishes per second are fixed). --record also
# records the allocations' call stacks (perf record, DWARF unwinding, 2 s)
# into perf/out/allocs-SCENARIO.data; `perf report -i FILE --no-children`
# shows who allocates.
#
# Needs root (uprobes) and a binary with symbols (the release profile keeps
# them). A uprobe traps into the kernel on every call: the router's CPU
# figures of such a run are not benchmarks. What it tells: the counts per
# message, exact up to the few allocations of timers and the control socket.
set -euo pipefail
BIN=${1:?usage: $0 JUNCTION_BIN unbatched|iot-mqtt|iot-wamp [--record]}
SCENARIO=${2:?usage: $0 JUNCTION_BIN unbatched|iot-mqtt|iot-wamp [--record]}
RECORD=${3:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/loadgen}
OUT=$ROOT/perf/out
mkdir -p "$OUT"
BIN=$(readlink -f "$BIN")

case $SCENARIO in
    unbatched)
        CFG=$ROOT/perf/bench-config.json
        PUBLISHES=2000
        ARGS="pubsub --publishers 10 --subscribers 100 --topics 10 --payload 100 --rate 200 --duration 12 --url ws://127.0.0.1:18480/ws"
        ;;
    iot-mqtt | iot-wamp)
        CFG=$ROOT/perf/iot-config.json
        PUBLISHES=10100
        url=mqtt://127.0.0.1:18483
        [[ $SCENARIO == iot-wamp ]] && url=ws://127.0.0.1:18480/ws
        ARGS="iot --devices 10000 --rate 1 --dashboards 2 --subscribe prefix --commands 100 --payload 100 --duration 12 --url $url"
        ;;
    *)
        echo "unknown scenario: $SCENARIO" >&2
        exit 2
        ;;
esac

EVENTS=(-e probe_junction:mi_malloc_aligned -e probe_junction:mi_realloc_aligned)
cleanup() {
    [[ -n ${PID:-} ]] && kill "$PID" 2>/dev/null || true
    perf probe -q -d 'probe_junction:*' 2>/dev/null || true
}
trap cleanup EXIT
perf probe -q -d 'probe_junction:*' 2>/dev/null || true
perf probe -q -x "$BIN" -a mi_malloc_aligned -a mi_realloc_aligned

ulimit -n "$(ulimit -Hn)" || true
taskset -c 0 "$BIN" start --config "$CFG" --shards 1 >"$OUT/allocs-router.log" 2>&1 &
PID=$!
sleep 1.5
# shellcheck disable=SC2086 # ARGS is a word list
taskset -c 1 "$LOADGEN" $ARGS --router-pid "$PID" >"$OUT/allocs-loadgen.txt" 2>&1 &
LPID=$!
sleep 6
if [[ $RECORD == --record ]]; then
    perf record -q "${EVENTS[@]}" --call-graph dwarf,8192 -o "$OUT/allocs-$SCENARIO.data" \
        -p "$PID" -- sleep 2 >/dev/null 2>&1
    echo "stacks: $OUT/allocs-$SCENARIO.data"
else
    perf stat -x, "${EVENTS[@]}" -p "$PID" -- sleep 4 2>"$OUT/allocs-stat.txt"
    total=$(awk -F, '{ n += $1 } END { print n }' "$OUT/allocs-stat.txt")
    awk -v t="$total" -v p="$PUBLISHES" \
        'BEGIN { printf "allocations: %.0f/s, %.1f per publish\n", t / 4, t / 4 / p }'
fi
wait "$LPID" || true
grep -E "delivered / expected|throughput" "$OUT/allocs-loadgen.txt" || true
