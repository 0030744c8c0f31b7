#!/usr/bin/env python3
"""Summarize a perf/compare.sh run: medians per (scenario, target), ratios
against Junction, and the issue's targets checked.

Input: RAW_DIR/<scenario>/<target>/run<N>.json (loadgen --json output) and
run<N>.meta.json (written by compare.sh: router idle RSS, peak RSS, sessions,
shards, exit status). A run whose loadgen failed has only the meta file, with
"error" set; it is listed, not counted.

Output: a table on stdout, OUT.json and OUT.md; with --loadgen, the charts
OUT.throughput.svg (bars per scenario and router, log scale), OUT.latency.svg
(RPC at concurrency 1: p50 and p99 per router), OUT.memory.svg (router memory
per held session) and OUT.scaling.svg (the shards scenarios' throughput per
shard count, with the ideal linear line), drawn by `loadgen plot`.

Usage: report.py RAW_DIR OUT_BASENAME [--machine TEXT] [--loadgen BIN]
Standard library only.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Scenario order and labels: the sections of BENCHMARKS.md.
SCENARIOS = [
    ("fanout", "Fan-out 1 → 1,000 subscribers, 100 B"),
    ("pubsub", "Pub/sub 10 publishers × 100 subscribers × 10 topics"),
    ("rpc", "RPC 100 callers → 1 callee"),
    ("rpc4", "RPC 100 callers → 4 callees"),
    ("rpc-latency", "RPC 10 callers, concurrency 1 (latency)"),
    ("sessions", "100,000 held sessions (router RSS per session)"),
    ("shards-fanout", "Shards 1 vs 2: fan-out 1 → 1,000"),
    ("shards-pubsub", "Shards 1 vs 2: pub/sub 10 × 100 × 10"),
]
TARGETS = ["junction", "junction-s2", "crossbar", "mosquitto", "baseline"]


def shards_of(target):
    """The shard count of a Junction target (junction: 1, junction-sK: K); None otherwise."""
    if target == "junction":
        return 1
    m = re.fullmatch(r"junction-s(\d+)", target)
    return int(m.group(1)) if m else None


def targets_in(med):
    """The targets present, in TARGETS order, then other junction-sK by K."""
    present = {t for (_, t) in med}
    extra = sorted((t for t in present if t not in TARGETS and shards_of(t)), key=shards_of)
    return [t for t in TARGETS if t in present] + extra

# The figure each scenario is judged on: (key, unit, higher_is_better).
PRIMARY = {
    "fanout": ("throughput", "msg/s", True),
    "pubsub": ("throughput", "msg/s", True),
    "rpc": ("throughput", "calls/s", True),
    "rpc4": ("throughput", "calls/s", True),
    "rpc-latency": ("p50_us", "µs", False),
    "sessions": ("bytes_per_session", "B", False),
    "shards-fanout": ("throughput", "msg/s", True),
    "shards-pubsub": ("throughput", "msg/s", True),
}

# The targets: (scenario, description, check(medians) -> value, bound, op).
def _ratio(med, s, a, b, key):
    x, y = med.get((s, a), {}).get(key), med.get((s, b), {}).get(key)
    if x is None or y is None or y == 0:
        return None
    return x / y


def _value(med, s, t, key):
    return med.get((s, t), {}).get(key)


CHECKS = [
    ("fan-out Junction/Crossbar ≥ 25×", lambda m: _ratio(m, "fanout", "junction", "crossbar", "throughput"), 25, ">="),
    ("fan-out Junction/mosquitto ≥ 10×", lambda m: _ratio(m, "fanout", "junction", "mosquitto", "throughput"), 10, ">="),
    ("fan-out Junction/baseline ≥ 0.8", lambda m: _ratio(m, "fanout", "junction", "baseline", "throughput"), 0.8, ">="),
    ("RPC 100 callers Junction/Crossbar ≥ 30×", lambda m: _ratio(m, "rpc", "junction", "crossbar", "throughput"), 30, ">="),
    ("RPC concurrency 1: p50 ≤ 100 µs", lambda m: _value(m, "rpc-latency", "junction", "p50_us"), 100, "<="),
    ("RPC concurrency 1: p99 ≤ 1 ms", lambda m: _value(m, "rpc-latency", "junction", "p99_us"), 1000, "<="),
    ("≤ 2 KiB router RSS per held session", lambda m: _value(m, "sessions", "junction", "bytes_per_session"), 2048, "<="),
    ("2 shards ≥ 1.8× 1 shard (fan-out)", lambda m: _ratio(m, "shards-fanout", "junction-s2", "junction", "throughput"), 1.8, ">="),
    ("2 shards ≥ 1.8× 1 shard (pub/sub)", lambda m: _ratio(m, "shards-pubsub", "junction-s2", "junction", "throughput"), 1.8, ">="),
]


def pick(d, *paths):
    """The first of the dotted `paths` present (not None) in `d`."""
    for path in paths:
        v = d
        for k in path.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            return v
    return None


def flatten(run, meta):
    """One run's figures, flat. None where the source did not report it.

    Field names: the agreed contract first ("throughput", "loadgen_cpu_s",
    "router_cpu_s", "router_rss_kb"), then loadgen's own report layout
    ("throughput_per_s", "cpu.*", "extra.*"), then the script's /proc readings.
    """
    lat = run.get("latency_us") or {}
    loadgen_cpu = pick(run, "loadgen_cpu_s")
    if loadgen_cpu is None and isinstance(run.get("cpu"), dict):
        user, sys_ = pick(run, "cpu.loadgen_user_s"), pick(run, "cpu.loadgen_sys_s")
        if user is not None or sys_ is not None:
            loadgen_cpu = (user or 0) + (sys_ or 0)
    router_cpu = pick(run, "router_cpu_s", "cpu.router_cpu_s")
    out = {
        "throughput": pick(run, "throughput", "throughput_per_s"),
        "p50_us": lat.get("p50"),
        "p90_us": lat.get("p90"),
        "p99_us": lat.get("p99"),
        "p999_us": lat.get("p999"),
        "max_us": lat.get("max"),
        "lost": run.get("lost"),
        "reordered": run.get("reordered"),
        "clean": run.get("clean", meta.get("loadgen_status") in (0, None)),
        "loadgen_cpu_s": loadgen_cpu,
        "router_cpu_s": router_cpu if router_cpu is not None else meta.get("router_cpu_s_proc"),
        "router_rss_kb": pick(run, "router_rss_kb", "extra.router_rss_kib_with_sessions", "cpu.router_rss_kib_after"),
        "router_hwm_kb": meta.get("router_hwm_kb"),
        "router_rss_idle_kb": pick(run, "extra.router_rss_kib_idle") or meta.get("router_rss_idle_kb"),
    }
    if meta.get("scenario") == "sessions":
        per_kib = pick(run, "extra.router_rss_kib_per_session")
        sessions = pick(run, "sessions", "extra.sessions_ok") or meta.get("sessions")
        rss = out["router_rss_kb"] or out["router_hwm_kb"]
        idle = out["router_rss_idle_kb"]
        if per_kib is not None:
            out["bytes_per_session"] = per_kib * 1024
        elif sessions and rss is not None and idle is not None:
            out["bytes_per_session"] = (rss - idle) * 1024 / sessions
    return out


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def load(raw):
    """{(scenario, target): {"runs": [...], "errors": [...]}}"""
    data = {}
    for meta_path in sorted(Path(raw).glob("*/*/run*.meta.json")):
        scenario, target = meta_path.parent.parent.name, meta_path.parent.name
        meta = json.loads(meta_path.read_text())
        meta.setdefault("scenario", scenario)
        entry = data.setdefault((scenario, target), {"runs": [], "errors": []})
        run_path = meta_path.with_name(meta_path.name.replace(".meta.json", ".json"))
        if meta.get("error") or not run_path.exists():
            entry["errors"].append(meta.get("error") or "no loadgen output")
            continue
        try:
            run = json.loads(run_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            entry["errors"].append(f"{run_path.name}: {e}")
            continue
        entry["runs"].append(flatten(run, meta))
    return data


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1:
        v = int(v)
    if v == 0:
        return "0"
    if isinstance(v, float) and abs(v) < 10:
        s = f"{v:.2f}"
    else:
        s = f"{v:,.0f}"
    return f"{s} {unit}".strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--machine", default="")
    ap.add_argument("--loadgen", default="", help="loadgen binary: draw the SVG charts with `loadgen plot`")
    args = ap.parse_args()

    data = load(args.raw)
    if not data:
        print(f"report: no results under {args.raw}", file=sys.stderr)
        return 1
    keys = ["throughput", "p50_us", "p99_us", "p999_us", "lost", "reordered",
            "loadgen_cpu_s", "router_cpu_s", "router_rss_kb", "router_hwm_kb", "bytes_per_session"]
    med = {}
    for k, entry in data.items():
        m = {key: median_of(entry["runs"], key) for key in keys}
        m["runs"] = len(entry["runs"])
        m["unclean"] = sum(1 for r in entry["runs"] if not r.get("clean", True))
        m["errors"] = entry["errors"]
        med[k] = m

    rows = []
    for scenario, label in SCENARIOS:
        key, unit, higher = PRIMARY[scenario]
        base = med.get((scenario, "junction"), {}).get(key)
        for target in targets_in(med):
            m = med.get((scenario, target))
            if m is None:
                continue
            v = m.get(key)
            ratio = None
            if shards_of(target) not in (None, 1) and base and v:
                # K shards against 1 shard: > 1 means K shards are better.
                ratio = v / base if higher else base / v
            elif target != "junction" and base is not None and v:
                # "× Junction": > 1 means Junction is better on this figure.
                ratio = base / v if higher else v / base
            rows.append({
                "scenario": scenario, "label": label, "target": target, "primary": key,
                "unit": unit, "value": v, "junction_advantage": ratio, **m,
            })

    checks = []
    for desc, f, bound, op in CHECKS:
        v = f(med)
        ok = None if v is None else (v >= bound if op == ">=" else v <= bound)
        checks.append({"check": desc, "value": v, "bound": bound, "op": op, "pass": ok})

    header = ["scenario", "target", "runs", "primary (median)", "× Junction", "p50 µs", "p99 µs",
              "lost", "router CPU s", "loadgen CPU s", "router RSS kB"]
    lines = []
    for r in rows:
        lines.append([
            r["scenario"], r["target"],
            str(r["runs"]) + (f" ({r['unclean']} unclean)" if r["unclean"] else "")
            + (f" ({len(r['errors'])} failed)" if r["errors"] else ""),
            fmt(r["value"], r["unit"]), fmt(r["junction_advantage"]) if r["junction_advantage"] else "",
            fmt(r["p50_us"]), fmt(r["p99_us"]), fmt(r["lost"]), fmt(r["router_cpu_s"]),
            fmt(r["loadgen_cpu_s"]), fmt(r["router_rss_kb"] or r["router_hwm_kb"]),
        ])
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for l in lines:
        print("  ".join(c.ljust(w) for c, w in zip(l, widths)))
    print()
    for c in checks:
        status = {True: "PASS", False: "FAIL", None: "n/a "}[c["pass"]]
        print(f"[{status}] {c['check']}: {fmt(c['value'])}")

    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(
        {"machine": args.machine, "raw": str(args.raw), "rows": rows, "checks": checks}, indent=2))
    md = [f"# Junction comparison — {out.stem.removeprefix('results-')}", ""]
    if args.machine:
        md += ["```", args.machine.strip(), "```", ""]
    md += ["Medians of the runs listed. “× Junction” > 1 means Junction is better on the "
           "primary figure (throughput: Junction/other; latency, memory: other/Junction); "
           "on `junction-s2` rows it is 2 shards against 1 shard (> 1: 2 shards better). "
           "CPU seconds are per run, for the router process (Crossbar: its router worker) "
           "and for the load generator, which share the machine's cores. “unclean”: loadgen "
           "saw loss, reordering, duplicates or errors in that run (see its report).", ""]
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "---|" * len(header))
    for l in lines:
        md.append("| " + " | ".join(l) + " |")
    md += ["", "| target check | value | result |", "|---|---|---|"]
    for c in checks:
        md.append(f"| {c['check']} | {fmt(c['value'])} | {({True: 'pass', False: 'FAIL', None: 'not measured'})[c['pass']]} |")
    errors = [(r["scenario"], r["target"], e) for r in rows for e in r["errors"]]
    if errors:
        md += ["", "Failed runs:", ""] + [f"- {s} / {t}: {e}" for s, t, e in errors]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    if args.loadgen:
        for path in charts(med, out, args.loadgen):
            print(f"wrote {path}")
    return 0


def chart_specs(med):
    """{suffix: loadgen plot spec} for the charts the medians allow."""
    specs = {}
    targets = [t for t in targets_in(med) if shards_of(t) in (None, 1)]
    labels = dict(SCENARIOS)
    thr = [s for s in ("fanout", "pubsub", "rpc", "rpc4") if any((s, t) in med for t in targets)]
    if thr:
        specs["throughput"] = {
            "kind": "bars", "log_y": True,
            "title": "Throughput (median), messages or calls per second",
            "y_label": "per second (log scale)",
            "categories": thr,
            "series": [{"name": t, "values": [med.get((s, t), {}).get("throughput") for s in thr]}
                       for t in targets if any((s, t) in med for s in thr)],
        }
    lat = [t for t in targets if ("rpc-latency", t) in med]
    if lat:
        specs["latency"] = {
            "kind": "bars", "log_y": True,
            "title": labels["rpc-latency"],
            "y_label": "µs (log scale)",
            "categories": ["p50", "p99"],
            "series": [{"name": t, "values": [med[("rpc-latency", t)].get("p50_us"),
                                              med[("rpc-latency", t)].get("p99_us")]} for t in lat],
        }
    mem = [t for t in targets if ("sessions", t) in med]
    if mem:
        specs["memory"] = {
            "kind": "bars", "log_y": False,
            "title": "Router memory per held session",
            "y_label": "bytes per session",
            "categories": ["sessions"],
            "series": [{"name": t, "values": [med[("sessions", t)].get("bytes_per_session")]} for t in mem],
        }
    series = []
    for s in ("shards-fanout", "shards-pubsub"):
        pts = sorted((shards_of(t), m.get("throughput")) for (sc, t), m in med.items()
                     if sc == s and shards_of(t) and m.get("throughput"))
        if len(pts) >= 2:
            series.append({"name": s.removeprefix("shards-"), "points": pts})
            one = dict(pts).get(1)
            if one:
                series.append({"name": f"{s.removeprefix('shards-')}, ideal", "points": [(k, one * k) for k, _ in pts]})
    if series:
        specs["scaling"] = {
            "kind": "lines", "title": "Throughput by shard count (median)",
            "x_label": "shards", "y_label": "messages per second", "series": series,
        }
    return specs


def charts(med, out, loadgen):
    """Draws the charts with `loadgen plot`; returns the files written."""
    written = []
    for suffix, spec in chart_specs(med).items():
        path = out.with_suffix(f".{suffix}.svg")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(spec, f)
        r = subprocess.run([loadgen, "plot", f.name, str(path)], capture_output=True, text=True)
        Path(f.name).unlink(missing_ok=True)
        if r.returncode != 0:
            print(f"report: {suffix} chart failed: {r.stderr.strip()}", file=sys.stderr)
            continue
        written.append(path)
    return written


if __name__ == "__main__":
    sys.exit(main())
