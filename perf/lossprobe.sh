#!/usr/bin/env bash
# Loss probe: a fan-out on one shard under receive-buffer pressure, a fresh
# router per run, builds interleaved (run 1 of each binary, then run 2, ...),
# so that a rare loss (a subscriber whose receives starve until its queue
# overflows) shows, and shows for every build alike. Prints per run what
# loadgen lost and what the router says about it.
#
#   perf/lossprobe.sh RUNS BIN...
#
# Environment (defaults in brackets):
#   MQTT_PORT [26883], WS_PORT [26080]   ports of the generated config (MQTT
#                     listener, and a web transport with /ws and /mqtt)
#   LOADGEN           loadgen binary [target/release/loadgen]
#   SCHEME            mqtt or ws (WAMP over WebSocket, JSON) [mqtt]
#   SUBSCRIBERS [1000], QOS [1] (MQTT only), PAYLOAD [100], DURATION [5],
#   THREADS [1]       loadgen's --threads
#   WINDOW            loadgen's --window (messages on their way at once) [its default]
#   SHARDS [1]        the router's --shards
#   ROUTER_ENV        the router's environment, e.g. "JUNCTION_URING_BUFFERS=16"
#                     (the least working set of receive buffers: the pressure)
#   MAX_QUEUED        the MQTT listener's junction.max_queued_messages [1000]:
#                     smaller, a shorter starvation overflows a queue (a more
#                     sensitive probe; loss then shows as drops)
#   NICE [10]         niceness of router and loadgen (the machine is shared)
#   KEEP              a directory: each run's router log and loadgen output stay there
#
# Per run: the binary's directory name, lost/reordered/duplicates, delivered of
# expected, throughput, the router's "session queue full: message dropped"
# lines (MQTT queues overflowing, logged at debug), and the io_uring counters
# logged at shutdown (re-arms of starved receives; builds after f73bd83 also the
# most flushes and microseconds a receive waited for buffers).
# At the end: runs with loss, per binary.
set -euo pipefail
RUNS=${1:?RUNS}; shift
[[ $# -ge 1 ]] || { echo "usage: $0 RUNS BIN..." >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=perf/lib.sh
. "$ROOT/perf/lib.sh"
LOADGEN=${LOADGEN:-$ROOT/target/release/loadgen}
MQTT_PORT=${MQTT_PORT:-26883} WS_PORT=${WS_PORT:-26080}
SCHEME=${SCHEME:-mqtt} SUBSCRIBERS=${SUBSCRIBERS:-1000} QOS=${QOS:-1}
PAYLOAD=${PAYLOAD:-100} DURATION=${DURATION:-5} THREADS=${THREADS:-1}
SHARDS=${SHARDS:-1} NICE=${NICE:-10}
read -r -a ROUTER_ENV <<<"${ROUTER_ENV:-}"
MQTT_JUNCTION=""
[[ -n ${MAX_QUEUED:-} ]] && MQTT_JUNCTION=", \"junction\": {\"max_queued_messages\": $MAX_QUEUED}"
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT INT TERM
cat >"$WORK/node.json" <<EOF
{"version": 2, "controller": {}, "workers": [{"type": "router",
 "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
   {"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
    "disclose": {"caller": false, "publisher": false}, "cache": true}]}]}],
 "transports": [
  {"type": "web", "id": "ws", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $WS_PORT},
   "paths": {"ws": {"type": "websocket", "serializers": ["json", "msgpack", "cbor"]},
             "mqtt": {"type": "mqtt", "options": {"realm": "realm1", "role": "anonymous", "payload_mapping": {"": {"type": "passthrough"}}}}}},
  {"type": "mqtt", "id": "mqtt", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $MQTT_PORT},
   "options": {"realm": "realm1", "role": "anonymous", "payload_mapping": {"": {"type": "passthrough"}}}$MQTT_JUNCTION}]}]}
EOF
case $SCHEME in
    mqtt) URL=mqtt://127.0.0.1:$MQTT_PORT PORT=$MQTT_PORT LG_ARGS=(--qos "$QOS") ;;
    ws) URL=ws://127.0.0.1:$WS_PORT/ws PORT=$WS_PORT LG_ARGS=() ;;
    *) echo "SCHEME is mqtt or ws" >&2; exit 2 ;;
esac
[[ -n ${WINDOW:-} ]] && LG_ARGS+=(--window "$WINDOW")
[[ -n ${KEEP:-} ]] && mkdir -p "$KEEP"
declare -A lossy
for ((i = 1; i <= RUNS; i++)); do
    for bin in "$@"; do
        label=$(basename "$(dirname "$bin")")
        if taken "$PORT"; then echo "port $PORT is taken: another router would be measured" >&2; exit 1; fi
        rt="$WORK/rt" && rm -rf "$rt" && mkdir "$rt"
        spawn "$WORK/router.log" env "${ROUTER_ENV[@]}" RUNTIME_DIRECTORY="$rt" nice -n "$NICE" "$bin" start \
            --config "$WORK/node.json" --shards "$SHARDS" \
            --log-level "warn,junction::transport::mqtt::session=debug,junction::transport::uring=debug"
        pid=$STARTED_PID
        wait_port "$PORT" 30 "$pid" "$WORK/router.log"
        # The router is `nice` under env under setsid: measure the router itself.
        rpid=$(pgrep -P "$pid" -n || echo "$pid")
        rpid=$(pgrep -P "$rpid" -n || echo "$rpid")
        nice -n "$NICE" "$LOADGEN" fanout --url "$URL" --subscribers "$SUBSCRIBERS" --payload "$PAYLOAD" \
            --duration "$DURATION" --threads "$THREADS" --router-pid "$rpid" "${LG_ARGS[@]}" \
            >"$WORK/lg.txt" 2>&1 || true
        kill -INT "$rpid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
        stop "$pid" 2
        lost=$(awk '/lost \/ reordered/ {print $6 "/" $8 "/" $10}' "$WORK/lg.txt")
        deliv=$(awk '/delivered \/ expected/ {print $4 "/" $6}' "$WORK/lg.txt")
        tput=$(awk '/^  throughput/ {print $2}' "$WORK/lg.txt")
        drops=$(grep -c "session queue full" "$WORK/router.log" || true)
        uring=$(grep -o 'starved=[0-9]*\( starved_max_flushes=[0-9]*\)\?\( starved_max_us=[0-9]*\)\?' "$WORK/router.log" | tail -1 || true)
        echo "run $i $label: lost/reord/dup ${lost:-?} delivered ${deliv:-?} throughput ${tput:-?}/s drops $drops ${uring:-}"
        [[ ${lost%%/*} =~ ^[1-9] ]] && lossy[$label]=$((${lossy[$label]:-0} + 1))
        [[ -z ${lost:-} ]] && tail -3 "$WORK/lg.txt"
        if [[ -n ${KEEP:-} ]]; then
            cp "$WORK/router.log" "$KEEP/router-$label-$i.log"; cp "$WORK/lg.txt" "$KEEP/loadgen-$label-$i.txt"
        fi
    done
done
for bin in "$@"; do
    label=$(basename "$(dirname "$bin")")
    echo "$label: runs with loss ${lossy[$label]:-0} / $RUNS"
done
