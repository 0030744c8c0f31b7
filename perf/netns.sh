#!/usr/bin/env bash
# perf/netns.sh — a network-like path on one machine: two network namespaces
# joined by a veth pair, so that a benchmark's servers and its load generator
# talk over a "wire" whose receive processing runs on the RECEIVING side's CPU,
# as with a real NIC (issue #9: over loopback the sender pays the receiver's
# whole TCP receive path and wake-up).
#
#   perf/netns.sh up       create (idempotent: an existing setup is torn down first)
#   perf/netns.sh down     remove both namespaces (and with them the veth pair)
#   perf/netns.sh status   the setup and what the kernel does (see below)
#
# Run as root. The layout (each a variable of the same name to override):
#   NS_SRV=jnb-srv    the servers' namespace (router, mosquitto): veth jnb0, SRV_IP
#                     10.77.0.1/24, receive processing (RPS) steered to SRV_CPU (0)
#   NS_LOAD=jnb-load  the load's namespace (loadgen): veth jnb1, LOAD_IP 10.77.0.2/24
#                     and LOAD_EXTRA (19) more addresses after it (10.77.0.3 ...,
#                     for `loadgen connections --source-ips 10.77.0.2-10.77.0.21`:
#                     each address has 28k ephemeral ports towards one server
#                     port), RPS steered to LOAD_CPU (1)
# Both namespaces have `lo` up. Pin the processes to the same CPUs (taskset -c
# SRV_CPU / LOAD_CPU, as PIN=1 in perf/unbatched.sh and perf/iot.sh does) and
# run them with `ip netns exec NS` (which execs: the PID is the process's own,
# /proc is shared, so loadgen --router-pid works across the namespaces).
# perf/unbatched.sh and perf/iot.sh do all of this with NET=veth.
#
# What the kernel does here (checked on this VM, 6.18, 2 vCPUs; `status`
# prints it again):
# - veth_xmit() hands each packet to the peer with __netif_rx(), i.e. to the
#   backlog of the CPU that RPS picks (rps_cpus of the RECEIVING veth's rx-0
#   queue): the sender pays its TCP send path, the veth transmit, the enqueue
#   and an IPI to the receiving CPU; the IP/TCP receive, the socket queueing and
#   the reader's wake-up run in NET_RX softirq on the receiving CPU. Without
#   RPS (rps_cpus 0) the backlog is the sending CPU's and the sender pays it all,
#   as over loopback. veth's GRO is off (the default; with GRO on, veth switches
#   to its NAPI mode and polls on the sending CPU before RPS applies).
# - CONFIG_IRQ_TIME_ACCOUNTING is not set (tick accounting, HZ=250): softirq
#   time is charged to whichever task is on the CPU when it runs. A tick in
#   softirq counts in /proc/stat's softirq column AND in that task's stime
#   (account_system_index_time); softirq run while the CPU idles counts in the
#   softirq column only (the idle task), and in ksoftirqd's stime when deferred
#   there. So the router's utime+stime includes the receive processing that
#   interrupts it while it runs, not what runs while it sleeps in
#   io_uring_enter/epoll_wait: the same rule for Junction and mosquitto, and the
#   same as with a real NIC's interrupt on that CPU.
# - Offloads on the veth (ethtool -k): TSO, GSO and checksum offload on, GRO
#   off; MTU 1500 (loopback: 65536). 100-byte messages never reach either limit.
set -Eeuo pipefail

