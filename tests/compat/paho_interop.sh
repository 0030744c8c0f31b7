#!/usr/bin/env bash
# Runs the Eclipse Paho MQTT interoperability tests (paho.mqtt.testing's
# broker conformance suites: interoperability/client_test.py for MQTT 3.1.1,
# client_test5.py for 5.0) against Junction's MQTT listener and, as the
# reference, against mosquitto, and prints per-test results side by side:
#
#   suite  test                            junction  mosquitto
#   3.1.1  test_keepalive                  pass      pass
#   5.0    test_subscribe_failure          FAIL      FAIL
#
# Each test runs in a process of its own (the suite's setUpClass cleans the
# broker first: its clients' sessions and retained messages) with a time
# limit, since some tests wait forever for a message that does not come.
# A result is pass, FAIL (an assertion), ERROR (an exception), TIMEOUT
# (killed after -t seconds) or skip. The two brokers run side by side, each
# on a free loopback port; tests run one at a time per broker.
#
# What the suite assumes of a broker, and the configs given here:
#   - Server Keep Alive 60 s for a client asking 120 (test_server_keep_alive):
#     Junction `max_keep_alive` 60, mosquitto `max_keepalive 60`;
#   - a topic `test/nosubscribe` whose subscription is refused
#     (test_subscribe_failure): Junction's role has no `subscribe` on URI
#     `test.nosubscribe`; mosquitto gets an ACL `deny` on it, which its
#     2.0 releases apply to deliveries, not to SUBSCRIBE (granted);
#   - everything else as the broker comes: anonymous clients, no store.
# See docs/mqtt.md, "Paho interoperability tests", for the results and why
# each remaining difference is one.
#
# Usage: tests/compat/paho_interop.sh [-b JUNCTION] [-m MOSQUITTO] [-n] [-s]
#            [-P N] [-p PYTHON] [-t SECONDS] [-k PATTERN] [-o DIR] PAHO
#   PAHO          a paho.mqtt.testing checkout, its interoperability/ folder,
#                 a bare git repository of it (HEAD is read) or a tar archive
#   -b JUNCTION   the junction binary (default: target/release/junction,
#                 else target/debug/junction, else `junction` on PATH)
#   -m MOSQUITTO  the mosquitto binary (default: `mosquitto` on PATH)
#   -n            no mosquitto column
#   -s            Junction's realm keeps a file store (in the work folder):
#                 retained messages and sessions written, QoS 1/2
#                 acknowledged once written (mosquitto stays in memory)
#   -P N          Junction's `pack_connections` (default 32: the suite's few
#                 connections all land on shard 0; 1 spreads them over the
#                 shards, so sessions move and messages cross between them)
#   -p PYTHON     the Python 3 that runs the suite (default: python3; the
#                 suite needs nothing outside the standard library)
#   -t SECONDS    time limit per test (default 60)
#   -k PATTERN    only tests whose name matches this grep -E pattern
#   -o DIR        keep the brokers' logs, configs and each test's output in
#                 DIR (default: a temporary folder, removed at the end)
#
# Exit status: 0 when Junction passes every test mosquitto passes (with -n:
# every test), 1 when it does not, 2 on bad usage or a broker that does not
# start. Not part of CI: the suite is not in this repository.
set -u
export LC_ALL=C

bin=""
mosq=""
no_mosq=0
store=0
pack=32
py=python3
limit=60
pattern=""
keep=""
while getopts "b:m:nsP:p:t:k:o:h" opt; do
    case "$opt" in
        b) bin="$OPTARG" ;;
        m) mosq="$OPTARG" ;;
        n) no_mosq=1 ;;
        s) store=1 ;;
        P) pack="$OPTARG" ;;
        p) py="$OPTARG" ;;
        t) limit="$OPTARG" ;;
        k) pattern="$OPTARG" ;;
        o) keep="$OPTARG" ;;
        h)
            sed -n '2,52p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then
    echo "usage: $0 [-b JUNCTION] [-m MOSQUITTO] [-n] [-s] [-P N] [-p PYTHON] [-t SECONDS] [-k PATTERN] [-o DIR] PAHO" >&2
    exit 2
