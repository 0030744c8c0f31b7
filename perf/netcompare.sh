#!/usr/bin/env bash
# perf/netcompare.sh — issue #9's unbatched targets over loopback AND over a
# network-like path (perf/netns.sh: two namespaces, a veth pair, receive
# processing on the receiving side's CPU), Junction against mosquitto, in one
# script so that both paths see the same machine load. Run as root.
#
#   perf/netcompare.sh [--runs 3] [--duration 6] [--junction BIN] [--loadgen BIN]
#                      [--port-base 18480] [--out DIR]
#                      [--only unbatched200,unbatched400,iot2,iot10,profile]
#
# Each step runs RUNS rounds; a round is every path (loopback, veth) and every
# server, a fresh server per run, pinned (server CPU 0, loadgen CPU 1):
#   unbatched200  perf/unbatched.sh, RATE=200: 10 publishers x 100 subscribers
#                 over 10 topics, 100 B, 20k deliveries/s (Junction: WAMP JSON
#                 over WebSocket, 1 shard; mosquitto: MQTT QoS 0)
#   unbatched400  the same at RATE=400: 40k deliveries/s
#   iot2, iot10   perf/iot.sh: 10,000 devices x 1 msg/s, 2 and 10 dashboards by
#                 prefix, 100 commands/s (Junction over WAMP and over MQTT)
#   profile       unbatched200 on each path, one Junction and one mosquitto run,
#                 `perf record -g -F 2000 -p PID -- sleep 4` from the 3rd second
#                 and `perf stat` of packets, IPIs and syscalls per delivery;
#                 perf/netprofile.py's summary (kernel vs user, the send path,
#                 the receive path, the top symbols); at the same time the
#                 whole server CPU (perf record -a -C 0): whose time it was,
#                 and the receive softirq run while it idled (no process's)
#   counts        (not in the default list) the perf stat counts alone (with
#                 the syscalls by kind), unbatched200 (Junction, mosquitto) and
#                 iot with 2 dashboards (Junction WAMP and MQTT, mosquitto), on
#                 each path
# Ports: --port-base B (WebSocket), B+1 (rawsocket), B+3 (MQTT), mosquitto
# B+350. Everything goes to OUT (default perf/out/netcompare-DATE): one .txt per
# step with every run line (kept up or not, softirq per CPU, load average) and
# the medians, path.txt (perf/netns.sh status) and summary.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JUNCTION=$ROOT/target/release/junction
LOADGEN=$ROOT/target/release/loadgen
RUNS=3 DURATION=6 PORT_BASE=18480
ONLY="unbatched200,unbatched400,iot2,iot10,profile"
OUT="$ROOT/perf/out/netcompare-$(date +%Y%m%d-%H%M%S)"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --junction) JUNCTION=$2; shift ;;
        --loadgen) LOADGEN=$2; shift ;;
        --port-base) PORT_BASE=$2; shift ;;
        --out) OUT=$2; shift ;;
        --only) ONLY=$2; shift ;;
        -h|--help) sed -n 2,28p "$0"; exit 0 ;;
        *) echo "netcompare.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ $(id -u) == 0 ]] || { echo "netcompare.sh: run as root (network namespaces)" >&2; exit 1; }
for b in "$JUNCTION" "$LOADGEN"; do
    [[ -x $b ]] || { echo "netcompare.sh: $b is missing" >&2; exit 1; }
done
mkdir -p "$OUT"
WS_PORT=$PORT_BASE RS_PORT=$((PORT_BASE + 1)) MQTT_PORT=$((PORT_BASE + 3)) MQ_PORT=$((PORT_BASE + 350))
for c in bench iot; do
    sed -e "s/18480/$WS_PORT/" -e "s/18481/$RS_PORT/" -e "s/18483/$MQTT_PORT/" \
        "$ROOT/perf/$c-config.json" >"$OUT/$c-config.json"
done

