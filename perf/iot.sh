#!/usr/bin/env bash
# `loadgen iot` against Junction over WAMP and over MQTT and against
# mosquitto, interleaved (A, B, ..., A, B, ...) so that all see the same
# machine noise. Prints each run and the medians of the router's CPU per
# delivery.
#
#   perf/iot.sh [RUNS] [wamp=JUNCTION_BIN] [mqtt=JUNCTION_BIN] [mosquitto]
#
#   perf/iot.sh 3 wamp=target/release/junction mqtt=target/release/junction mosquitto
#
# A target named wamp* drives Junction's WebSocket transport (JSON), mqtt*
# Junction's MQTT transport (QoS 0), both from perf/iot-config.json (ports
# 18480 and 18483; SHARDS shards, default 1; with another CONFIG, WS_PORT and
# MQTT_PORT name its ports); mosquitto is started with its own config on
# 127.0.0.1:MQ_PORT (default 18830) and stopped by PID. PIN=1 pins the server
# to the first allowed CPU and loadgen to the second. The scenario (issue #9):
# DEVICES devices (default 10,000) each publishing RATE msg/s (default 1) to
# its own topic, DASHBOARDS dashboards (default 10) subscribed by prefix
# (SUBSCRIBE=wildcard for the other form), COMMANDS commands/s from the
# controller (default 100), 100-byte payloads, DURATION seconds (default 10).
# ARGS overrides the loadgen arguments after `iot`. A target's binary may
# carry keys for the config's `junction` block: mqtt_c='BIN@{"write_coalesce_us":1000}'.
#
# NET (default loopback) is the path, or a list of paths run interleaved
# (NET="loopback veth": per run, every path and every target), as in
# perf/unbatched.sh: `veth` runs the server in perf/netns.sh's server namespace
# (CONFIG copied with its 127.0.0.1 interfaces replaced by 10.77.0.1) and
# loadgen in the load namespace, pinned as with PIN=1 (server CPU 0, loadgen
# CPU 1); the labels are then LABEL@PATH. Each run line says whether the
# server kept up (deliveries/s >= 98 % of devices x rate x dashboards, no loss)
# and shows the softirq time of both CPUs and the load average.
#
# The figures: router CPU (utime + stime from /proc, --router-pid) per
# delivery, throughput, telemetry p50/p99, command round trip p50, for
# Junction the routed messages that crossed shards per delivery (control
# socket), loss and cleanliness.
set -euo pipefail
RUNS=${1:-3}; shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/loadgen}
CONFIG=${CONFIG:-$ROOT/perf/iot-config.json}
SHARDS=${SHARDS:-1}
DURATION=${DURATION:-10}
ARGS=${ARGS:-"--devices ${DEVICES:-10000} --rate ${RATE:-1} --dashboards ${DASHBOARDS:-10} --subscribe ${SUBSCRIBE:-prefix} --commands ${COMMANDS:-100} --payload 100 --duration $DURATION"}
WS_PORT=${WS_PORT:-18480}
MQTT_PORT=${MQTT_PORT:-18483}
MQ_PORT=${MQ_PORT:-18830}
NET=${NET:-loopback}
read -ra NETS <<<"$NET"
for n in "${NETS[@]}"; do
    [[ $n == loopback || $n == veth ]] || { echo "NET: loopback or veth, not $n" >&2; exit 2; }
done
WORK=$(mktemp -d)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || { echo "usage: $0 RUNS [wamp=BIN] [mqtt=BIN] [mosquitto]" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)" || true

source "$ROOT/perf/lib.sh"
source "$ROOT/perf/netpath.sh"
trap 'net_cleanup; rm -rf "$WORK"' EXIT
net_setup "${NETS[@]}"
# The deliveries/s offered: every device's messages to every dashboard.
OFFERED=$(python3 - "$ARGS" <<'PY'
import sys
a = sys.argv[1].split()
def opt(name, default):
    return float(a[a.index(name) + 1]) if name in a else default
print(f"{opt('--devices', 0) * opt('--rate', 1) * opt('--dashboards', 1):.0f}")
PY
)

