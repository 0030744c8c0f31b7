#!/usr/bin/env bash
# Router memory per held session: idle MQTT connections and WAMP-over-WebSocket
# sessions, Junction builds side by side with mosquitto, interleaved, in one run.
#
#   perf/heldmem.sh [--runs N] [--mqtt N] [--ws N] [--shards "1 2"] JUNCTION_BIN...
#
# Each run starts the router with perf/mqttmem-node.json (MQTT on MQTT_PORT,
# default 21883; the web transport's /ws on WS_PORT, default 21080), holds the
# sessions with `loadgen connections` (ramp 2,000/s, hold 10 s, 20 source
# addresses) and prints loadgen's router_rss_kib_per_session; then the median
# per case. mosquitto (if installed) runs on MOSQ_PORT (default 21884) with no
# config file. LOADGEN: the loadgen binary (default target/release/loadgen).
# Each run prints the router's RSS before the sessions on stderr (a baseline
# far above the usual few MB makes that run's figure meaningless).
# `--mqtt 0` or `--ws 0` leaves that protocol out. The router's control socket
# is in a temporary directory of its own per run (RUNTIME_DIRECTORY), not the shared default.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3 MQTT=10000 WS=15000 SHARDS="1 2"
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --mqtt) MQTT=$2; shift 2 ;;
    --ws) WS=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "usage: $0 [--runs N] [--mqtt N] [--ws N] [--shards LIST] JUNCTION_BIN..." >&2; exit 2; }
LOADGEN=${LOADGEN:-target/release/loadgen}
MQTT_PORT=${MQTT_PORT:-21883} WS_PORT=${WS_PORT:-21080} MOSQ_PORT=${MOSQ_PORT:-21884}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
sed -e "s/28080/$WS_PORT/" -e "s/21883/$MQTT_PORT/" perf/mqttmem-node.json > "$TMP/node.json"

# hold BIN SHARDS URL N: one run; prints KiB per session.
hold() {
  local bin=$1 shards=$2 url=$3 n=$4 pid
  if [[ $bin == mosquitto ]]; then
    mosquitto -p "$MOSQ_PORT" > "$TMP/router.log" 2>&1 &
    pid=$!
    url=mqtt://127.0.0.1:$MOSQ_PORT
  else
    local rt
    rt=$(mktemp -d -p "$TMP")
    RUNTIME_DIRECTORY=$rt "$bin" start --config "$TMP/node.json" --shards "$shards" > "$TMP/router.log" 2>&1 &
    pid=$!
  fi
  sleep 2
  "$LOADGEN" connections --url "$url" --sessions "$n" --ramp 2000 --hold 10 \
    --source-ips 127.0.0.1-127.0.0.20 --router-pid "$pid" --threads 1 > "$TMP/lg.log" 2>&1 || true
  kill -INT "$pid" 2> /dev/null || true
  sleep 1
  kill "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  # The baseline is loadgen's sample before its first connection: print it, so
  # that a run whose router had not settled yet (a figure far off, or negative)
  # shows why.
  awk '/router_rss_kib_idle/ {rss = $2} /router_anon_kib_idle/ {anon = $2}
       /router_anon_kib_per_session/ {per = $2}
       END {print "  (router RSS before the sessions: " rss " KiB, of it anonymous " anon \
            " KiB; per session from the anonymous part alone: " per " KiB)"}' "$TMP/lg.log" >&2
  awk '/router_rss_kib_per_session/ {print $2; exit}' "$TMP/lg.log"
}

declare -A got
for ((r = 1; r <= RUNS; r++)); do
  for s in $SHARDS; do
    for b in "$@"; do
      if ((MQTT > 0)); then
        v=$(hold "$b" "$s" "mqtt://127.0.0.1:$MQTT_PORT" "$MQTT"); got["mqtt $s $b"]+="$v "
        echo "run $r: MQTT $MQTT, $s shard(s), $b: $v KiB"
      fi
      if ((WS > 0)); then
        v=$(hold "$b" "$s" "ws://127.0.0.1:$WS_PORT/ws" "$WS"); got["ws $s $b"]+="$v "
        echo "run $r: WebSocket $WS, $s shard(s), $b: $v KiB"
      fi
    done
  done
  if ((MQTT > 0)) && command -v mosquitto > /dev/null; then
    v=$(hold mosquitto 1 - "$MQTT"); got["mqtt 1 mosquitto"]+="$v "
    echo "run $r: MQTT $MQTT, mosquitto: $v KiB"
  fi
done
echo "median KiB per held session:"
for k in "${!got[@]}"; do
  med=$(tr ' ' '\n' <<< "${got[$k]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "  $k: $med  (runs: ${got[$k]})"
done | sort
