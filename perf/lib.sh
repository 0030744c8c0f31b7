# Shared helpers of the perf/ scripts (sourced, not run):
#   taken PORT          a server accepts on 127.0.0.1:PORT
#   wait_port PORT [S]  until one does, at most S seconds (default 30)
#   pin_cpus            SRV_CPU and GEN_CPU: the first two allowed CPUs
#   spawn LOG CMD...    CMD pinned to SRV_CPU in a process group of its own
#                       (its pid in STARTED_PID; killed by cleanup at exit)
#   stop PGID           TERM, up to 5 s, then KILL the group
# A script that uses spawn installs the cleanup: `trap cleanup EXIT INT TERM`.

taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port=$1 secs=${2:-30} i
    for ((i = 0; i < secs * 10; i++)); do
        taken "$port" && return 0
        sleep 0.1
    done
    echo "nothing listening on port $port after $secs s" >&2
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
    setsid taskset -c "$SRV_CPU" "$@" >"$logf" 2>&1 &
    STARTED_PID=$!
    PGIDS+=("$STARTED_PID")
}

stop() {
    local pg=$1
    kill -TERM -- "-$pg" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pg" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pg" 2>/dev/null || true
    wait "$pg" 2>/dev/null || true
}