fi
paho="$1"
here="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -z "$bin" ]; then
    for b in "$here/target/release/junction" "$here/target/debug/junction" "$(command -v junction || true)"; do
        if [ -n "$b" ] && [ -x "$b" ]; then
            bin="$b"
            break
        fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "$0: no junction binary (give -b PATH)" >&2
    exit 2
fi
if [ "$no_mosq" = 0 ]; then
    [ -n "$mosq" ] || mosq="$(command -v mosquitto || true)"
    if [ -z "$mosq" ] || [ ! -x "$mosq" ]; then
        echo "$0: no mosquitto binary (give -m PATH, or -n to run without it)" >&2
        exit 2
    fi
fi
for n in "$limit" "$pack"; do
    case "$n" in '' | *[!0-9]*)
        echo "$0: -t and -P take whole numbers" >&2
        exit 2
        ;;
    esac
done

if [ -n "$keep" ]; then
    mkdir -p "$keep" || exit 2
    work="$(cd "$keep" && pwd)"
else
    work="$(mktemp -d)"
    # mosquitto started as root drops to its own user: it must read its
    # config and ACL here.
    chmod 755 "$work"
fi
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    [ -n "$keep" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# The suite: a folder with client_test.py and client_test5.py.
suite=""
for d in "$paho/interoperability" "$paho"; do
    if [ -f "$d/client_test.py" ] && [ -f "$d/client_test5.py" ]; then
        suite="$(cd "$d" && pwd)"
        break
    fi
done
if [ -z "$suite" ]; then
    mkdir -p "$work/paho"
    if git -C "$paho" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$paho" archive HEAD interoperability | tar -x -C "$work/paho"
    elif [ -f "$paho" ]; then
        tar -xf "$paho" -C "$work/paho"
    fi
    found="$(find "$work/paho" -name client_test5.py -path '*interoperability*' | head -n 1)"
    [ -n "$found" ] && suite="$(dirname "$found")"
fi
if [ -z "$suite" ] || [ ! -f "$suite/client_test.py" ]; then
    echo "$0: no interoperability/client_test.py and client_test5.py in $paho" >&2
    exit 2
fi

# Runs one test of the suite in this process: the suite's own __main__
# (its option parsing sets the host, port and topics), with unittest.main
# replaced so that only the named test runs and its outcome is printed as
# `RESULT <test> <outcome>`. `list` prints the test names.
cat >"$work/driver.py" <<'EOF'
import importlib.util, os, runpy, sys, unittest

mode, script = sys.argv[1], os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.dirname(script))
os.chdir(os.path.dirname(script))
if mode == "list":
    spec = importlib.util.spec_from_file_location("suite", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    print("\n".join(unittest.TestLoader().getTestCaseNames(mod.Test)))
    sys.exit(0)
host, port, name = sys.argv[3:6]

def main(*args, **kwargs):
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2)
    prog = unittest.TestProgram(module="__main__", argv=[script, "Test." + name],
                                testRunner=runner, exit=False)
    r = prog.result
    outcome = ("FAIL" if r.failures else "ERROR" if r.errors or not r.testsRun
               else "skip" if r.skipped else "pass")
    sys.stdout.write("RESULT %s %s\n" % (name, outcome))
    sys.stdout.flush()
    os._exit(0)  # the suite's client threads may linger

unittest.main = main
sys.argv = [script, "--hostname", host, "--port", port]
runpy.run_path(script, run_name="__main__")
EOF

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port pid
    local i
    for i in $(seq 1 100); do
        if ! kill -0 "$2" 2>/dev/null; then
            return 1
        fi
        if "$py" -c "import socket, sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

jport="$(free_port)"
mkdir -p "$work/junction/run"
realm_store=""
if [ "$store" = 1 ]; then
    rm -rf "$work/junction/store"
    realm_store=", \"store\": {\"type\": \"file\", \"path\": \"$work/junction/store\"}"
fi
cat >"$work/junction/config.json" <<EOF
{
  "version": 2,
  "workers": [{
    "type": "router",
    "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
      {"uri": "", "match": "prefix",
       "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
       "disclose": {"caller": false, "publisher": false}, "cache": true},
      {"uri": "test.nosubscribe", "match": "exact",
       "allow": {"call": true, "register": true, "publish": true, "subscribe": false},
       "disclose": {"caller": false, "publisher": false}, "cache": true}
    ]}]$realm_store}],
    "transports": [{
      "type": "mqtt", "id": "paho",
      "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": $jport},
      "options": {"realm": "realm1", "role": "anonymous"},
      "junction": {"max_keep_alive": 60}
    }]
  }],
  "junction": {"shutdown_timeout": 2, "pack_connections": $pack}
}
EOF
RUNTIME_DIRECTORY="$work/junction/run" "$bin" start --config "$work/junction/config.json" \
    >"$work/junction/log" 2>&1 &
