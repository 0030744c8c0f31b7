#!/usr/bin/env bash
# perf/scaling.sh — the many-core scaling run (issue #9), one command.
#
# Router shards pinned to ROUTER_CPUS, loadgen on LOAD_CPUS (taskset), one
# fresh router per run, on the release binaries (built beforehand; this script
# never builds: the many-core machine is for measuring only). For each shard
# count it runs:
#   pubsub  32 publishers x 1,600 subscribers x 32 topics, as fast as loadgen sends
#   rpc     128 callers -> 16 callees (shared, round robin), 8 calls in flight each
# and, at fixed offered loads (router CPU at the same work, the efficiency figure):
#   pubsub-fixed  each publisher paced so that deliveries total 2M/s
#   rpc-fixed     each caller paced so that calls total 51.2k/s
#   iot           10,000 devices x 1 msg/s, 10 dashboards by prefix, 100
#                 commands/s (not in the default list: --only ...,iot)
# It writes every loadgen JSON under OUT, and OUT/summary.md: medians of RUNS
# runs, throughput ratio to 1 shard, router CPU seconds per second at the
# fixed loads and their ratio to 1 shard, router CPU per delivery, and the
# routed messages that crossed shards per delivery (the router's control
# socket, loadgen --router-control).
#
# Each scenario runs for each connection placement in --pack (default "32 1":
# the embedded default's junction.pack_connections, 32, packs up to 32
# connections on a shard before the next one takes any, so at 8 shards RPC's
# 144 connections land on shards 0-4 only; 1 is plain least-connections; see
# docs/config.md). The router's config per value: the embedded default
# (`junction init`) with `junction.pack_connections` set and its ports moved to
# --port (WebSocket; rawsocket +1, MQTT +3; default 8080), checked with
# `junction check`; in OUT/config-packN/. The table rows name the value.
#
# Usage: perf/scaling.sh [--out DIR] [--runs N] [--duration SECS]
#                        [--shards "1 2 4 8"] [--router-cpus 0-7] [--load-cpus 8-15]
#                        [--procs K] [--only pubsub,rpc,pubsub-fixed,rpc-fixed,iot]
#                        [--pack "32 1"] [--port 8080]
# --procs K runs loadgen as K processes (loadgen --procs K --cpus LOAD_CPUS,
# each pinned to its chunk of LOAD_CPUS) instead of one process of
# LOAD_CPUS threads; use it when one loadgen process is the limit.
# Binaries: JUNCTION_BIN (default target/release/junction), LOADGEN_BIN
# (default target/release/loadgen).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JUNCTION=${JUNCTION_BIN:-$ROOT/target/release/junction}
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/loadgen}
OUT="$ROOT/perf/out/scaling-$(date +%Y%m%d-%H%M%S)"
RUNS=2 DURATION=5 SHARDS="1 2 4 8" ROUTER_CPUS=0-7 LOAD_CPUS=8-15 PROCS=1 PACK="32 1" PORT=8080
ONLY="pubsub,rpc,pubsub-fixed,rpc-fixed"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) OUT=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --shards) SHARDS=$2; shift ;;
        --router-cpus) ROUTER_CPUS=$2; shift ;;
        --load-cpus) LOAD_CPUS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --procs) PROCS=$2; shift ;;
        --pack) PACK=$2; shift ;;
        --port) PORT=$2; shift ;;
        -h|--help) sed -n 2,40p "$0"; exit 0 ;;
        *) echo "scaling.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$OUT"
for b in "$JUNCTION" "$LOADGEN"; do
    [[ -x $b ]] || { echo "scaling.sh: $b is missing (build with cargo build --release)" >&2; exit 1; }
