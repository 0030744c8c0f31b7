#!/usr/bin/env bash
# perf/bridge.sh — HTTP bridge publishes per second, side by side in one run:
# Junction's `publisher` web path and Crossbar.io's, each on one core (Junction
# --shards 1; Crossbar's router worker), loaded by wrk (Debian) on the other core
# with keep-alive connections, every request an HTTP POST of
# {"topic": "com.bench.bridge", "args": [1, "two"], "kwargs": {"k": true}} (a Lua
# script sets method, body and Content-Type). No session subscribes: this
# measures the bridge (HTTP, checks, JSON, PUBLISH with acknowledge, the answer).
# A third target, `junction-get`, is the ceiling for comparison: GET of a tiny
# `json` path on the same Junction config (the cheapest answer its web server
# gives), so the table shows what the bridge costs on top of HTTP.
#
# Each server runs RUNS times with a fresh process; the table has the medians
# of requests per second. Output: perf/out/bridge-<date>.md and .json, wrk's
# raw output under perf/out/raw-bridge-<date>/.
#
# Crossbar: $CROSSBAR (default perf/.venv-crossbar/bin/crossbar, installed
# there as Crossbar.io 26.10.1 when missing).
#
# Usage: perf/bridge.sh [--runs N] [--duration SECS] [--connections N]
#                       [--only junction,crossbar,junction-get] [--no-build] [--quick]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PERF="$ROOT/perf"
OUT="$PERF/out"
STAMP=$(date +%Y-%m-%d-%H%M%S)
RAW="$OUT/raw-bridge-$STAMP"
J_PORT=18280 C_PORT=18290

RUNS=3 DURATION=10 CONNS=32 BUILD=1 ONLY=()
die() { echo "bridge.sh: error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=${2:?}; shift ;;
        --duration) DURATION=${2:?}; shift ;;
        --connections) CONNS=${2:?}; shift ;;
        --only) IFS=, read -ra v <<<"${2:?}"; ONLY+=("${v[@]}"); shift ;;
        --no-build) BUILD=0 ;;
        --quick) RUNS=1 DURATION=3 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1'" ;;
    esac
    shift
done
TARGETS=(junction junction-get crossbar)
[[ ${#ONLY[@]} -gt 0 ]] && TARGETS=("${ONLY[@]}")
wants() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }

# The server on the first allowed CPU, the load generator on the second.
source "$(dirname "$0")/lib.sh"
pin_cpus

trap cleanup EXIT INT TERM
wait_post() { # PORT: until the publisher path answers 200
    local port=$1 i
    for ((i = 0; i < 900; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
            -d '{"topic": "com.bench.ready"}' "http://127.0.0.1:$port/pub" || true)
        [[ $code == 200 ]] && return 0
        sleep 0.1
    done
    die "no 200 from the publisher on port $port after 90 s"
}

command -v wrk >/dev/null || {
    log "installing wrk (Debian)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || die "apt-get install wrk failed"
}
JUNCTION=${JUNCTION_BIN:-$ROOT/target/release/junction}
if { wants junction || wants junction-get; } && [[ $BUILD == 1 ]]; then
    log "cargo build --release --bin junction"
    (cd "$ROOT" && cargo build --release --bin junction >/dev/null)
fi
CB_VENV="$PERF/.venv-crossbar"
CROSSBAR=${CROSSBAR:-$CB_VENV/bin/crossbar}
if wants crossbar && [[ ! -x $CROSSBAR ]]; then
    log "installing Crossbar.io 26.10.1 into $CB_VENV"
    py=$(command -v python3.11 || command -v python3)
    "$py" -m venv "$CB_VENV"
    "$CB_VENV/bin/pip" install -q 'crossbar==26.10.1' 'numpy<2' || die "pip install crossbar failed"
    CROSSBAR="$CB_VENV/bin/crossbar"
fi

WORK=$(mktemp -d)
mkdir -p "$RAW" "$WORK/crossbar/.crossbar"
bridge_config() { # PORT
    cat <<EOF
{"version": 2, "controller": {}, "workers": [{"type": "router",
 "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
 "transports": [{"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $1},
   "paths": {"pub": {"type": "publisher", "realm": "realm1", "role": "anonymous"}, "ws": {"type": "websocket"},
             "doc": {"type": "json", "value": {"id": 1}}}}]}]}
EOF
}
bridge_config $J_PORT >"$WORK/junction.json"
bridge_config $C_PORT >"$WORK/crossbar/.crossbar/config.json"
cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"topic": "com.bench.bridge", "args": [1, "two"], "kwargs": {"k": true}}'
wrk.headers["Content-Type"] = "application/json"
EOF

start_server() { # TARGET LOG -> STARTED_PID, PORT
    case "$1" in
        junction*) spawn "$2" "$JUNCTION" start --config "$WORK/junction.json" --shards 1; PORT=$J_PORT ;;
        crossbar)
            rm -f "$WORK/crossbar/.crossbar/node.pid"
            spawn "$2" "$CROSSBAR" start --cbdir "$WORK/crossbar/.crossbar" --loglevel warn; PORT=$C_PORT ;;
    esac
    wait_post "$PORT"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
for target in "${TARGETS[@]}"; do
    for run in $(seq "$RUNS"); do
        tag="$target-$run"
        start_server "$target" "$RAW/$tag.server.log"
        load=(-s "$WORK/post.lua" "http://127.0.0.1:$PORT/pub")
        [[ $target == junction-get ]] && load=("http://127.0.0.1:$PORT/doc")
        taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d1s "${load[@]}" >/dev/null 2>&1 || true
        taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${load[@]}" >"$RAW/$tag.wrk.txt" 2>&1 || true
        stop "$STARTED_PID"
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$RAW/$tag.wrk.txt")
        p99=$(awk '$1 == "99%" {print $2}' "$RAW/$tag.wrk.txt")
        errs=$(awk '/Non-2xx|Socket errors/ {print}' "$RAW/$tag.wrk.txt" | tr '\n' ' ')
        [[ -z $errs ]] || die "$tag: $errs (see $RAW/$tag.*)"
        log "$tag: ${rps:-?} publishes/s, p99 ${p99:-?}"
        printf '%s\t%s\t%s\t%s\n' "$target" "$run" "${rps:-0}" "${p99:-?}" >>"$RESULTS"
    done
done

python3 - "$RESULTS" "$OUT/bridge-$STAMP" "$DURATION" "$CONNS" "$RUNS" <<'EOF'
import json, statistics, sys, collections
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
out, duration, conns, runs = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
by, p99 = collections.defaultdict(list), collections.defaultdict(list)
for t, r, rps, lat in rows:
    by[t].append(float(rps))
    p99[t].append(lat.strip())
med = {t: statistics.median(v) for t, v in by.items()}
lines = [f"HTTP bridge publishes, {duration} s per run, wrk -t1 -c{conns} (keep-alive, POST), server and wrk on one core each, median of {runs} runs", "",
         "| target | publishes/s (median) | runs | p99 |", "|---|---|---|---|"]
for t in med:
    lines.append(f"| {t} | {med[t]:.0f} | {', '.join(f'{x:.0f}' for x in by[t])} | {', '.join(p99[t])} |")
if "junction" in med and "crossbar" in med and med["crossbar"]:
    lines += ["", f"junction / crossbar: {med['junction'] / med['crossbar']:.1f}x"]
if "junction" in med and med.get("junction-get"):
    lines += [f"junction bridge / junction GET of a json path: {med['junction'] / med['junction-get']:.2f}"]
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"median_rps": med, "runs": by, "p99": p99}, open(out + ".json", "w"), indent=1)
print("\n".join(lines))
EOF
