#!/usr/bin/env bash
# The cost of cross-shard hops on a small machine (issue #9): one scenario at
# a light fixed load against the same Junction build with 1 shard and with 2
# shards (and more builds, if given), interleaved (1, 2, 1, 2, ...) so that all
# see the same machine noise. Prints each run and the medians of the router's
# CPU per delivered message and of p50 latency, and their ratio to 1 shard.
#
#   perf/hops.sh [RUNS] [LABEL=JUNCTION_BIN ...]
#
#   CONFIG=/tmp/cfg.json PORT=19480 perf/hops.sh 5 new=target/release/junction
#
# The default scenario: 8 callers x 1,000 calls/s = 8k calls/s to one callee
# (`rpc --callers 8 --callees 1 --rate 1000`), 100-byte payloads, JSON over
# WebSocket; with 2 shards about half of the callers land on the callee's
# shard and every other call crosses shards twice (CALL there, RESULT back).
# ARGS overrides the loadgen arguments (without --url/--router-pid/--json),
# SHARD_COUNTS the shard counts ("1 2"). CONFIG=FILE and PORT as in
# perf/ab.sh (e.g. perf/bench-config.json, PORT=18480; pick a free port).
#
# The figures: router CPU (utime + stime of the whole process, from /proc,
# loadgen's --router-pid) per delivery in microseconds, loadgen's p50, and
# with a control socket the router's cross-shard messages and wake-ups per
# delivery (loadgen --router-control).
#
# KEEP=DIR keeps the log of every loadgen run that fails there.
#
# PERF_STAT=1 also counts, with `perf stat` on the router for the whole run
# (sessions' setup included), per delivery: context switches, `membarrier`
# calls (glommio, once per park), `io_uring_enter` calls and eventfd-sized
# `write`s (cross-thread wake-ups).
set -euo pipefail
RUNS=${1:-3}; shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/loadgen}
DURATION=${DURATION:-10}
ARGS=${ARGS:-"rpc --callers 8 --callees 1 --concurrency 1 --payload 100 --rate 1000 --duration $DURATION"}
SHARD_COUNTS=${SHARD_COUNTS:-"1 2"}
PORT=${PORT:-8080}
URL=${URL:-ws://127.0.0.1:$PORT/ws}
CONFIG_ARGS=(); [[ -n ${CONFIG:-} ]] && CONFIG_ARGS=(--config "$CONFIG")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("junction=$ROOT/target/release/junction")

source "$ROOT/perf/lib.sh"

figure() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = (r.get("cpu") or {}).get("router_cpu_s") or 0.0
d = max(r["delivered"], 1)
lat = r.get("latency_us", {})
x = r.get("extra", {})
print(f"{cpu / d * 1e6:.3f} {r['throughput_per_s']:.0f} {lat.get('p50', 0):.0f} {lat.get('p99', 0):.0f} "
      f"{x.get('cross_shard_per_delivery', -1)} {x.get('wakes_per_delivery', -1)} {r['lost']} {int(r['clean'])}")
PY
}