done
command -v taskset >/dev/null || { echo "scaling.sh: taskset (util-linux) is needed" >&2; exit 1; }
ncpu() { python3 -c 'import sys; n=0
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-"); n += int(b or a) - int(a) + 1
print(n)' "$1"; }
LOAD_THREADS=$(ncpu "$LOAD_CPUS")
for s in $SHARDS; do
    if [[ $s -gt $(ncpu "$ROUTER_CPUS") ]]; then
        echo "scaling.sh: $s shards need $s router CPUs, --router-cpus $ROUTER_CPUS has $(ncpu "$ROUTER_CPUS") (junction refuses more shards than its CPUs)" >&2
        exit 2
    fi
done
for p in $PACK; do
    [[ $p =~ ^[0-9]+$ ]] || { echo "scaling.sh: --pack takes numbers (junction.pack_connections), not $p" >&2; exit 2; }
done

{
    echo "# machine"
    uname -a
    nproc
    grep -m1 'model name' /proc/cpuinfo || true
    echo "router cpus $ROUTER_CPUS, load cpus $LOAD_CPUS ($LOAD_THREADS loadgen threads, $PROCS process(es))"
    echo "ulimit -n $(ulimit -n) (hard $(ulimit -Hn))"
} | tee "$OUT/machine.txt"
ulimit -n "$(ulimit -Hn)" || true

URL=ws://127.0.0.1:$PORT/ws
# The router's config with junction.pack_connections = $1: the embedded
# default (junction init) with it set and the ports moved; checked.
make_config() {
    local pack=$1 dir="$OUT/config-pack$1"
    rm -rf "$dir"
    "$JUNCTION" init --appdir "$dir" >/dev/null
    python3 - "$dir/.crossbar/config.json" "$pack" "$PORT" <<'PY'
import json, sys
path, pack, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = json.load(open(path))
c.setdefault("junction", {})["pack_connections"] = pack
moved = {8080: port, 8081: port + 1, 1883: port + 3}
for w in c["workers"]:
    for t in w.get("transports", []):
        e = t.get("endpoint", {})
        if e.get("port") in moved:
            e["port"] = moved[e["port"]]
json.dump(c, open(path, "w"), indent=2)
PY
    "$JUNCTION" check --config "$dir/.crossbar/config.json" >"$dir/check.txt" 2>&1 || {
        echo "scaling.sh: junction check refused the config for --pack $pack:" >&2
        cat "$dir/check.txt" >&2
        exit 1
    }
    echo "$dir/.crossbar/config.json"
}
declare -A CONFIGS
for p in $PACK; do CONFIGS[$p]=$(make_config "$p"); done

# One loadgen scenario against a fresh router with $1 shards and config $2; JSON to $3.
run_one() {
    local shards=$1 config=$2 json=$3; shift 3
    local run="$OUT/run"
    mkdir -p "$run"
    RUNTIME_DIRECTORY=$run taskset -c "$ROUTER_CPUS" "$JUNCTION" start --shards "$shards" --config "$config" \
        --log-level warn >"$json.router.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "  the router exited before listening:"; tail -3 "$json.router.log" | sed 's/^/    /'
        return 0
    fi
    local ctl=()
    for _ in $(seq 1 20); do
        [[ -S $run/junction.sock ]] && { ctl=(--router-control "$run/junction.sock"); break; }
        sleep 0.1
    done
    local load=(taskset -c "$LOAD_CPUS" "$LOADGEN")
    local spread=(--threads "$LOAD_THREADS")
    if [[ $PROCS -gt 1 ]]; then
        load=("$LOADGEN")
        spread=(--procs "$PROCS" --cpus "$LOAD_CPUS")
    fi
    local rc=0
    timeout $((DURATION * 6 + 120)) "${load[@]}" "$@" --url "$URL" \
        "${spread[@]}" --router-pid "$pid" "${ctl[@]}" --json "$json" >"$json.log" 2>&1 || rc=$?
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [[ $rc -ne 0 ]]; then
        echo "  loadgen failed ($rc):"; tail -3 "$json.log" | sed 's/^/    /'
    fi
}

scenario_args() {
    case "$1" in
        pubsub) echo "pubsub --publishers 32 --subscribers 1600 --topics 32 --payload 100 --duration $DURATION" ;;
        rpc) echo "rpc --callers 128 --callees 16 --concurrency 8 --payload 100 --duration $DURATION" ;;
        # 32 publishers x 1,250 msg/s x 50 subscribers per topic = 2M deliveries/s.
        pubsub-fixed) echo "pubsub --publishers 32 --subscribers 1600 --topics 32 --payload 100 --duration $DURATION --rate 1250" ;;
        # 128 callers x 400 calls/s = 51.2k calls/s.
        rpc-fixed) echo "rpc --callers 128 --callees 16 --concurrency 1 --payload 100 --duration $DURATION --rate 400" ;;
        # 10,000 devices x 1 msg/s x 10 dashboards = 100k deliveries/s, and 100 commands/s.
        iot) echo "iot --devices 10000 --rate 1 --dashboards 10 --subscribe prefix --commands 100 --payload 100 --duration $DURATION" ;;
    esac
}

IFS=, read -ra SCENARIOS <<<"$ONLY"
for scen in "${SCENARIOS[@]}"; do
    for s in $SHARDS; do
        for r in $(seq 1 "$RUNS"); do
            # the placements interleaved: each sees the same machine noise
            for p in $PACK; do
                f="$OUT/$scen-p$p-s$s-r$r.json"
                echo "[$(date +%H:%M:%S)] $scen pack=$p shards=$s run $r"
                # shellcheck disable=SC2046
                run_one "$s" "${CONFIGS[$p]}" "$f" $(scenario_args "$scen")
            done
        done
    done
done

python3 - "$OUT" "$RUNS" "$SHARDS" "$PACK" "${SCENARIOS[@]}" <<'PY' | tee "$OUT/summary.md"
import json, os, statistics, sys
out, runs, shards, packs, scens = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5:]
def load(scen, pack, s):
    rows = []
    for r in range(1, runs + 1):
        p = os.path.join(out, f"{scen}-p{pack}-s{s}-r{r}.json")
        try:
            j = json.load(open(p))
        except Exception:
            continue
        cpu = (j.get("cpu") or {}).get("router_cpu_s")
        dur = j.get("duration_s") or j.get("elapsed_s") or 0
        x = j.get("extra") or {}
        rows.append((j.get("throughput_per_s", 0), cpu, dur, j.get("lost", 0),
                     x.get("router_us_per_delivery"), x.get("cross_shard_per_delivery")))
    return rows
print("# Scaling run\n")
for scen in scens:
    print(f"## {scen}\n")
    print("| pack_connections | shards | throughput/s (median) | x first row of its pack | router CPU s/s | x first row | router µs/delivery | crossings/delivery | lost |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pack in packs:
        base_t = base_c = None
        for s in shards:
            rows = load(scen, pack, s)
            if not rows:
                print(f"| {pack} | {s} | (no result) | | | | | | |")
                continue
            t = statistics.median(r[0] for r in rows)
            cps = [r[1] / r[2] for r in rows if r[1] and r[2]]
            c = statistics.median(cps) if cps else None
            base_t = base_t or t
            base_c = base_c or c
            cs = f"{c:.2f}" if c else "?"
            cr = f"{c / base_c:.2f}" if c and base_c else "?"
            tr = f"{t / base_t:.2f}" if base_t else "?"
            med = lambda i: (f"{statistics.median(v):.3f}" if (v := [r[i] for r in rows if r[i] is not None]) else "?")
            print(f"| {pack} | {s} | {t:,.0f} | {tr} | {cs} | {cr} | {med(4)} | {med(5)} | {sum(r[3] for r in rows)} |")
    print()
PY
echo "results in $OUT"
