#!/usr/bin/env python3
"""Summarise a `perf record -g -p PID` of a server (perf/netcompare.sh's profiles).

    perf/netprofile.py perf.data [--top 15]
    perf/netprofile.py --cpu cpu.data [--comm mosquitto]


Prints: the share of samples in the kernel and in user space (perf report
--sort dso), the inclusive share ("children") of the kernel functions that
mark the send path, the receive path (softirq run on this CPU: veth or
loopback delivery, IP/TCP receive, the reader's wake-up), the reads and the
waits, and the top functions by their own samples. A function that is absent
from the profile (another kernel, another transport) is left out.

--cpu: the file is a whole-CPU profile (`perf record -a -C CPU -g`, the
cpu-clock event, which samples the idle loop too, so shares are shares of
time): the share of each command on that CPU (the top six, the idle task
`swapper` and those starting with --comm) and the softirq work run in each
one's context, i.e. charged to it (see perf/netns.sh): under swapper, the
receive work done while the CPU idled, charged to no process.
"""
import argparse
import re
import subprocess

# (group, symbol, what it is)
MARKS = [
    ("send", "io_sendmsg", "io_uring send (Junction: one per delivery)"),
    ("send", "io_send", "io_uring send (Junction: one per delivery)"),
    ("send", "__sys_sendto", "send(2) (mosquitto)"),
    ("send", "ksys_write", "write(2)"),
    ("send", "tcp_sendmsg", "TCP send, all of it"),
    ("send", "__tcp_transmit_skb", "TCP segment out"),
    ("send", "__dev_queue_xmit", "to the device"),
    ("send", "veth_xmit", "veth: hand to the peer"),
    ("send", "loopback_xmit", "loopback: hand to itself"),
    ("send", "enqueue_to_backlog", "backlog enqueue (RPS target)"),
    ("send", "net_rps_send_ipi", "IPI to the RPS CPU"),
    ("softirq", "handle_softirqs", "softirqs run on this CPU (all)"),
    ("softirq", "__do_softirq", "softirqs run on this CPU (all)"),
    ("softirq", "net_rx_action", "NET_RX softirq on this CPU"),
    ("softirq", "__netif_receive_skb_one_core", "IP receive"),
    ("softirq", "tcp_v4_rcv", "TCP receive"),
    ("softirq", "tcp_ack", "ACK processing"),
    ("softirq", "sock_def_readable", "waking a reader"),
    ("softirq", "try_to_wake_up", "wake-ups (any)"),
    ("read", "io_recv", "io_uring receive"),
    ("read", "ksys_read", "read(2)"),
    ("read", "tcp_recvmsg", "TCP read, all of it"),
    ("wait", "io_cqring_wait", "io_uring wait"),
    ("wait", "do_epoll_wait", "epoll wait"),
    ("wait", "schedule", "scheduler (sleeping, switching)"),
    ("irq", "asm_sysvec_call_function_single", "IPIs received"),
    ("irq", "asm_sysvec_apic_timer_interrupt", "timer interrupt"),
]


def report(data, *args):
    out = subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "-q", *args],
        capture_output=True, text=True, check=True,
    ).stdout
    return out.splitlines()


def marks(data, *filt):
    children = {}
    for line in report(data, *filt, "--children", "--sort", "sym", "-g", "none", "--percent-limit", "0.1"):
        m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[[^\]]+\]\s+(\S+)", line)
        if m:
            children.setdefault(m.group(3), float(m.group(1)))
    return children


def cpu(a):
    share = {}
    for line in report(a.data, "--sort", "comm", "-g", "none", "-t", "|"):
        f = [x.strip() for x in line.split("|")]
        if len(f) >= 2 and f[0].endswith("%"):
            share[f[-1]] = float(f[0].rstrip("%"))
    # per command: the inclusive share of each symbol (sorted by comm and
    # symbol: perf's --comm filter is unreliable when comm is no sort key)
    ch = {}
    for line in report(a.data, "--children", "--sort", "comm,sym", "-g", "none", "-t", "|",
                       "--percent-limit", "0.05"):
        f = [x.strip() for x in line.split("|")]
        if len(f) == 4 and f[0].endswith("%"):
            sym = f[3].split("]", 1)[-1].strip()
            ch.setdefault(f[2], {}).setdefault(sym, float(f[0].rstrip("%")))
    comms = sorted(share, key=share.get, reverse=True)
    shown = comms[:6] + [c for c in comms[6:] if c == "swapper" or (a.comm and c.startswith(a.comm))]
    print("the CPU's time by command, and the softirq work run in each one's context")
    print("(all shares of the CPU's time; NET_RX = net_rx_action, IPI = interrupts received):")
    print(f"  {'command':18} {'share':>7} {'softirq':>8} {'NET_RX':>7} {'IPI':>6}")
    total = [0.0, 0.0, 0.0]
    for name in shown:
        c = ch.get(name, {})
        row = [max(c.get("handle_softirqs", 0.0), c.get("__do_softirq", 0.0)),
               c.get("net_rx_action", 0.0), c.get("asm_sysvec_call_function_single", 0.0)]
        total = [t + r for t, r in zip(total, row)]
        print(f"  {name:18} {share[name]:6.1f}% {row[0]:7.1f}% {row[1]:6.1f}% {row[2]:5.1f}%")
    print(f"  {'(these together)':18} {sum(share[n] for n in shown):6.1f}% {total[0]:7.1f}% {total[1]:6.1f}% {total[2]:5.1f}%")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--comm")
    a = ap.parse_args()
    if a.cpu:
        cpu(a)
        return

    kernel = user = 0.0
    for line in report(a.data, "--no-children", "--sort", "dso"):
        m = re.match(r"\s*([\d.]+)%\s+(.*\S)", line)
        if not m:
            continue
        pct, dso = float(m.group(1)), m.group(2)
        if dso.startswith("[kernel") or dso.startswith("[guest.kernel"):
            kernel += pct
        else:
            user += pct
    print(f"kernel {kernel:.1f} %   user space {user:.1f} %")

    children = marks(a.data)
    print("inclusive share (children) of the marks:")
    for group, sym, what in MARKS:
        if sym in children:
            print(f"  {group:8} {children[sym]:5.1f} %  {sym}  ({what})")

    print(f"top {a.top} by own samples:")
    n = 0
    for line in report(a.data, "--no-children", "--sort", "dso,sym", "-g", "none"):
        if re.match(r"\s*[\d.]+%", line):
            print("  " + line.strip())
            n += 1
            if n >= a.top:
                break


if __name__ == "__main__":
    main()
