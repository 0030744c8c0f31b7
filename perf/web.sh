#!/usr/bin/env bash
# perf/web.sh — static file serving, side by side in one run: Junction's
# `static` web service, Crossbar.io's (Twisted), and nginx (Debian) as the
# anchor, each serving the same directory on one core, loaded by wrk
# (Debian) on the other core with keep-alive connections.
#
# Files: a small one (1 KiB HTML) and a 1 MiB one. Each (server, file) runs
# RUNS times with a fresh server process; the table has the medians of
# requests per second and the ratio to nginx. Output: perf/out/web-<date>.md
# and .json, wrk's raw output under perf/out/raw-web-<date>/.
#
# Every process this script starts runs in its own process group and is
# killed on exit.
#
# Usage: perf/web.sh [--runs N] [--duration SECS] [--connections N]
#                    [--only junction,crossbar,nginx] [--no-build] [--quick]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PERF="$ROOT/perf"
OUT="$PERF/out"
STAMP=$(date +%Y-%m-%d-%H%M%S)
RAW="$OUT/raw-web-$STAMP"
J_PORT=18180 C_PORT=18190 N_PORT=18200

RUNS=3 DURATION=10 CONNS=32 BUILD=1 ONLY=()
die() { echo "web.sh: error: $*" >&2; exit 1; }
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
TARGETS=(nginx junction crossbar)
[[ ${#ONLY[@]} -gt 0 ]] && TARGETS=("${ONLY[@]}")
wants() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }

# The server on the first allowed CPU, the load generator on the second.
source "$(dirname "$0")/lib.sh"
pin_cpus

trap cleanup EXIT INT TERM

# --- tools --------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
wants nginx && ! command -v nginx >/dev/null && ! [[ -x /usr/sbin/nginx ]] && missing+=(nginx-light)
if ((${#missing[@]})); then
    log "installing ${missing[*]} (Debian)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
JUNCTION=${JUNCTION_BIN:-$ROOT/target/release/junction}
if wants junction && [[ $BUILD == 1 ]]; then
    log "cargo build --release --bin junction"
    (cd "$ROOT" && cargo build --release --bin junction >/dev/null)
fi
CB_VENV="$PERF/.venv-crossbar"
CROSSBAR="$CB_VENV/bin/crossbar"
if wants crossbar && [[ ! -x $CROSSBAR ]]; then
    log "installing Crossbar.io 26.10.1 into $CB_VENV"
    py=$(command -v python3.11 || command -v python3)
    "$py" -m venv "$CB_VENV"
    "$CB_VENV/bin/pip" install -q 'crossbar==26.10.1' 'numpy<2' || die "pip install crossbar failed"
fi

# --- the served directory and the configs ----------------------------------------
WORK=$(mktemp -d)
# Junction's control socket in this run's directory: a node refuses a socket
# that another live node owns (the shared default is /tmp/junction-UID).
export RUNTIME_DIRECTORY="$WORK/run"
chmod 755 "$WORK" # nginx's workers (nobody) read the files
mkdir -p "$RAW" "$WORK/www" "$WORK/crossbar/.crossbar" "$WORK/nginx"
python3 - "$WORK/www" <<'EOF'
import sys, os
www = sys.argv[1]
html = "<!DOCTYPE html><html><head><title>small</title></head><body>" + "<p>Junction static file benchmark.</p>" * 24
open(os.path.join(www, "small.html"), "w").write(html[:1024].ljust(1024))
open(os.path.join(www, "big.bin"), "wb").write(bytes(range(256)) * 4096)
EOF
web_config() { # PORT DIR
    cat <<EOF
{"version": 2, "controller": {}, "workers": [{"type": "router",
 "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
 "transports": [{"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $1},
   "paths": {"/": {"type": "static", "directory": "$2"}, "ws": {"type": "websocket"}}}]}]}
EOF
}
web_config $J_PORT "$WORK/www" >"$WORK/junction.json"
web_config $C_PORT "$WORK/www" >"$WORK/crossbar/.crossbar/config.json"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types { text/html html; application/octet-stream bin; }
    client_body_temp_path $WORK/nginx/tmp;
    proxy_temp_path $WORK/nginx/tmp;
    fastcgi_temp_path $WORK/nginx/tmp;
    uwsgi_temp_path $WORK/nginx/tmp;
    scgi_temp_path $WORK/nginx/tmp;
    server { listen 127.0.0.1:$N_PORT; root $WORK/www; }
}
EOF

start_server() { # TARGET LOG -> STARTED_PID, PORT
    case "$1" in
        junction) spawn "$2" "$JUNCTION" start --config "$WORK/junction.json" --shards 1; PORT=$J_PORT ;;
        crossbar)
            rm -f "$WORK/crossbar/.crossbar/node.pid"
            spawn "$2" "$CROSSBAR" start --cbdir "$WORK/crossbar/.crossbar" --loglevel warn; PORT=$C_PORT ;;
        nginx) spawn "$2" "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"; PORT=$N_PORT ;;
    esac
    wait_port "$PORT"
}

# --- runs ----------------------------------------------------------------------------
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
for file in small.html big.bin; do
    for target in "${TARGETS[@]}"; do
        for run in $(seq "$RUNS"); do
            tag="$target-$file-$run"
            start_server "$target" "$RAW/$tag.server.log"
            # Warm-up (and the file cache), then the measured run.
            taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$PORT/$file" >/dev/null 2>&1 || true
            taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/$file" >"$RAW/$tag.wrk.txt" 2>&1 || true
            stop "$STARTED_PID"
            rps=$(awk '/^Requests\/sec:/ {print $2}' "$RAW/$tag.wrk.txt")
            p99=$(awk '$1 == "99%" {print $2}' "$RAW/$tag.wrk.txt")
            errs=$(awk '/Non-2xx|Socket errors/ {print}' "$RAW/$tag.wrk.txt" | tr '\n' ' ')
            # A run with error answers does not count.
            [[ -z $errs ]] || die "$tag: $errs (see $RAW/$tag.*)"
            log "$tag: ${rps:-?} req/s, p99 ${p99:-?} ${errs}"
            printf '%s\t%s\t%s\t%s\t%s\n' "$file" "$target" "$run" "${rps:-0}" "${p99:-?}" >>"$RESULTS"
        done
    done
done

python3 - "$RESULTS" "$OUT/web-$STAMP" "$DURATION" "$CONNS" "$RUNS" <<'EOF'
import json, statistics, sys, collections, platform, subprocess
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
out, duration, conns, runs = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
by = collections.defaultdict(list)
p99 = collections.defaultdict(list)
for f, t, r, rps, lat in rows:
    by[(f, t)].append(float(rps))
    p99[(f, t)].append(lat.strip())
files = sorted({f for f, *_ in rows}, key=lambda f: f != "small.html")
targets = [t for t in ("nginx", "junction", "crossbar") if any(k[1] == t for k in by)]
lines = [f"Static files, {duration} s per run, wrk -t1 -c{conns} (keep-alive), server and wrk on one core each, median of {runs} runs", "",
         "| file | " + " | ".join(f"{t} req/s" for t in targets) + " | junction / nginx | junction / crossbar |",
         "|---|" + "---|" * (len(targets) + 2)]
summary = {}
for f in files:
    med = {t: statistics.median(by[(f, t)]) for t in targets if by[(f, t)]}
    summary[f] = {t: {"median_rps": med[t], "runs": by[(f, t)], "p99": p99[(f, t)]} for t in med}
    ratio = lambda a, b: f"{med[a] / med[b]:.2f}" if a in med and b in med and med[b] else "–"
    lines.append(f"| {f} | " + " | ".join(f"{med.get(t, 0):,.0f}" for t in targets) + f" | {ratio('junction', 'nginx')} | {ratio('junction', 'crossbar')} |")
lines += ["", f"Machine: {platform.machine()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs, Linux {platform.release()}"]
text = "\n".join(lines)
print(text)
open(out + ".md", "w").write(text + "\n")
json.dump(summary, open(out + ".json", "w"), indent=2)
EOF
rm -rf "$WORK"
