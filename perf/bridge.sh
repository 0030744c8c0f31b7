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
# A fourth, `junction-base`, is a second Junction binary ($JUNCTION_BASE_BIN,
# e.g. one built from main) under the same load, for before/after runs.
#
# Each server runs RUNS times with a fresh process, the targets taking turns
# (run 1 of every target, then run 2, ...), so that a change in the
# machine's load hits them alike; the table has the medians of requests per
# second. Output: perf/out/bridge-<date>.md and .json, wrk's
# raw output under perf/out/raw-bridge-<date>/.
#
# Crossbar: $CROSSBAR (default perf/.venv-crossbar/bin/crossbar, installed
# there as Crossbar.io 26.10.1 when missing).
#
# Usage: perf/bridge.sh [--runs N] [--duration SECS] [--connections N]
#                       [--only junction,crossbar,junction-get,junction-base]
#                       [--no-build] [--quick]
#                       [--close]
# --close: every request on a new connection (wrk sends `Connection: close`
# and reconnects), as a client without keep-alive (`curl`, `requests.post`
# without a session) does.
# Ports: J_PORT (default 18280) and C_PORT (18290) in the environment.
#
# The table's last columns: the busy share of one core during the measured
# run (server / wrk; the server's counts all its processes: Crossbar's
# controller and router worker) and the server's CPU time per request
# (busy share / rate): on a shared machine, where either side may get less
# than its core, the CPU per request is the steadier comparison.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PERF="$ROOT/perf"
OUT="$PERF/out"
STAMP=$(date +%Y-%m-%d-%H%M%S)
RAW="$OUT/raw-bridge-$STAMP"
J_PORT=${J_PORT:-18280} C_PORT=${C_PORT:-18290}

RUNS=3 DURATION=10 CONNS=32 BUILD=1 ONLY=() CLOSE=()
die() { echo "bridge.sh: error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=${2:?}; shift ;;
        --duration) DURATION=${2:?}; shift ;;
        --connections) CONNS=${2:?}; shift ;;
        --only) IFS=, read -ra v <<<"${2:?}"; ONLY+=("${v[@]}"); shift ;;
        --no-build) BUILD=0 ;;
        --close) CLOSE=(-H "Connection: close") ;;
        --quick) RUNS=1 DURATION=3 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1'" ;;
    esac
    shift
done
TARGETS=(junction junction-get crossbar)
[[ -n ${JUNCTION_BASE_BIN:-} ]] && TARGETS+=(junction-base)
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
if wants junction-base; then
    [[ -x ${JUNCTION_BASE_BIN:-} ]] || die "junction-base needs JUNCTION_BASE_BIN (an executable)"
fi
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
# Junction's control socket in this run's directory: a node refuses a socket
# that another live node owns (the shared default is /tmp/junction-UID).
export RUNTIME_DIRECTORY="$WORK/run"
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
        junction-base) spawn "$2" "$JUNCTION_BASE_BIN" start --config "$WORK/junction.json" --shards 1; PORT=$J_PORT ;;
        junction*) spawn "$2" "$JUNCTION" start --config "$WORK/junction.json" --shards 1; PORT=$J_PORT ;;
        crossbar)
            rm -f "$WORK/crossbar/.crossbar/node.pid"
            spawn "$2" "$CROSSBAR" start --cbdir "$WORK/crossbar/.crossbar" --loglevel warn; PORT=$C_PORT ;;
    esac
    wait_post "$PORT"
}

