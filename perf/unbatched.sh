#!/usr/bin/env bash
# Router CPU per delivery for unbatched traffic, Junction builds and mosquitto
# in the same run, interleaved (A, B, ..., mosquitto, A, B, ...) so that all
# see the same machine noise. Prints each run and the medians.
#
#   perf/unbatched.sh [RUNS] [LABEL=JUNCTION_BIN ...] [mosquitto]
#
#   perf/unbatched.sh 3 old=/tmp/junction-old new=target/release/junction mosquitto
#
# The scenario (issue #9): 10 publishers x 100 subscribers over 10 topics, each
# publisher paced at RATE msg/s (default 1000: 100k deliveries/s), 100-byte
# payloads, JSON over WebSocket for Junction (one shard unless SHARDS is set),
# MQTT QoS 0 for mosquitto (started by hand on 127.0.0.1:MQ_PORT, default
# 18830, with its own config, stopped by PID). SUBSCRIBERS (default 100) and
# PUBLISHERS (default 10) change the fan-out; ARGS overrides the loadgen
# arguments. CONFIG=FILE and PORT as in perf/ab.sh (e.g.
# CONFIG=perf/bench-config.json PORT=18480); with a CONFIG a target's binary
# may carry keys for its `junction` block: c='BIN@{"write_coalesce_us":1000}'.
#
# PIN=1 pins the server (Junction or mosquitto) to the first allowed CPU and
# loadgen to the second (`taskset`), so that the two do not share a core: on
# a 2-core machine that is what lets mosquitto keep up at all. Each run line
# says whether the server kept up: deliveries/s against the offered rate
# (publishers x rate x subscribers per topic) and loss.
#
# NET (default loopback) is the path, or a list of paths run interleaved
# (NET="loopback veth": per run, every path and every target): `veth` runs the
# server in perf/netns.sh's server namespace (listening on 10.77.0.1; CONFIG,
# default perf/bench-config.json with PORT 18480, is copied with its
# 127.0.0.1 interfaces replaced) and loadgen in its load namespace, pinned as
# with PIN=1 to the CPUs the namespaces' receive processing is steered to
# (server CPU 0, loadgen CPU 1). The namespaces are created if absent and then
# removed at exit. With more than one path the labels are LABEL@PATH.
#
# The figure: the router's CPU time (utime + stime from /proc, loadgen's
# --router-pid) divided by the deliveries, in microseconds. Each run line also
# shows the softirq time of the server's and loadgen's CPUs (/proc/stat, all
# of each CPU's softirq, whichever task it was charged to) and the load average.
set -euo pipefail
RUNS=${1:-3}; shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/loadgen}
SHARDS=${SHARDS:-1}
RATE=${RATE:-1000}
DURATION=${DURATION:-10}
PUBLISHERS=${PUBLISHERS:-10}
SUBSCRIBERS=${SUBSCRIBERS:-100}
ARGS=${ARGS:-"pubsub --publishers $PUBLISHERS --subscribers $SUBSCRIBERS --topics 10 --payload 100 --rate $RATE --duration $DURATION"}
NET=${NET:-loopback}
read -ra NETS <<<"$NET"
for n in "${NETS[@]}"; do
    [[ $n == loopback || $n == veth ]] || { echo "NET: loopback or veth, not $n" >&2; exit 2; }
done
[[ " $NET " == *" veth "* && -z ${CONFIG:-} ]] && { CONFIG=$ROOT/perf/bench-config.json; PORT=${PORT:-18480}; }
PORT=${PORT:-8080}
MQ_PORT=${MQ_PORT:-18830}
WORK=$(mktemp -d)
# Junction's control socket in this run's directory: a node refuses a socket
# that another live node owns (the shared default is /tmp/junction-UID).
export RUNTIME_DIRECTORY="$WORK/run"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || { echo "usage: $0 RUNS LABEL=BIN... [mosquitto]" >&2; exit 2; }

