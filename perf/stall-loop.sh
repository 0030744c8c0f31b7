#!/usr/bin/env bash
# Repeats a short 1-shard RPC run (8 callers, concurrency 1, 1,000 calls/s)
# N times against a fresh router each time and counts the runs that stall
# (loadgen not done DUR+8 s after its start): the check for the "1-shard
# RPC stall" (BENCHMARKS.md). On a stall it saves `ss` of the port and the
# router's message counters under $W.
#
#   N=100 DUR=3 perf/stall-loop.sh            # release binaries of this tree
#   GLOMMIO_UPSTREAM_PARK=ready N=100 perf/stall-loop.sh   # A/B: glommio's own run loop
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/junction}
LG=${LG:-$ROOT/target/release/loadgen}
PORT=${PORT:-24480}
DUR=${DUR:-3}
W=${W:-$(mktemp -d /tmp/stall-loop.XXXXXX)}
python3 - "$PORT" >"$W/cfg.json" <<'PY'
import json, sys
anyone = {"uri": "", "match": "prefix", "allow": {"call": True, "register": True, "publish": True, "subscribe": True}}
print(json.dumps({"version": 2, "workers": [{"type": "router",
    "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [anyone]}]}],
    "transports": [{"id": "ws", "type": "web",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": int(sys.argv[1])},
        "paths": {"ws": {"type": "websocket", "serializers": ["json"]}}}]}]}))
PY
stalls=0
for i in $(seq 1 "${N:-20}"); do
    rm -rf "$W/run"
    RUNTIME_DIRECTORY=$W/run "$BIN" start --shards 1 --log-level warn --config "$W/cfg.json" >"$W/router.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    for _ in $(seq 20); do [[ -S $W/run/junction.sock ]] && break; sleep 0.1; done
    timeout 80 "$LG" rpc --callers 8 --callees 2 --concurrency 1 --payload 100 --rate 1000 \
        --duration "$DUR" --url "ws://127.0.0.1:$PORT/ws" --router-pid "$pid" \
        --router-control "$W/run/junction.sock" --json "$W/r.json" >"$W/lg.log" 2>&1 &
    lg=$!
    stalled=0
    for t in $(seq 1 $((DUR * 10 + 80))); do
        sleep 0.1
        kill -0 "$lg" 2>/dev/null || break
        [[ $t == $((DUR * 10 + 80)) ]] && stalled=1
    done
    if [[ $stalled == 1 ]]; then
        ss -tnpi "( sport = :$PORT or dport = :$PORT )" >"$W/ss-$i.txt"
        "$BIN" status --metrics --socket "$W/run/junction.sock" 2>/dev/null |
            grep -E 'messages_(received|sent)_total\{type="(CALL|INVOCATION|YIELD|RESULT)"' >"$W/metrics-$i.txt"
    fi
    wait "$lg"
    rc=$?
    kill -INT "$pid"
    wait "$pid" 2>/dev/null
    if [[ $rc != 0 ]]; then
        stalls=$((stalls + 1))
        cp "$W/lg.log" "$W/stall-$i.log"
        echo "run $i: loadgen exit $rc (log $W/stall-$i.log)"
    fi
done
echo "stalls: $stalls of ${N:-20} (work directory $W)"
