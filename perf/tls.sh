#!/usr/bin/env bash
# perf/tls.sh — TLS figures of BENCHMARKS.md ("TLS"), side by side in one run:
#   1. fan-out 1 -> 1,000 subscribers (100 B, JSON, 10 s): Junction over ws://
#      (plaintext), Junction over wss://, Crossbar.io over wss:// — RUNS runs
#      each (default 3), a fresh router per run, medians;
#   2. TLS handshakes per second on one shard: `loadgen connections` opening
#      SESSIONS wss:// sessions as fast as it can (each a full TLS 1.3
#      handshake, ECDSA P-256, no resumption, then HELLO/WELCOME), and the
#      same over ws:// for the plaintext rate;
#   3. memory per held session: the router's RSS with SESSIONS held sessions,
#      over wss:// and ws://, minus its idle RSS, per session.
#
# Needs: target/release/{junction,loadgen} (cargo build --release -p junction
# -p loadgen), openssl, jq, and Crossbar.io (CROSSBAR=path/to/crossbar, or
# perf/.venv-crossbar as perf/compare.sh installs it; --no-crossbar skips it).
#
# Usage: perf/tls.sh [--runs N] [--duration SECS] [--sessions N] [--no-crossbar]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=3 DURATION=10 SESSIONS=5000 CB=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --sessions) SESSIONS=$2; shift ;;
        --no-crossbar) CB=0 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "tls.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

JUNCTION=${JUNCTION_BIN:-$ROOT/target/release/junction}
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/loadgen}
CROSSBAR=${CROSSBAR:-$ROOT/perf/.venv-crossbar/bin/crossbar}
[[ -x $JUNCTION && -x $LOADGEN ]] || { echo "build junction and loadgen (release) first" >&2; exit 1; }
if [[ $CB == 1 && ! -x $CROSSBAR ]]; then
    echo "no Crossbar.io at $CROSSBAR (set CROSSBAR, run perf/compare.sh once, or --no-crossbar)" >&2
    exit 1
fi

# taken, wait_port, spawn, stop and cleanup (of the process groups started).
source "$ROOT/perf/lib.sh"
WORK=$(mktemp -d /tmp/junction-tls-perf.XXXXXX)
# Junction's control socket in this run's directory: a node refuses a socket
# that another live node owns (the shared default is /tmp/junction-UID).
export RUNTIME_DIRECTORY="$WORK/run"
OUT=$ROOT/perf/out/tls-$(date +%Y-%m-%d-%H%M%S)
mkdir -p "$OUT"
GROUP=""
trap 'cleanup; rm -rf "$WORK"' EXIT
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Ports: Junction ws / wss, Crossbar wss.
J_WS=18280 J_WSS=18281 C_WSS=18290
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$WORK/server.key" -out "$WORK/server.crt" 2>/dev/null

config() { # WS_PORT WSS_PORT (0: none)
    local t=""
    [[ $1 != 0 ]] && t+='{"type": "websocket", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": '$1', "backlog": 4096}, "serializers": ["json"]},'
    t+='{"type": "websocket", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": '$2', "backlog": 4096,
          "tls": {"key": "'$WORK'/server.key", "certificate": "'$WORK'/server.crt"}}, "serializers": ["json"]}'
    cat <<EOF
{"version": 2, "controller": {}, "workers": [{"type": "router",
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
     "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
     "disclose": {"caller": false, "publisher": false}, "cache": true}]}]}],
  "transports": [$t]}]}
EOF
}
mkdir -p "$WORK/junction" "$WORK/crossbar/.crossbar"
config "$J_WS" "$J_WSS" >"$WORK/junction/config.json"
config 0 "$C_WSS" >"$WORK/crossbar/.crossbar/config.json"

