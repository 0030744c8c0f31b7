#!/usr/bin/env bash
# perf/compare.sh — the standard comparison, end to end, on this machine.
#
# Builds Junction and loadgen, installs Crossbar.io (virtualenv under
# perf/.venv-crossbar) and mosquitto (Debian) when missing, writes equivalent
# configs (realm1, anonymous may do everything, WebSocket/JSON on fixed local
# ports, RawSocket where supported), runs the loadgen scenarios of
# BENCHMARKS.md against each router THREE times (a fresh router process per
# run), and prints/writes a table of medians and ratios:
#   perf/out/results-<date>.json, perf/out/results-<date>.md, and the charts
#   perf/out/results-<date>.{throughput,latency,memory,scaling}.svg,
#   raw per-run files under perf/out/raw-<date>/<scenario>/<target>/.
#
# Every process this script starts runs in its own process group and is
# killed on exit (normal, error or Ctrl-C).
#
# Usage: perf/compare.sh [options]
#   --quick             1 run each, short durations, 2,000 sessions (smoke test)
#   --only T[,T...]     targets: junction (includes --shards 2 runs), crossbar,
#                       mosquitto, baseline; repeatable
#   --scenario S[,S..]  fanout pubsub rpc rpc4 rpc-latency sessions shards
#                       (shards = shards-fanout + shards-pubsub); repeatable
#   --runs N            runs per (scenario, target) (default 3; --quick: 1)
#   --duration SECS     per throughput run (default 10; --quick: 2)
#   --sessions N        held sessions in the `sessions` scenario (default 100000)
#   --shard-counts LIST shard counts of the `shards` scenarios (default 1,2;
#                       e.g. 1,2,4,8 on a bigger machine): the scaling curve
#   --rate R            pass --rate R to the fanout/pubsub/rpc throughput runs
#                       (default: none, as fast as loadgen can send)
#   --no-build          use existing binaries (JUNCTION_BIN, LOADGEN_BIN or target/release)
#   --keep              keep the work directory (configs, router logs)
#   -h, --help
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PERF="$ROOT/perf"
OUT="$PERF/out"
STAMP=$(date +%Y-%m-%d-%H%M%S)
RAW="$OUT/raw-$STAMP"

# Fixed local ports (checked free before use).
J_WS=18080 J_RS=18081 # Junction
C_WS=18090 C_RS=18091 # Crossbar.io
M_PORT=18830          # mosquitto
B_WS=18100            # loadgen baseline-server

ALL_SCENARIOS=(fanout pubsub rpc rpc4 rpc-latency sessions shards-fanout shards-pubsub)
ALL_TARGETS=(junction crossbar mosquitto baseline)

QUICK=0 RUNS="" DURATION="" SESSIONS="" RATE="" BUILD=1 KEEP=0 SHARD_COUNTS=1,2
ONLY=() SCEN=()

die() { echo "compare.sh: error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only) [[ $# -ge 2 ]] || die "--only needs a value"; IFS=, read -ra v <<<"$2"; ONLY+=("${v[@]}"); shift ;;
        --scenario) [[ $# -ge 2 ]] || die "--scenario needs a value"; IFS=, read -ra v <<<"$2"; SCEN+=("${v[@]}"); shift ;;
        --runs) RUNS=${2:?}; shift ;;
        --duration) DURATION=${2:?}; shift ;;
        --sessions) SESSIONS=${2:?}; shift ;;
        --rate) RATE=${2:?}; shift ;;
        --shard-counts) SHARD_COUNTS=${2:?}; shift ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

if [[ $QUICK == 1 ]]; then
    RUNS=${RUNS:-1} DURATION=${DURATION:-2} SESSIONS=${SESSIONS:-2000}
else
    RUNS=${RUNS:-3} DURATION=${DURATION:-10} SESSIONS=${SESSIONS:-100000}
fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "--duration must be a positive integer"
[[ $SESSIONS =~ ^[1-9][0-9]*$ ]] || die "--sessions must be a positive integer"
[[ -z $RATE || $RATE =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--rate must be a positive number"
[[ $SHARD_COUNTS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--shard-counts must be a list like 1,2,4"
RAMP=2000 # sessions opened per second, the same for every router
HOLD=$([[ $QUICK == 1 ]] && echo 3 || echo 10)

# Selected targets and scenarios.
[[ ${#ONLY[@]} -gt 0 ]] || ONLY=("${ALL_TARGETS[@]}")
for t in "${ONLY[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || die "--only: unknown target '$t' (junction|crossbar|mosquitto|baseline)"
done
# A target's router: junction-s4 (Junction with 4 shards) is junction.
base_target() { echo "${1%-s[0-9]*}"; }
wanted_target() { [[ " ${ONLY[*]} " == *" $(base_target "$1") "* ]]; }
if [[ ${#SCEN[@]} -eq 0 ]]; then
    SCEN=("${ALL_SCENARIOS[@]}")
else
    expanded=()
    for s in "${SCEN[@]}"; do
        case "$s" in
            shards) expanded+=(shards-fanout shards-pubsub) ;;
            *) [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] || die "--scenario: unknown scenario '$s' (${ALL_SCENARIOS[*]} shards)"
               expanded+=("$s") ;;
        esac
    done
    SCEN=("${expanded[@]}")
fi

# Which targets each scenario runs against.
targets_of() {
    case "$1" in
        fanout|pubsub) echo junction crossbar mosquitto baseline ;;
        rpc|rpc4|rpc-latency) echo junction crossbar baseline ;;
        sessions) echo junction crossbar mosquitto ;;
        shards-fanout|shards-pubsub)
            local k
            for k in ${SHARD_COUNTS//,/ }; do
                if [[ $k == 1 ]]; then echo junction; else echo "junction-s$k"; fi
            done ;;
    esac
}
needs() { # needs TARGET: true when some selected scenario runs against TARGET
    local s t
    wanted_target "$1" || return 1
    for s in "${SCEN[@]}"; do for t in $(targets_of "$s"); do [[ $(base_target "$t") == "$1" ]] && return 0; done; done
    return 1
}

# ---------------------------------------------------------------- cleanup --
# taken, wait_port, spawn, stop and cleanup (of the process groups started).
source "$PERF/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/junction-compare.XXXXXX")
# Junction's control socket in this run's directory: a node refuses a socket
# that another live node owns (the shared default is /tmp/junction-UID).
export RUNTIME_DIRECTORY="$WORK/run"
finish() {
    local rc=$?
    trap - EXIT INT TERM
    cleanup
    if [[ $KEEP == 1 || $rc != 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check_ports_free() {
    local p
    for p in "$@"; do
        taken "$p" && die "port $p is in use (by: $(ss -Hltnp "sport = :$p" | sed 's/.*users://' | head -1)); stop it or edit the ports at the top of $0"
    done
    return 0
}

# /proc readings for the measured process.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo null; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo null; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------ preparation --
mkdir -p "$OUT" "$RAW"
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if needs junction && [[ " ${SCEN[*]} " == *" sessions "* ]] && (($(ulimit -n) < SESSIONS + 1000)); then
    log "warning: open-file limit $(ulimit -n) is below $SESSIONS sessions; the sessions scenario may fail"
fi

JUNCTION_BIN=${JUNCTION_BIN:-$ROOT/target/release/junction}
LOADGEN_BIN=${LOADGEN_BIN:-$ROOT/target/release/loadgen}
if [[ $BUILD == 1 ]]; then
    log "building junction and loadgen (release)"
    (cd "$ROOT" && cargo build --release -p junction -p loadgen) ||
        die "cargo build --release -p junction -p loadgen failed (is the loadgen/ workspace member there?)"
fi
[[ -x $JUNCTION_BIN ]] || die "no Junction binary at $JUNCTION_BIN (build it, or set JUNCTION_BIN)"
[[ -x $LOADGEN_BIN ]] || die "no loadgen binary at $LOADGEN_BIN (build it, or set LOADGEN_BIN)"

CB_VENV="$PERF/.venv-crossbar"
CROSSBAR="$CB_VENV/bin/crossbar"
if needs crossbar && [[ ! -x $CROSSBAR ]]; then
    log "installing Crossbar.io into $CB_VENV"
    PY311=$(command -v python3.11 || true)
    if [[ -z $PY311 ]]; then
        for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11*/bin/python3; do [[ -x $c ]] && PY311=$c; done
    fi
    [[ -n $PY311 && -x $PY311 ]] || die "Crossbar.io needs Python 3.11 (python3.11 not found)"
    "$PY311" -m venv "$CB_VENV" || die "could not create $CB_VENV"
    "$CB_VENV/bin/pip" install -q --upgrade pip
    # numpy 2 breaks one of Crossbar's imports.
    "$CB_VENV/bin/pip" install -q 'crossbar==26.10.1' 'numpy<2' || die "pip install crossbar failed"
fi
CB_VERSION=""
if needs crossbar; then
    CB_VERSION=$("$CROSSBAR" version 2>/dev/null | sed -n 's/^ *Crossbar.io *: *//p') || true
    [[ -n $CB_VERSION ]] || die "$CROSSBAR version failed: the virtualenv looks broken (remove $CB_VENV to reinstall)"
fi

MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
if needs mosquitto && [[ ! -x $MOSQUITTO ]]; then
    log "installing mosquitto (Debian)"
    SUDO=$([[ $(id -u) == 0 ]] && echo "" || echo sudo)
    $SUDO apt-get install -y mosquitto >/dev/null 2>&1 ||
        { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y mosquitto >/dev/null; } ||
        die "apt-get install -y mosquitto failed"
    MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
fi

# ---------------------------------------------------------------- configs --
# One Crossbar-format node config serves both Junction and Crossbar.io.
write_wamp_config() { # FILE WS_PORT RS_PORT
    cat >"$1" <<EOF
{
  "version": 2,
  "controller": {},
  "workers": [
    {
      "type": "router",
      "realms": [
        {
          "name": "realm1",
          "roles": [
            {
              "name": "anonymous",
              "permissions": [
                {
                  "uri": "",
                  "match": "prefix",
                  "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                  "disclose": {"caller": false, "publisher": false},
                  "cache": true
                }
              ]
            }
          ]
        }
      ],
      "transports": [
        {
          "type": "websocket",
          "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $2, "backlog": 4096},
          "serializers": ["json", "msgpack", "cbor"]
        },
        {
          "type": "rawsocket",
          "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $3, "backlog": 4096},
          "serializers": ["json", "msgpack", "cbor"]
        }
      ]
    }
  ]
}
EOF
}
mkdir -p "$WORK/junction" "$WORK/crossbar/.crossbar" "$WORK/mosquitto"
write_wamp_config "$WORK/junction/config.json" "$J_WS" "$J_RS"
write_wamp_config "$WORK/crossbar/.crossbar/config.json" "$C_WS" "$C_RS"
cat >"$WORK/mosquitto/mosquitto.conf" <<EOF
listener $M_PORT 127.0.0.1
allow_anonymous true
max_connections -1
persistence false
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
EOF

# ----------------------------------------------------------------- routers --
# start_router TARGET LOGFILE: sets ROUTER_GROUP (to stop), MEASURE_PID (for
# CPU/RSS: Crossbar's router worker, not its node controller) and URL.
start_router() {
    local target=$1 logf=$2
    case "$target" in
        junction|junction-s[0-9]*)
            local shards=1
            [[ $target == junction-s* ]] && shards=${target#junction-s}
            check_ports_free "$J_WS" "$J_RS"
            spawn "$logf" "$JUNCTION_BIN" start --config "$WORK/junction/config.json" --shards "$shards" --log-level warn
            ROUTER_GROUP=$STARTED_PID MEASURE_PID=$STARTED_PID
            wait_port "$J_WS" 30 "$STARTED_PID" "$logf"
            URL="ws://127.0.0.1:$J_WS/ws" ;;
        crossbar)
            check_ports_free "$C_WS" "$C_RS"
            rm -f "$WORK/crossbar/.crossbar/node.pid" "$WORK/crossbar/.crossbar/node.key" "$WORK/crossbar/.crossbar/key.priv" "$WORK/crossbar/.crossbar/key.pub"
            spawn "$logf" "$CROSSBAR" start --cbdir "$WORK/crossbar/.crossbar" --loglevel warn
            ROUTER_GROUP=$STARTED_PID
            wait_port "$C_WS" 120 "$STARTED_PID" "$logf"
            MEASURE_PID=$(crossbar_worker_pid "$STARTED_PID") ||
                die "could not find Crossbar's router worker process under node $STARTED_PID"
            URL="ws://127.0.0.1:$C_WS/ws" ;;
        mosquitto)
            check_ports_free "$M_PORT"
            spawn "$logf" "$MOSQUITTO" -c "$WORK/mosquitto/mosquitto.conf"
            ROUTER_GROUP=$STARTED_PID MEASURE_PID=$STARTED_PID
            wait_port "$M_PORT" 30 "$STARTED_PID" "$logf"
            URL="mqtt://127.0.0.1:$M_PORT" ;;
        baseline)
            check_ports_free "$B_WS"
            spawn "$logf" "$LOADGEN_BIN" baseline-server --listen "127.0.0.1:$B_WS" --transport ws --serializer json
            ROUTER_GROUP=$STARTED_PID MEASURE_PID=$STARTED_PID
            wait_port "$B_WS" 30 "$STARTED_PID" "$logf"
            URL="ws://127.0.0.1:$B_WS/ws" ;;
        *) die "internal: unknown target $target" ;;
    esac
}

# The Crossbar node's router worker: the descendant process whose command line
# names RouterController / crossbar-worker / `--type router`.
crossbar_worker_pid() {
    local node=$1 pid args
    while read -r pid args; do
        case "$args" in
            *RouterController*|*crossbar-worker*|*"--type router"*|*"--type=router"*) echo "$pid"; return 0 ;;
        esac
    done < <(ps -o pid=,args= --ppid "$node"; for c in $(ps -o pid= --ppid "$node"); do ps -o pid=,args= --ppid "$c"; done)
    return 1
}

# ---------------------------------------------------------------- scenarios --
# loadgen arguments for SCENARIO against URL.
scenario_args() {
    local s=$1 url=$2 proto=(--serializer json) rate=()
    [[ -n $RATE ]] && rate=(--rate "$RATE")
    # MQTT has no WAMP serializer; QoS 0 is the issue's mosquitto reference.
    [[ $url == mqtt://* ]] && proto=(--qos 0)
    case "$s" in
        fanout|shards-fanout)
            echo fanout --url "$url" "${proto[@]}" --subscribers 1000 --payload 100 --duration "$DURATION" "${rate[@]}" ;;
        pubsub|shards-pubsub)
            echo pubsub --url "$url" --publishers 10 --subscribers 100 --topics 10 --payload 100 --duration "$DURATION" "${rate[@]}" ;;
        rpc) echo rpc --url "$url" --callers 100 --callees 1 --payload 100 --duration "$DURATION" "${rate[@]}" ;;
        rpc4) echo rpc --url "$url" --callers 100 --callees 4 --payload 100 --duration "$DURATION" "${rate[@]}" ;;
        rpc-latency) echo rpc --url "$url" --callers 10 --callees 1 --concurrency 1 --payload 100 --duration "$DURATION" ;;
        sessions) echo connections --url "$url" --sessions "$SESSIONS" --ramp "$RAMP" --hold "$HOLD" --source-ips 127.0.0.1-127.0.0.20 ;;
    esac
}

