#!/usr/bin/env bash
# perf/device.sh — the many-core scaling run (issue #9) on the `device` machine
# some sessions are lent (16 cores, x86-64, a bare machine: no Rust, no
# mosquitto; 15 minutes of machine time per session, 10 per command, 64 MiB of
# working tree and carried files, at most 8 files back from $OUT).
#
# Two steps:
#
#   perf/device.sh prep      here: release build, stripped copies of junction
#                            and loadgen in perf/out/bin (ignored by git; about
#                            17 MB: the unstripped ones, ~94 MB, exceed the
#                            64 MiB carry limit), and the `run` call to make.
#   perf/device.sh run       there (the `run` tool's command): checks the
#                            machine, runs perf/scaling.sh within the command's
#                            time limit and leaves summary.md, machine.txt and
#                            a tarball of every loadgen JSON in $OUT.
#
# The call `prep` prints:
#   run(command="perf/device.sh run", carry=["perf/out/bin"], timeout_s=580)
# then give_back at once unless a second run follows. What one run costs: 4
# scenarios x 4 shard counts x 2 placements (junction.pack_connections 32, the
# default, and 1, least connections) x RUNS runs of DURATION s plus ~2 s each
# to start a router and connect: with RUNS=2 DURATION=3, 64 runs, ~5.5 min.
# RUNS, DURATION, SHARDS, PACK and ONLY override the defaults below; a dry
# run here: MIN_CPUS=2 ROUTER_CPUS=0-1 LOAD_CPUS=1 SHARDS="1 2" RUNS=1
# DURATION=1 OUT=/tmp/dev perf/device.sh run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/perf/out/bin

case "${1:-}" in
    prep)
        cd "$ROOT"
        cargo build --release -p junction -p loadgen
        mkdir -p "$BIN"
        strip -o "$BIN/junction" target/release/junction
        strip -o "$BIN/loadgen" target/release/loadgen
        ls -l "$BIN"
        echo
        echo 'then: run(command="perf/device.sh run", carry=["perf/out/bin"], timeout_s=580)'
        ;;
    run)
        : "${OUT:?perf/device.sh run: OUT (the folder the device tool brings back) is not set}"
        mkdir -p "$OUT"
        for b in junction loadgen; do
            [[ -x $BIN/$b ]] || { echo "perf/device.sh: $BIN/$b is missing: run 'perf/device.sh prep' here and carry perf/out/bin" >&2; exit 1; }
        done
        cpus=$(nproc)
        if [[ $cpus -lt ${MIN_CPUS:-16} ]]; then
            echo "perf/device.sh: $cpus CPUs; the scaling run pins the router to 0-7 and the load to 8-15" >&2
            exit 1
        fi
        ulimit -n "$(ulimit -Hn)" || true
        work=$(mktemp -d)
        # Stop in time for the files to come back: scaling.sh is killed at the
        # budget and the summary is written from what finished.
        budget=${BUDGET:-540}
        set +e
        JUNCTION_BIN=$BIN/junction LOADGEN_BIN=$BIN/loadgen timeout "$budget" \
            "$ROOT/perf/scaling.sh" --out "$work/scaling" \
            --runs "${RUNS:-2}" --duration "${DURATION:-3}" \
            --shards "${SHARDS:-1 2 4 8}" --pack "${PACK:-32 1}" \
            --router-cpus "${ROUTER_CPUS:-0-7}" --load-cpus "${LOAD_CPUS:-8-15}" \
            --only "${ONLY:-pubsub,rpc,pubsub-fixed,rpc-fixed}" 2>&1 | tee "$OUT/log.txt"
        rc=${PIPESTATUS[0]}
        set -e
        cp "$work/scaling/machine.txt" "$OUT/" 2>/dev/null || true
        cp "$work/scaling/summary.md" "$OUT/" 2>/dev/null ||
            echo "perf/device.sh: no summary (scaling.sh ended with $rc before it wrote one)" >&2
        tar -czf "$OUT/scaling.tgz" -C "$work" scaling
        echo "perf/device.sh: scaling.sh exit $rc; results in $OUT"
        ;;
    *)
        sed -n 2,26p "$0"
        exit 2
        ;;
esac
