# Shared helpers of the perf/ scripts (sourced, not run):
#   taken PORT          a server accepts on NET_HOST:PORT (default 127.0.0.1),
#                       from the network namespace NET_NS if set (perf/netns.sh)
#   wait_port PORT [S [PID [LOG]]]
#                       until one does, at most S seconds (default 30); with
#                       PID, fails as soon as that process is gone; with LOG,
#                       a failure shows its last lines
#   pin_cpus            SRV_CPU and GEN_CPU: the first two allowed CPUs
#   spawn LOG CMD...    CMD in a process group of its own, stdin closed,
#                       pinned to SRV_CPU once pin_cpus has set it (its pid in
#                       STARTED_PID; killed by cleanup at exit)
#   stop PGID [S]       TERM, up to S seconds (default 5), then KILL the group
# A script that uses spawn installs the cleanup: `trap cleanup EXIT INT TERM`,
# or calls it from its own exit handler.

taken() {
    if [[ -n ${NET_NS:-} ]]; then
        # shellcheck disable=SC2016
        ip netns exec "$NET_NS" bash -c '(exec 3<>"/dev/tcp/$0/$1")' "${NET_HOST:-127.0.0.1}" "$1" 2>/dev/null
    else
        (exec 3<>"/dev/tcp/${NET_HOST:-127.0.0.1}/$1") 2>/dev/null
    fi
}

wait_port() {
    local port=$1 secs=${2:-30} pid=${3:-} logf=${4:-} i why
    for ((i = 0; i < secs * 10; i++)); do
        taken "$port" && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            why="process $pid exited before listening on port $port"
            break
        fi
        sleep 0.1
    done
    echo "${why:-nothing listening on port $port after $secs s}" >&2
    if [[ -n $logf ]]; then
        echo "--- $logf (last 30 lines) ---" >&2
        tail -n 30 "$logf" >&2
    fi
    exit 1
}

pin_cpus() {
    local cpus
    mapfile -t cpus < <(python3 -c 'import os; print("\n".join(map(str, sorted(os.sched_getaffinity(0)))))')
    if [[ ${#cpus[@]} -lt 2 ]]; then
        echo "needs two CPUs (server and load generator)" >&2
        exit 1
    fi
    SRV_CPU=${cpus[0]} GEN_CPU=${cpus[1]}
}

PGIDS=()
cleanup() {
    local pg
    for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
    sleep 0.3
    for pg in "${PGIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
}

spawn() {
    local logf=$1; shift
    local pin=()
    [[ -n ${SRV_CPU:-} ]] && pin=(taskset -c "$SRV_CPU")
    setsid "${pin[@]}" "$@" >"$logf" 2>&1 </dev/null &
    STARTED_PID=$!
    PGIDS+=("$STARTED_PID")
}

stop() {
    local pg=$1 secs=${2:-5} i p kept=()
    kill -TERM -- "-$pg" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 -- "-$pg" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pg" 2>/dev/null || true
    wait "$pg" 2>/dev/null || true
    for p in "${PGIDS[@]}"; do [[ $p == "$pg" ]] || kept+=("$p"); done
    PGIDS=("${kept[@]}")
}

# start_mosquitto PORT WORKDIR: a plain mosquitto (anonymous, no persistence, no
# connection limit, TCP_NODELAY) on NET_HOST:PORT (default 127.0.0.1), its log in WORKDIR/router.log;
# sets MOSQUITTO_PID once the port listens. Fails if the port is taken.
# MOSQUITTO_WRAP (an array, e.g. (taskset -c 0)) prefixes the command.
start_mosquitto() {
    local port=$1 work=$2
    if taken "$port"; then echo "port $port is already taken" >&2; return 1; fi
    printf 'listener %s %s\nallow_anonymous true\nmax_connections -1\npersistence false\nset_tcp_nodelay true\n' \
        "$port" "${NET_HOST:-127.0.0.1}" >"$work/mq.conf"
    ${MOSQUITTO_WRAP[@]+"${MOSQUITTO_WRAP[@]}"} mosquitto -c "$work/mq.conf" >"$work/router.log" 2>&1 &
    MOSQUITTO_PID=$!
    wait_port "$port"
}

# A Junction target "BIN" or "BIN@{JSON}" (keys for the config's `junction`
# block, e.g. BIN@{"write_coalesce_us":1000}): sets TARGET_BIN, and
# TARGET_CONFIG to CONFIG or, with keys, to a copy of it under WORK with them.
#   split_target SPEC CONFIG WORK LABEL
split_target() {
    local spec=$1 config=$2 work=$3 label=$4
    TARGET_BIN=${spec%%@*}
    TARGET_CONFIG=$config
    [[ $spec == *@* ]] || return 0
    [[ -n $config ]] || { echo "$label: junction keys need CONFIG" >&2; return 1; }
    TARGET_CONFIG=$work/config-$label.json
    python3 - "$config" "${spec#*@}" "$TARGET_CONFIG" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.setdefault("junction", {}).update(json.loads(sys.argv[2]))
json.dump(c, open(sys.argv[3], "w"))
PY
}