# start TARGET SHARDS: sets PID (the process to measure) and GROUP.
start() {
    case $1 in
        junction)
            spawn "$WORK/router.log" "$JUNCTION" start --config "$WORK/junction/config.json" --shards "$2"
            GROUP=$STARTED_PID PID=$STARTED_PID
            wait_port "$J_WSS" 20 "$PID" "$WORK/router.log"
            ;;
        crossbar)
            spawn "$WORK/router.log" "$CROSSBAR" start --cbdir "$WORK/crossbar/.crossbar" --loglevel warn
            GROUP=$STARTED_PID
            wait_port "$C_WSS" 20 "$GROUP" "$WORK/router.log"
            # The router worker: the process that serves the port.
            PID=$(ss -Htlnp "sport = :$C_WSS" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
            ;;
    esac
    sleep 1
}
stop_router() { stop "$GROUP"; GROUP=""; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# fanout NAME TARGET URL: RUNS runs; prints the median events/s.
fanout() {
    local name=$1 target=$2 url=$3 n
    for ((n = 1; n <= RUNS; n++)); do
        start "$target" 1
        "$LOADGEN" fanout --url "$url" --serializer json --subscribers 1000 --payload 100 \
            --duration "$DURATION" --router-pid "$PID" --json "$OUT/fanout-$name-$n.json" \
            >"$OUT/fanout-$name-$n.log" 2>&1 || log "  $name run $n: loadgen exit $?"
        cp "$WORK/router.log" "$OUT/fanout-$name-$n.router.log"
        stop_router
        log "fanout $name run $n: $(jq -r '.throughput_per_s | floor' "$OUT/fanout-$name-$n.json" 2>/dev/null) events/s"
    done
    for ((n = 1; n <= RUNS; n++)); do jq -r '.throughput_per_s' "$OUT/fanout-$name-$n.json" 2>/dev/null; done | median
}

# sessions NAME URL: one shard, SESSIONS sessions as fast as possible.
sessions() {
    local name=$1 url=$2
    start junction 1
    "$LOADGEN" connections --url "$url" --sessions "$SESSIONS" --ramp 1000000 --hold 2 \
        --router-pid "$PID" --json "$OUT/sessions-$name.json" >"$OUT/sessions-$name.log" 2>&1 ||
        log "  sessions $name: loadgen exit $?"
    stop_router
    jq -r '[.throughput_per_s, .cpu.router_cpu_s, .extra.router_rss_kib_per_session, .extra.sessions_ok] | @tsv' \
        "$OUT/sessions-$name.json" 2>/dev/null || echo "- - - -"
}

log "results: $OUT"
J_PLAIN=$(fanout junction-ws junction "ws://127.0.0.1:$J_WS/")
J_TLS=$(fanout junction-wss junction "wss://localhost:$J_WSS/")
C_TLS=0
[[ $CB == 1 ]] && C_TLS=$(fanout crossbar-wss crossbar "wss://localhost:$C_WSS/")
read -r HS_TLS CPU_TLS MEM_TLS OK_TLS <<<"$(sessions wss "wss://localhost:$J_WSS/")"
read -r HS_WS CPU_WS MEM_WS OK_WS <<<"$(sessions ws "ws://127.0.0.1:$J_WS/")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
per_cpu() { awk -v n="$1" -v c="$2" 'BEGIN {if (c > 0) printf "%.0f", n / c; else print "-"}'; }
{
    echo "# TLS ($(date -u +%Y-%m-%d), $(nproc) CPUs, $RUNS runs, medians)"
    echo
    echo "| fan-out 1 -> 1,000, 100 B, 1 shard | events/s |"
    echo "|---|---|"
    echo "| Junction ws:// (plaintext) | $(printf %.0f "$J_PLAIN") |"
    echo "| Junction wss:// | $(printf %.0f "$J_TLS") |"
    [[ $CB == 1 ]] && echo "| Crossbar.io wss:// | $(printf %.0f "$C_TLS") |"
    echo
    echo "wss / ws: $(ratio "$J_TLS" "$J_PLAIN"); Junction wss / Crossbar wss: $(ratio "$J_TLS" "$C_TLS")"
    echo
    echo "| $SESSIONS sessions, 1 shard | opened/s (wall) | router CPU s | opened per router CPU s | RSS KiB/session | ok |"
    echo "|---|---|---|---|---|---|"
    echo "| wss:// (TLS 1.3 handshake + HELLO) | $(printf %.0f "$HS_TLS") | $CPU_TLS | $(per_cpu "$OK_TLS" "$CPU_TLS") | $MEM_TLS | $OK_TLS |"
    echo "| ws:// (HELLO) | $(printf %.0f "$HS_WS") | $CPU_WS | $(per_cpu "$OK_WS" "$CPU_WS") | $MEM_WS | $OK_WS |"
} | tee "$OUT/summary.md"