source "$ROOT/perf/lib.sh"
source "$ROOT/perf/netpath.sh"
trap 'net_cleanup; rm -rf "$WORK"' EXIT
net_setup "${NETS[@]}"
# The deliveries/s offered when every subscriber gets every message of its
# topic (the default ARGS: publishers x rate x subscribers / topics x ...).
offered() {
    python3 - "$ARGS" <<'PY'
import sys
a = sys.argv[1].split()
def opt(name, default):
    return float(a[a.index(name) + 1]) if name in a else default
pubs, subs, topics, rate = opt("--publishers", 1), opt("--subscribers", 1), opt("--topics", 1), opt("--rate", 0)
# every topic has subs/topics subscribers, every publisher publishes to one topic
print(f"{pubs * rate * subs / topics:.0f}")
PY
}
OFFERED=$(offered)

figure() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = (r.get("cpu") or {}).get("router_cpu_s") or 0.0
d = r["delivered"]
lcpu = (r["cpu"]["loadgen_user_s"] + r["cpu"]["loadgen_sys_s"])
lat = r.get("latency_us", {})
print(f"{cpu / d * 1e6:.3f} {r['throughput_per_s']:.0f} {cpu:.2f} {lcpu / d * 1e6:.3f} "
      f"{lat.get('p50', 0):.0f} {lat.get('p99', 0):.0f} {r['lost']} {int(r['clean'])}")
PY
}

declare -A per_delivery
labels=()
for i in $(seq 1 "$RUNS"); do
    for net in "${NETS[@]}"; do
        net_use "$net"
        for t in "${targets[@]}"; do
            if [[ $t == mosquitto ]]; then
                label=mosquitto
                MOSQUITTO_WRAP=("${SRV_EXEC[@]}")
                start_mosquitto "$MQ_PORT" "$WORK" || exit 1
                pid=$MOSQUITTO_PID
                url=mqtt://$NET_HOST:$MQ_PORT
            else
                label=${t%%=*}
                split_target "${t#*=}" "${CONFIG:-}" "$WORK" "$label" || exit 1
                bin=$TARGET_BIN
                if taken "$PORT"; then echo "port $PORT is already taken" >&2; exit 1; fi
                config_args=()
                [[ -n $TARGET_CONFIG ]] && config_args=(--config "$(net_config "$TARGET_CONFIG" "$WORK")")
                "${SRV_EXEC[@]}" "$bin" start --shards "$SHARDS" --log-level warn "${config_args[@]}" >"$WORK/router.log" 2>&1 &
                pid=$!
                wait_port "$PORT" 30 "$pid" "$WORK/router.log"
                url=${URL:-ws://$NET_HOST:$PORT/ws}
            fi
            [[ ${#NETS[@]} -gt 1 ]] && label+="@$net"
            [[ " ${labels[*]} " == *" $label "* ]] || labels+=("$label")
            softirq_mark
            # shellcheck disable=SC2086
            "${GEN_EXEC[@]}" "$LOADGEN" $ARGS --url "$url" --router-pid "$pid" --json "$WORK/r.json" >"$WORK/loadgen.log" 2>&1 || {
                echo "run $i $label: loadgen failed:"; tail -5 "$WORK/loadgen.log"; }
            soft=$(softirq_since)
            kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
            [[ -s $WORK/r.json ]] || continue
            read -r us thr cpu lus p50 p99 lost clean <<<"$(figure "$WORK/r.json")"
            kept=$(python3 -c 'import sys; t, o, lost = map(float, sys.argv[1:]); print("kept up" if lost == 0 and t >= 0.98 * o else "DID NOT KEEP UP")' "$thr" "$OFFERED" "$lost")
            echo "run $i $label: router ${us} us/delivery (cpu ${cpu} s)  throughput ${thr}/s of ${OFFERED}/s offered ($kept)  loadgen ${lus} us/delivery  p50 ${p50} us  p99 ${p99} us  lost ${lost}  clean ${clean}  $soft  load $(cut -d' ' -f1 /proc/loadavg)"
            rm -f "$WORK/r.json"
            per_delivery[$label]+="$us "
        done
    done
done
for label in "${labels[@]}"; do
    [[ -n ${per_delivery[$label]:-} ]] || continue
    # shellcheck disable=SC2086
    python3 -c 'import statistics,sys; v=list(map(float, sys.argv[2:])); runs=" ".join(sys.argv[2:]); print(f"median {sys.argv[1]}: {statistics.median(v):.3f} us/delivery  (runs: {runs})")' "$label" ${per_delivery[$label]}
done