# CPU seconds (user + system) used so far by every process of group PGID
# (Crossbar's node is a controller and a router worker).
TICK=$(getconf CLK_TCK)
group_cpu() {
    local p total=0 t
    for p in $(pgrep -g "$1"); do
        t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
for run in $(seq "$RUNS"); do
    for target in "${TARGETS[@]}"; do
        tag="$target-$run"
        start_server "$target" "$RAW/$tag.server.log"
        load=("${CLOSE[@]}" -s "$WORK/post.lua" "http://127.0.0.1:$PORT/pub")
        [[ $target == junction-get ]] && load=("${CLOSE[@]}" "http://127.0.0.1:$PORT/doc")
        taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d1s "${load[@]}" >/dev/null 2>&1 || true
        # The sockets' queues a second before the run ends (raw dir): if a
        # run stalls, they show which side holds what (Recv-Q at the server's
        # end: it does not read; at wrk's: wrk does not; none: closed). wrk
        # 4.1 reports no timeout for a request that never gets an answer (it
        # counts timeouts only among answered requests) and reconnects
        # silently when the server closes, so its summary cannot tell.
        (sleep $((DURATION > 1 ? DURATION - 1 : 0)); ss -tni "( sport = :$PORT or dport = :$PORT )" >"$RAW/$tag.ss.txt" 2>&1) &
        cpu0=$(group_cpu "$STARTED_PID")
        /usr/bin/time -o "$RAW/$tag.wrk-time" -f '%U %S' \
            taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${load[@]}" >"$RAW/$tag.wrk.txt" 2>&1 || true
        cpu1=$(group_cpu "$STARTED_PID")
        stop "$STARTED_PID"
        # Busy share of one core during the measured run: the server's, wrk's.
        srv_cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$TICK" -v d="$DURATION" 'BEGIN {printf "%.0f", (b - a) / t / d * 100}')
        gen_cpu=$(awk -v d="$DURATION" '{printf "%.0f", ($1 + $2) / d * 100}' "$RAW/$tag.wrk-time" 2>/dev/null || echo "?")
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$RAW/$tag.wrk.txt")
        p99=$(awk '$1 == "99%" {print $2}' "$RAW/$tag.wrk.txt")
        errs=$(awk '/Non-2xx|Socket errors/ {print}' "$RAW/$tag.wrk.txt" | tr '\n' ' ')
        [[ -z $errs ]] || die "$tag: $errs (see $RAW/$tag.*)"
        log "$tag: ${rps:-?} publishes/s, p99 ${p99:-?}, server CPU ${srv_cpu}%, wrk CPU ${gen_cpu}%"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$run" "${rps:-0}" "${p99:-?}" "$srv_cpu" "$gen_cpu" >>"$RESULTS"
    done
done

python3 - "$RESULTS" "$OUT/bridge-$STAMP" "$DURATION" "$CONNS" "$RUNS" "${#CLOSE[@]}" <<'EOF'
import json, statistics, sys, collections
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
out, duration, conns, runs = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
alive = "a new connection per request" if sys.argv[6] != "0" else "keep-alive"
by, p99 = collections.defaultdict(list), collections.defaultdict(list)
cpu, per = collections.defaultdict(list), collections.defaultdict(list)
for t, r, rps, lat, srv, gen in rows:
    by[t].append(float(rps))
    p99[t].append(lat.strip())
    cpu[t].append(f"{srv}/{gen}")
    if float(rps) > 0 and srv.isdigit():
        per[t].append(float(srv) / 100 / float(rps) * 1e6)
med = {t: statistics.median(v) for t, v in by.items()}
lines = [f"HTTP bridge publishes, {duration} s per run, wrk -t1 -c{conns} ({alive}, POST), server and wrk on one core each, median of {runs} runs", "",
         "| target | publishes/s (median) | runs | p99 | CPU % server/wrk | server CPU µs per request (median; runs) |", "|---|---|---|---|---|---|"]
pmed = {t: statistics.median(v) for t, v in per.items() if v}
for t in med:
    pr = f"{pmed[t]:.1f}; " + ", ".join(f"{x:.1f}" for x in per[t]) if t in pmed else "?"
    lines.append(f"| {t} | {med[t]:.0f} | {', '.join(f'{x:.0f}' for x in by[t])} | {', '.join(p99[t])} | {', '.join(cpu[t])} | {pr} |")
if "junction" in med and "crossbar" in med and med["crossbar"]:
    lines += ["", f"junction / crossbar: {med['junction'] / med['crossbar']:.1f}x"]
if "junction" in pmed and "crossbar" in pmed:
    lines += [f"junction / crossbar by server CPU per request: {pmed['crossbar'] / pmed['junction']:.1f}x"]
if "junction-base" in med and "crossbar" in med and med["crossbar"]:
    lines += [f"junction-base / crossbar: {med['junction-base'] / med['crossbar']:.1f}x"]
if "junction-base" in pmed and "crossbar" in pmed:
    lines += [f"junction-base / crossbar by server CPU per request: {pmed['crossbar'] / pmed['junction-base']:.1f}x"]
if "junction" in pmed and "junction-base" in pmed:
    lines += [f"junction / junction-base: {med['junction'] / med['junction-base']:.2f} by rate, {pmed['junction-base'] / pmed['junction']:.2f} by CPU per request"]
if "junction" in med and med.get("junction-get"):
    lines += [f"junction bridge / junction GET of a json path: {med['junction'] / med['junction-get']:.2f}"]
open(out + ".md", "w").write("\n".join(lines) + "\n")
json.dump({"median_rps": med, "runs": by, "p99": p99, "cpu_server_wrk": cpu, "server_cpu_us_per_request": per}, open(out + ".json", "w"), indent=1)
print("\n".join(lines))
EOF