pids+=($!)
if ! wait_port "$jport" "$!"; then
    echo "$0: junction did not start; its log:" >&2
    tail -n 20 "$work/junction/log" >&2
    exit 2
fi
brokers=("junction:$jport")

if [ "$no_mosq" = 0 ]; then
    mport="$(free_port)"
    while [ "$mport" = "$jport" ]; do mport="$(free_port)"; done
    mkdir -p "$work/mosquitto"
    printf 'topic readwrite #\ntopic deny test/nosubscribe\n' >"$work/mosquitto/acl"
    cat >"$work/mosquitto/mosquitto.conf" <<EOF
listener $mport 127.0.0.1
allow_anonymous true
max_keepalive 60
acl_file $work/mosquitto/acl
EOF
    "$mosq" -c "$work/mosquitto/mosquitto.conf" >"$work/mosquitto/log" 2>&1 &
    pids+=($!)
    if ! wait_port "$mport" "$!"; then
        echo "$0: mosquitto did not start; its log:" >&2
        tail -n 20 "$work/mosquitto/log" >&2
        exit 2
    fi
    brokers+=("mosquitto:$mport")
fi

# The tests, as "<suite label> <script> <test>" lines.
: >"$work/tests"
for s in "3.1.1 client_test.py" "5.0 client_test5.py"; do
    set -- $s
    names="$("$py" "$work/driver.py" list "$suite/$2")" || {
        echo "$0: cannot list the tests of $2" >&2
        exit 2
    }
    for t in $names; do
        if [ -z "$pattern" ] || echo "$t" | grep -Eq -- "$pattern"; then
            echo "$1 $2 $t" >>"$work/tests"
        fi
    done
done

run_broker() { # name port
    local label script t out res
    mkdir -p "$work/$1/tests"
    while read -r label script t; do
        out="$work/$1/tests/${script%.py}.$t.log"
        res="$(timeout -k 5 "$limit" "$py" "$work/driver.py" run "$suite/$script" \
            127.0.0.1 "$2" "$t" 2>"$out" | sed -n 's/^RESULT [^ ]* //p')"
        [ -n "$res" ] || res=TIMEOUT
        echo "$label $t $res"
    done <"$work/tests" >"$work/$1/results"
}

runners=()
for b in "${brokers[@]}"; do
    run_broker "${b%%:*}" "${b##*:}" &
    runners+=($!)
done
for r in "${runners[@]}"; do
    wait "$r"
done

# The table, and the exit status.
if [ "$no_mosq" = 1 ]; then
    printf '%-6s %-32s %s\n' suite test junction
else
    printf '%-6s %-32s %-10s %s\n' suite test junction mosquitto
fi
status=0
while read -r label script t; do
    j="$(awk -v l="$label" -v t="$t" '$1 == l && $2 == t { print $3 }' "$work/junction/results")"
    if [ "$no_mosq" = 1 ]; then
        line="$(printf '%-6s %-32s %s' "$label" "$t" "${j:-?}")"
        [ "$j" = pass ] || [ "$j" = skip ] || status=1
    else
        m="$(awk -v l="$label" -v t="$t" '$1 == l && $2 == t { print $3 }' "$work/mosquitto/results")"
        line="$(printf '%-6s %-32s %-10s %s' "$label" "$t" "${j:-?}" "${m:-?}")"
        if [ "$m" = pass ] && [ "$j" != pass ]; then
            status=1
        fi
    fi
    echo "$line"
done <"$work/tests"
for b in "${brokers[@]}"; do
    n="${b%%:*}"
    for label in 3.1.1 5.0; do
        echo "$n $label: $(awk -v l="$label" '$1 == l && $3 == "pass"' "$work/$n/results" | wc -l)" \
            "of $(awk -v l="$label" '$1 == l' "$work/$n/results" | wc -l) passed"
    done
done
[ -z "$keep" ] || echo "logs: $work"
exit "$status"
