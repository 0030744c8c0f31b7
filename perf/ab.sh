#!/usr/bin/env bash
# A/B comparison of two Junction binaries on one loadgen scenario, interleaved
# so that both see the same machine noise; prints each run and the medians.
# Used for the before/after figures in BENCHMARKS.md.
#
# The order alternates per pair (A B, then B A, ...): on the shared VM of
# BENCHMARKS.md whichever binary ran first in a pair won every pair by 2-8 %
# (seventh session), so a fixed order measures the order. Use an even RUNS
# for a balanced comparison; ORDER=fixed keeps A first in every pair.
#
#   perf/ab.sh OLD_BIN NEW_BIN [RUNS] -- LOADGEN_ARGS...
#
# LOADGEN_ARGS is a loadgen command line without --url, --router-pid and
# --json (e.g. `fanout --subscribers 1000 --payload 100 --duration 10`);
# the router listens on ws://127.0.0.1:8080/ws (its embedded default config)
# with one shard unless SHARDS is set. URL overrides the URL (rs://127.0.0.1:8081).
# CONFIG=FILE starts the routers with that config instead, listening on PORT
# (e.g. perf/bench-config.json, ports 18480/18481: on a machine shared with
# other benchmarks the default port may be someone else's router).
#
# A_ARGS / B_ARGS: more `junction start` arguments for that side (e.g.
# `--config perf/metrics-off.json`; the router must listen where URL says). B_SCRAPE=SECS: while loadgen runs, read B's metrics over its control
# socket every SECS seconds (`junction status --metrics`), as a Prometheus
# server would; the scrape count is printed per run.
set -euo pipefail
A=$1; B=$2; RUNS=${3:-3}; shift 3; [[ ${1:-} == -- ]] && shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/loadgen}
PORT=${PORT:-8080}
URL=${URL:-ws://127.0.0.1:$PORT/ws}
# The port to wait for before loadgen starts (the router's, from URL).
PORT=${URL##*:}; PORT=${PORT%%/*}
CONFIG_ARGS=(); [[ -n ${CONFIG:-} ]] && CONFIG_ARGS=(--config "$CONFIG")
SHARDS=${SHARDS:-1}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The figure to compare: the first key loadgen reports that exists.
figure() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
flat = dict(r, **r.get("extra", {}))
cpu = (r.get("cpu") or {}).get("router_cpu_s")
for k in ("router_rss_kib_per_session", "throughput_per_s"):
    if k in flat:
        extra = ""
        if k == "throughput_per_s" and cpu:
            # Deliveries per second of router CPU: the router's own efficiency,
            # which matters when loadgen, not the router, limits throughput.
            extra = f"  router_cpu_s {cpu:.2f}  per_router_cpu_s {r['delivered'] / cpu:.0f}"
        digits = 3 if k == "router_rss_kib_per_session" else 0
        print(f"{k} {flat[k]:.{digits}f}{extra}")
        break
PY
}
declare -A results effs
for i in $(seq 1 "$RUNS"); do
    order="A B"
    [[ ${ORDER:-alternate} != fixed ]] && (( i % 2 == 0 )) && order="B A"
    for label in $order; do
        bin=$A extra=${A_ARGS:-} scrape=""
        [[ $label == B ]] && bin=$B extra=${B_ARGS:-} scrape=${B_SCRAPE:-}
        run_dir="$WORK/run-$label"
        if (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
            echo "port $PORT is already taken: another router would be measured" >&2; exit 1
        fi
        # shellcheck disable=SC2086 # extra arguments are split on purpose
        RUNTIME_DIRECTORY=$run_dir "$bin" start --shards "$SHARDS" --log-level warn "${CONFIG_ARGS[@]}" $extra >"$WORK/router.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 50); do
            (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
            sleep 0.1
        done
        scraper="" scrapes="$WORK/scrapes"
        : >"$scrapes"
        if [[ -n $scrape ]]; then
            (while sleep "$scrape"; do
                "$bin" status --metrics --socket "$run_dir/junction.sock" >"$WORK/metrics.txt" 2>/dev/null &&
                    echo >>"$scrapes"
            done) &
            scraper=$!
        fi
        "$LOADGEN" "$@" --url "$URL" --router-pid "$pid" --json "$WORK/r.json" >"$WORK/loadgen.log" 2>&1 || {
            echo "run $i $label: loadgen failed:"; tail -5 "$WORK/loadgen.log"; }
        [[ -n $scraper ]] && { kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true; }
        kill -INT "$pid"; wait "$pid" 2>/dev/null || true
        f=$(figure "$WORK/r.json")
        [[ -n $scrape ]] && f="$f  scrapes $(wc -l <"$scrapes")"
        echo "run $i $label: $f"
        read -r _ v _ _ _ eff _ <<<"$f"
        results[$label]+="$v "
        effs[$label]+="${eff:-0} "
    done
done
for label in A B; do
    med=$(python3 -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:])), 3))' ${results[$label]})
    eff=$(python3 -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:]))))' ${effs[$label]})
    echo "median $label: $med  (per router CPU second: $eff)"
done