NS_SRV=${NS_SRV:-jnb-srv}
NS_LOAD=${NS_LOAD:-jnb-load}
SRV_IF=${SRV_IF:-jnb0}
LOAD_IF=${LOAD_IF:-jnb1}
SRV_IP=${SRV_IP:-10.77.0.1}
LOAD_IP=${LOAD_IP:-10.77.0.2}
LOAD_EXTRA=${LOAD_EXTRA:-19}
SRV_CPU=${SRV_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

mask() { printf '%x' $((1 << $1)); }

down() {
    ip netns del "$NS_SRV" 2>/dev/null || true
    ip netns del "$NS_LOAD" 2>/dev/null || true
    # a veth left in the root namespace by a failed `up` goes too
    ip link del "$SRV_IF" 2>/dev/null || true
    ip link del "$LOAD_IF" 2>/dev/null || true
}

up() {
    down
    # Any failure from here on leaves nothing behind.
    trap 'echo "netns.sh: setup failed, removing it" >&2; down' ERR
    ip netns add "$NS_SRV"
    ip netns add "$NS_LOAD"
    ip link add "$SRV_IF" netns "$NS_SRV" type veth peer name "$LOAD_IF" netns "$NS_LOAD"
    ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$SRV_IF"
    ip -n "$NS_LOAD" addr add "$LOAD_IP/24" dev "$LOAD_IF"
    local base=${LOAD_IP%.*} last=${LOAD_IP##*.} i
    for ((i = 1; i <= LOAD_EXTRA; i++)); do
        ip -n "$NS_LOAD" addr add "$base.$((last + i))/24" dev "$LOAD_IF"
    done
    for ns in "$NS_SRV" "$NS_LOAD"; do ip -n "$ns" link set lo up; done
    ip -n "$NS_SRV" link set "$SRV_IF" up
    ip -n "$NS_LOAD" link set "$LOAD_IF" up
    # /sys/class/net is per namespace: write it from inside (ip netns exec
    # mounts the namespace's sysfs).
    ip netns exec "$NS_SRV" sh -c "echo $(mask "$SRV_CPU") > /sys/class/net/$SRV_IF/queues/rx-0/rps_cpus"
    ip netns exec "$NS_LOAD" sh -c "echo $(mask "$LOAD_CPU") > /sys/class/net/$LOAD_IF/queues/rx-0/rps_cpus"
    trap - ERR
    echo "netns.sh: $NS_SRV ($SRV_IF $SRV_IP, receive on CPU $SRV_CPU) <-> $NS_LOAD ($LOAD_IF $LOAD_IP-$base.$((last + LOAD_EXTRA)), receive on CPU $LOAD_CPU)"
}

status() {
    local ns ifc
    for pair in "$NS_SRV:$SRV_IF" "$NS_LOAD:$LOAD_IF"; do
        ns=${pair%%:*} ifc=${pair#*:}
        if ! ip netns exec "$ns" true 2>/dev/null; then
            echo "$ns: absent"
            continue
        fi
        echo "== $ns / $ifc"
        ip -n "$ns" -br addr show dev "$ifc" | cut -c1-120
        echo "mtu $(ip netns exec "$ns" cat "/sys/class/net/$ifc/mtu")  rps_cpus $(ip netns exec "$ns" cat "/sys/class/net/$ifc/queues/rx-0/rps_cpus")"
        if command -v ethtool >/dev/null; then
            ip netns exec "$ns" ethtool -k "$ifc" |
                grep -E '^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload|rx-checksumming|tx-checksumming):' |
                tr '\n' ' '
            echo
        else
            echo "(ethtool not installed: offloads not shown)"
        fi
    done
    echo "== kernel $(uname -r)"
    if [[ -r /proc/config.gz ]]; then
        zcat /proc/config.gz | grep -E '^(# )?CONFIG_(IRQ_TIME_ACCOUNTING|TICK_CPU_ACCOUNTING|VIRT_CPU_ACCOUNTING_GEN|HZ|RPS)[ =]' || true
    else
        echo "(no /proc/config.gz)"
    fi
    echo "loopback mtu $(cat /sys/class/net/lo/mtu)"
}

[[ $(id -u) == 0 ]] || { echo "netns.sh: run as root" >&2; exit 1; }
case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) sed -n 2,12p "$0"; exit 2 ;;
esac