declare -A cpu_of p50_of
for i in $(seq 1 "$RUNS"); do
    for t in "${targets[@]}"; do
        label=${t%%=*}; bin=${t#*=}
        for s in $SHARD_COUNTS; do
            key="$label/$s"
            if taken "$PORT"; then echo "port $PORT is already taken: another router would be measured" >&2; exit 1; fi
            RUNTIME_DIRECTORY="$WORK/run" "$bin" start --shards "$s" --log-level warn "${CONFIG_ARGS[@]}" >"$WORK/router.log" 2>&1 &
            pid=$!
            wait_port "$PORT"
            ctl_args=()
            for _ in $(seq 1 20); do
                [[ -S $WORK/run/junction.sock ]] && { ctl_args=(--router-control "$WORK/run/junction.sock"); break; }
                sleep 0.1
            done
            stat_pid=""
            if [[ ${PERF_STAT:-0} == 1 ]]; then
                perf stat -x, -o "$WORK/stat" -p "$pid" -e context-switches,syscalls:sys_enter_membarrier,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_write >/dev/null 2>&1 &
                stat_pid=$!
            fi
            # shellcheck disable=SC2086
            timeout $((DURATION * 3 + 60)) "$LOADGEN" $ARGS --url "$URL" --router-pid "$pid" "${ctl_args[@]}" \
                --json "$WORK/r.json" >"$WORK/loadgen.log" 2>&1 || {
                echo "run $i $key: loadgen failed:"; grep -A2 "did not finish" "$WORK/loadgen.log" || true; tail -8 "$WORK/loadgen.log"
                [[ -n ${KEEP:-} ]] && cp "$WORK/loadgen.log" "$KEEP/loadgen-failed-$i-${label}-$s.log"
                # What the router saw: did it answer every call it was given?
                [[ -S $WORK/run/junction.sock ]] && "$bin" status --metrics --socket "$WORK/run/junction.sock" 2>/dev/null |
                    grep -E 'messages_(received|sent)_total\{type="(CALL|INVOCATION|YIELD|RESULT|ERROR)"' || true
                [[ -s $WORK/r.json ]] && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("loadgen: sent", r.get("sent"), "delivered", r.get("delivered"))' "$WORK/r.json" || true; }
            if [[ -n $stat_pid ]]; then kill -INT "$stat_pid" 2>/dev/null || true; wait "$stat_pid" 2>/dev/null || true; fi
            kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
            [[ -s $WORK/r.json ]] || continue
            read -r us thr p50 p99 cross wakes lost clean <<<"$(figure "$WORK/r.json")"
            counts=""
            if [[ -n $stat_pid && -s $WORK/stat ]]; then
                counts=$(python3 - "$WORK/stat" "$WORK/r.json" <<'PY'
import json, sys
d = max(json.load(open(sys.argv[2]))["delivered"], 1)
names = {"context-switches": "switches", "syscalls:sys_enter_membarrier": "membarrier",
         "syscalls:sys_enter_io_uring_enter": "uring_enter", "syscalls:sys_enter_write": "write"}
out = []
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[2] in names and f[0].replace(".", "").isdigit():
        out.append(f"{names[f[2]]} {float(f[0]) / d:.2f}")
print("  per delivery: " + ", ".join(out))
PY
)
                rm -f "$WORK/stat"
            fi
            rm -f "$WORK/r.json"
            echo "run $i $key: router ${us} us/delivery  throughput ${thr}/s  p50 ${p50} us  p99 ${p99} us  cross-shard ${cross}/delivery  wakes ${wakes}/delivery  lost ${lost}  clean ${clean}  load $(cut -d' ' -f1 /proc/loadavg)${counts}"
            cpu_of[$key]+="$us "
            p50_of[$key]+="$p50 "
        done
    done
done
for t in "${targets[@]}"; do
    label=${t%%=*}
    base_cpu="" base_p50=""
    for s in $SHARD_COUNTS; do
        key="$label/$s"
        [[ -n ${cpu_of[$key]:-} ]] || continue
        read -r c p <<<"$(python3 -c 'import statistics,sys; a=sys.argv[1].split(); b=sys.argv[2].split(); print(statistics.median(map(float,a)), statistics.median(map(float,b)))' "${cpu_of[$key]}" "${p50_of[$key]}")"
        [[ -z $base_cpu ]] && { base_cpu=$c; base_p50=$p; }
        python3 -c 'import sys; k,c,p,bc,bp=sys.argv[1],*map(float,sys.argv[2:]); print(f"median {k} shards: {c:.3f} us/delivery (x{c/bc:.2f} of the first), p50 {p:.0f} us (x{p/bp:.2f})")' "$key" "$c" "$p" "$base_cpu" "$base_p50"
    done
done