figure() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = (r.get("cpu") or {}).get("router_cpu_s") or 0.0
d = max(r["delivered"], 1)
lat = r.get("latency_us", {})
x = r.get("extra", {})
cmd = (x.get("commands") or {}).get("latency_us", {}).get("p50", -1)
print(f"{cpu / d * 1e6:.3f} {r['throughput_per_s']:.0f} {lat.get('p50', 0):.0f} {lat.get('p99', 0):.0f} "
      f"{cmd:.0f} {x.get('cross_shard_per_delivery', '-')} {r['lost']} {int(r['clean'])}")
PY
}

declare -A per_delivery
labels=()
for i in $(seq 1 "$RUNS"); do
    for net in "${NETS[@]}"; do
        net_use "$net"
        for t in "${targets[@]}"; do
            ctl=()
            if [[ $t == mosquitto ]]; then
                label=mosquitto
                MOSQUITTO_WRAP=("${SRV_EXEC[@]}")
                start_mosquitto "$MQ_PORT" "$WORK" || exit 1
                pid=$MOSQUITTO_PID
                url=mqtt://$NET_HOST:$MQ_PORT
            else
                label=${t%%=*}
                split_target "${t#*=}" "$CONFIG" "$WORK" "$label" || exit 1
                bin=$TARGET_BIN; cfg=$TARGET_CONFIG
                for p in "$WS_PORT" "$MQTT_PORT"; do
                    if taken "$p"; then echo "port $p is already taken" >&2; exit 1; fi
                done
                RUNTIME_DIRECTORY="$WORK/run" "${SRV_EXEC[@]}" "$bin" start --shards "$SHARDS" --log-level warn \
                    --config "$(net_config "$cfg" "$WORK")" >"$WORK/router.log" 2>&1 &
                pid=$!
                wait_port "$WS_PORT" 30 "$pid" "$WORK/router.log"
                for _ in $(seq 1 20); do
                    [[ -S $WORK/run/junction.sock ]] && { ctl=(--router-control "$WORK/run/junction.sock"); break; }
                    sleep 0.1
                done
                case $label in
                    mqtt*) url=mqtt://$NET_HOST:$MQTT_PORT ;;
                    *) url=ws://$NET_HOST:$WS_PORT/ws ;;
                esac
            fi
            [[ ${#NETS[@]} -gt 1 ]] && label+="@$net"
            [[ " ${labels[*]} " == *" $label "* ]] || labels+=("$label")
            softirq_mark
            # shellcheck disable=SC2086
            timeout $((DURATION * 4 + 120)) "${GEN_EXEC[@]}" "$LOADGEN" iot $ARGS --url "$url" --router-pid "$pid" "${ctl[@]}" \
                --json "$WORK/r.json" >"$WORK/loadgen.log" 2>&1 || {
                echo "run $i $label: loadgen failed:"; tail -5 "$WORK/loadgen.log"; }
            soft=$(softirq_since)
            kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
            [[ -s $WORK/r.json ]] || continue
            read -r us thr p50 p99 cmd cross lost clean <<<"$(figure "$WORK/r.json")"
            rm -f "$WORK/r.json"
            kept=$(python3 -c 'import sys; t, o, lost = map(float, sys.argv[1:]); print("kept up" if lost == 0 and t >= 0.98 * o else "DID NOT KEEP UP")' "$thr" "$OFFERED" "$lost")
            echo "run $i $label: router ${us} us/delivery  throughput ${thr}/s of ${OFFERED}/s offered ($kept)  p50 ${p50} us  p99 ${p99} us  command p50 ${cmd} us  cross-shard ${cross}/delivery  lost ${lost}  clean ${clean}  $soft  load $(cut -d' ' -f1 /proc/loadavg)"
            per_delivery[$label]+="$us "
        done
    done
done
for label in "${labels[@]}"; do
    [[ -n ${per_delivery[$label]:-} ]] || continue
    # shellcheck disable=SC2086
    python3 -c 'import statistics,sys; v=list(map(float, sys.argv[2:])); runs=" ".join(sys.argv[2:]); print(f"median {sys.argv[1]}: {statistics.median(v):.3f} us/delivery  (runs: {runs})")' "$label" ${per_delivery[$label]}
done
