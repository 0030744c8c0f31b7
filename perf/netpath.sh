# shellcheck shell=bash
# The path between a benchmark's server and its load generator, for the perf/
# scripts that take NET (sourced after perf/lib.sh, not run):
#   net_setup NET...    for a list of paths (loopback, veth): pins (SRV_CPU and
#                       GEN_CPU from pin_cpus) when PIN=1 or veth is among them;
#                       for veth, creates perf/netns.sh's namespaces unless they
#                       exist (then net_cleanup removes them)
#   net_use NET         SRV_EXEC and GEN_EXEC (arrays: the namespace and the
#                       pinning to prefix the server's and loadgen's commands
#                       with), NET_HOST (the server's address) and NET_NS (where
#                       lib.sh's taken looks from) for that path
#   net_config FILE DIR a Junction config for the path in use: FILE itself over
#                       loopback, over veth a copy in DIR with its "127.0.0.1"
#                       interfaces replaced by the server's address
#   net_cleanup         removes the namespaces if net_setup created them
#   softirq_mark, softirq_since
#                       "softirq srv X s gen Y s": /proc/stat's softirq time on
#                       the server's and loadgen's CPUs (default 0 and 1) since
#                       the mark (whoever it was charged to: see perf/netns.sh)

NS_SRV=${NS_SRV:-jnb-srv}
NS_LOAD=${NS_LOAD:-jnb-load}
SRV_IP=${SRV_IP:-10.77.0.1}
NET_OWNED=0

net_setup() {
    local n pin=${PIN:-0}
    for n in "$@"; do [[ $n == veth ]] && pin=1; done
    if [[ $pin == 1 ]]; then
        pin_cpus
        PIN=1
    fi
    for n in "$@"; do
        [[ $n == veth ]] || continue
        if ! ip netns exec "$NS_SRV" true 2>/dev/null || ! ip netns exec "$NS_LOAD" true 2>/dev/null; then
            NS_SRV=$NS_SRV NS_LOAD=$NS_LOAD SRV_IP=$SRV_IP SRV_CPU=$SRV_CPU LOAD_CPU=$GEN_CPU \
                "$ROOT/perf/netns.sh" up >&2
            NET_OWNED=1
        fi
        break
    done
}

net_use() {
    SRV_EXEC=() GEN_EXEC=() NET_NS='' NET_HOST=127.0.0.1
    if [[ $1 == veth ]]; then
        SRV_EXEC=(ip netns exec "$NS_SRV") GEN_EXEC=(ip netns exec "$NS_LOAD")
        # shellcheck disable=SC2034 # read by lib.sh's taken
        NET_NS=$NS_LOAD NET_HOST=$SRV_IP
    fi
    if [[ ${PIN:-0} == 1 ]]; then
        SRV_EXEC+=(taskset -c "$SRV_CPU") GEN_EXEC+=(taskset -c "$GEN_CPU")
    fi
}

net_config() {
    local file=$1 dir=$2
    if [[ $NET_HOST == 127.0.0.1 ]]; then
        echo "$file"
        return
    fi
    sed "s/\"127\.0\.0\.1\"/\"$NET_HOST\"/g" "$file" >"$dir/net-config.json"
    echo "$dir/net-config.json"
}

net_cleanup() {
    if [[ $NET_OWNED == 1 ]]; then
        NS_SRV=$NS_SRV NS_LOAD=$NS_LOAD "$ROOT/perf/netns.sh" down
        NET_OWNED=0
    fi
}

_softirq() { awk -v a="cpu${SRV_CPU:-0}" -v b="cpu${GEN_CPU:-1}" '$1 == a { x = $8 } $1 == b { y = $8 } END { print x, y }' /proc/stat; }
softirq_mark() { read -r _SOFT_SRV _SOFT_GEN <<<"$(_softirq)"; }
softirq_since() {
    local s g hz
    read -r s g <<<"$(_softirq)"
    hz=$(getconf CLK_TCK)
    python3 -c 'import sys; a, b, c, d, hz = map(float, sys.argv[1:]); print(f"softirq srv {(c - a) / hz:.2f} s gen {(d - b) / hz:.2f} s")' \
        "$_SOFT_SRV" "$_SOFT_GEN" "$s" "$g" "$hz"
}