# A generous wall-clock limit per loadgen run.
run_timeout() {
    case "$1" in
        sessions) echo $((SESSIONS / RAMP + HOLD + 300)) ;;
        *) echo $((DURATION + 180)) ;;
    esac
}

# run_one SCENARIO TARGET N: one fresh router, one loadgen run, one meta file.
run_one() {
    local s=$1 t=$2 n=$3 dir="$RAW/$1/$2"
    mkdir -p "$dir"
    local json="$dir/run$n.json" meta="$dir/run$n.meta.json" rlog="$dir/run$n.router.log" llog="$dir/run$n.loadgen.log"
    start_router "$t" "$rlog"
    sleep 1 # let the router settle before the idle reading
    local idle cpu0 cpu1 hwm rc=0 err="" args
    idle=$(rss_kb "$MEASURE_PID") cpu0=$(cpu_ticks "$MEASURE_PID")
    read -ra args <<<"$(scenario_args "$s" "$URL")"
    log "$s / $t / run $n: loadgen ${args[*]}"
    timeout --kill-after=10 "$(run_timeout "$s")" \
        "$LOADGEN_BIN" "${args[@]}" --router-pid "$MEASURE_PID" --json "$json" >"$llog" 2>&1 || rc=$?
    cpu1=$(cpu_ticks "$MEASURE_PID") hwm=$(hwm_kb "$MEASURE_PID")
    if ! kill -0 "$MEASURE_PID" 2>/dev/null; then err="router process exited during the run (see $rlog)"; fi
    # loadgen exits 3 for a run that completed but was not clean (loss,
    # reordering, errors): its report is kept and marked, not discarded.
    if [[ $rc != 0 && ! ($rc == 3 && -s $json) ]]; then
        err="${err:+$err; }loadgen exit status $rc: $(tail -n 3 "$llog" | tr '\n' ' ')"
    fi
    if [[ -z $err && ! -s $json ]]; then err="loadgen wrote no $json"; fi
    stop "$ROUTER_GROUP" 10
    [[ -n $err ]] && { log "  FAILED: $err"; rm -f "$json"; }
    local sessions=null shards=1
    [[ $s == sessions ]] && sessions=$SESSIONS
    [[ $t == junction-s* ]] && shards=${t#junction-s}
    jq -n --arg scenario "$s" --arg target "$t" --argjson run "$n" --arg url "$URL" \
        --arg cmd "loadgen ${args[*]}" --argjson shards "$shards" --argjson sessions "$sessions" \
        --argjson idle "${idle:-null}" --argjson hwm "${hwm:-null}" \
        --argjson cpu "$(awk -v a="$cpu0" -v b="$cpu1" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / h}')" \
        --argjson measure_pid "$MEASURE_PID" --arg error "$err" --argjson status "$rc" \
        '{scenario: $scenario, target: $target, run: $run, url: $url, command: $cmd, shards: $shards,
          sessions: $sessions, router_pid: $measure_pid, router_rss_idle_kb: $idle, router_hwm_kb: $hwm,
          router_cpu_s_proc: $cpu, loadgen_status: $status}
         + (if $error == "" then {} else {error: $error} end)' >"$meta"
}

MACHINE=$(
    echo "host: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
    echo "kernel: $(uname -sr)"
    echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
    echo "junction: $("$JUNCTION_BIN" version 2>/dev/null || echo unknown) (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
    if needs crossbar; then
        echo "crossbar: $CB_VERSION, $("$CB_VENV/bin/python" --version 2>&1)"
    fi
    if needs mosquitto; then echo "mosquitto: $("$MOSQUITTO" -h 2>/dev/null | head -1)"; fi
    echo "runs: $RUNS, duration: ${DURATION}s, rate: ${RATE:-unlimited}, sessions: $SESSIONS (ramp ${RAMP}/s, hold ${HOLD}s)$([[ $QUICK == 1 ]] && echo ', QUICK')"
)
echo "$MACHINE" >"$RAW/machine.txt"
log "results: $RAW"

for s in "${SCEN[@]}"; do
    for t in $(targets_of "$s"); do
        wanted_target "$t" || continue
        for ((n = 1; n <= RUNS; n++)); do run_one "$s" "$t" "$n"; done
    done
done

python3 "$PERF/report.py" "$RAW" "$OUT/results-$STAMP" --machine "$MACHINE" --loadgen "$LOADGEN_BIN"