source "$ROOT/perf/lib.sh"
source "$ROOT/perf/netpath.sh"
SERVER_PID=
"$ROOT/perf/netns.sh" up
trap '[[ -n $SERVER_PID ]] && kill -KILL "$SERVER_PID" 2>/dev/null; "$ROOT/perf/netns.sh" down' EXIT
"$ROOT/perf/netns.sh" status | tee "$OUT/path.txt"

# every run pinned (server CPU 0, loadgen CPU 1), over loopback too
export LOADGEN_BIN=$LOADGEN NET="loopback veth" DURATION MQ_PORT PIN=1
step() { [[ ,$ONLY, == *",$1,"* ]]; }
log() { echo "[$(date -u +%H:%M:%S)] $* (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUT/summary.txt"; }

for rate in 200 400; do
    step "unbatched$rate" || continue
    log "unbatched RATE=$rate"
    CONFIG=$OUT/bench-config.json PORT=$WS_PORT RATE=$rate \
        "$ROOT/perf/unbatched.sh" "$RUNS" junction="$JUNCTION" mosquitto 2>&1 | tee "$OUT/unbatched$rate.txt"
    grep '^median' "$OUT/unbatched$rate.txt" >>"$OUT/summary.txt" || true
done
for dash in 2 10; do
    step "iot$dash" || continue
    log "iot DASHBOARDS=$dash"
    CONFIG=$OUT/iot-config.json WS_PORT=$WS_PORT MQTT_PORT=$MQTT_PORT DASHBOARDS=$dash \
        "$ROOT/perf/iot.sh" "$RUNS" wamp="$JUNCTION" mqtt="$JUNCTION" mosquitto 2>&1 | tee "$OUT/iot$dash.txt"
    grep '^median' "$OUT/iot$dash.txt" >>"$OUT/summary.txt" || true
done

# One measured run on path $1 against server $2 (junction: WAMP over
# WebSocket, junction-mqtt: Junction's MQTT, mosquitto) with scenario $3
# (unbatched: RATE=200; iot2: 10,000 devices, 2 dashboards); $4 profile or
# counts. Both: `perf stat` on the server for 4 s of the steady phase (packets
# it sent: net:net_dev_queue; IPIs it sent; syscalls; io_uring requests),
# per delivery; profile: also `perf record -g` of the server and of its whole
# CPU, summarised by perf/netprofile.py.
one_run() {
    local net=$1 server=$2 scen=$3 mode=$4 work pid gen port tag=$2-$3-$1 load settle
    work=$(mktemp -d)
    net_setup "$net"
    net_use "$net"
    case $server in
        mosquitto) port=$MQ_PORT ;;
        junction-mqtt) port=$MQTT_PORT ;;
        *) port=$WS_PORT ;;
    esac
    if taken "$port"; then
        echo "$tag: the server's port is already taken" >&2
        return 1
    fi
    if [[ $server == mosquitto ]]; then
        MOSQUITTO_WRAP=("${SRV_EXEC[@]}")
        start_mosquitto "$MQ_PORT" "$work"
        pid=$MOSQUITTO_PID
        SERVER_PID=$pid
    else
        RUNTIME_DIRECTORY=$work/run "${SRV_EXEC[@]}" "$JUNCTION" start --shards 1 --log-level warn \
            --config "$(net_config "$OUT/iot-config.json" "$work")" >"$work/router.log" 2>&1 &
        pid=$!
        SERVER_PID=$pid
        wait_port "$WS_PORT" 30 "$pid" "$work/router.log"
    fi
    local url=ws://$NET_HOST:$port/ws
    [[ $server == junction ]] || url=mqtt://$NET_HOST:$port
    if [[ $scen == unbatched ]]; then
        load=(pubsub --publishers 10 --subscribers 100 --topics 10 --payload 100 --rate 200 --duration 9)
        settle=3
    else
        load=(iot --devices 10000 --rate 1 --dashboards 2 --subscribe prefix --commands 100 --payload 100 --duration 10)
        settle=7
    fi
    "${GEN_EXEC[@]}" "$LOADGEN" "${load[@]}" --url "$url" --router-pid "$pid" --json "$work/r.json" >"$work/loadgen.log" 2>&1 &
    gen=$!
    sleep "$settle"
    # the perf tools themselves on loadgen's CPU
    local whole=() rec=()
    if [[ $mode == profile ]]; then
        # everything on the server's CPU, and the server process
        taskset -c "$GEN_CPU" perf record -q -a -C "$SRV_CPU" -g -F 1000 -o "$OUT/perfcpu-$tag.data" -- sleep 4 2>/dev/null &
        whole=($!)
        taskset -c "$GEN_CPU" perf record -q -g -F 2000 -p "$pid" -o "$OUT/perf-$tag.data" -- sleep 4 2>/dev/null &
        rec=($!)
    fi
    taskset -c "$GEN_CPU" perf stat -x, -o "$work/stat.csv" -p "$pid" \
        -e net:net_dev_queue,ipi:ipi_send_cpu,ipi:ipi_send_cpumask,raw_syscalls:sys_enter,io_uring:io_uring_submit_req \
        -e syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait \
        -e syscalls:sys_enter_io_uring_enter -- sleep 4 2>/dev/null
    for p in "${whole[@]}" "${rec[@]}"; do wait "$p" || true; done
    wait "$gen" || { echo "$tag: loadgen failed"; tail -3 "$work/loadgen.log"; }
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    SERVER_PID=
    python3 - "$work/r.json" "$work/stat.csv" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
us = r["cpu"]["router_cpu_s"] / r["delivered"] * 1e6
print(f"run: {r['throughput_per_s']:.0f} deliveries/s, lost {r['lost']}, router {us:.2f} us/delivery")
per = 4.0 * r["throughput_per_s"]
names = {"net:net_dev_queue": "packets sent", "ipi:ipi_send_cpu": "IPIs sent (one CPU)",
         "ipi:ipi_send_cpumask": "IPIs sent (CPU mask)", "raw_syscalls:sys_enter": "syscalls",
         "io_uring:io_uring_submit_req": "io_uring requests",
         "syscalls:sys_enter_write": "  of which write", "syscalls:sys_enter_read": "  of which read",
         "syscalls:sys_enter_epoll_ctl": "  of which epoll_ctl", "syscalls:sys_enter_epoll_wait": "  of which epoll_wait",
         "syscalls:sys_enter_io_uring_enter": "  of which io_uring_enter"}
for line in open(sys.argv[2]):
    f = line.strip().split(",")
    if len(f) > 2 and f[2] in names and f[0].replace(".", "").isdigit():
        print(f"  {names[f[2]]:22} {float(f[0]) / per:6.3f} per delivery")
PY
    rm -rf "$work"
    if [[ $mode == profile ]]; then
        python3 "$ROOT/perf/netprofile.py" "$OUT/perf-$tag.data"
        python3 "$ROOT/perf/netprofile.py" --cpu --comm "$([[ $server == mosquitto ]] && echo mosquitto || echo junction)" \
            "$OUT/perfcpu-$tag.data"
    fi
}
if step profile; then
    for net in veth loopback; do
        for server in junction mosquitto; do
            log "profile $server, unbatched 20k/s, over $net"
            one_run "$net" "$server" unbatched profile 2>&1 | tee "$OUT/profile-$server-unbatched-$net.txt"
        done
    done
fi
if step counts; then
    for net in veth loopback; do
        for server in junction mosquitto; do
            log "counts $server, unbatched 20k/s, over $net"
            one_run "$net" "$server" unbatched counts 2>&1 | tee "$OUT/counts-$server-unbatched-$net.txt"
        done
        for server in junction junction-mqtt mosquitto; do
            log "counts $server, iot 2 dashboards, over $net"
            one_run "$net" "$server" iot2 counts 2>&1 | tee "$OUT/counts-$server-iot2-$net.txt"
        done
    done
fi
log "done: $OUT"
