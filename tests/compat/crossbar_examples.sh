#!/usr/bin/env bash
# Runs `junction check --config-only` over every Crossbar node config found
# under the given directories (the config alone, as `crossbar check` does: a
# corpus names key files and programs that are not there) and classifies
# each one:
#
#   valid    exit 0, no warning
#   warned   exit 0, with warnings (keys Junction ignores, each named)
#   env      exit 2, and every error is an unset `${VAR}` (set the
#            variables and run again)
#   refused  exit 2 (errors: wrong values, unknown keys, missing features)
#   failed   anything else (a crash, a timeout): a bug in Junction
#
# A node config is a .json/.yaml/.yml file with a top-level `workers` key
# (JSON: a `"workers":` key anywhere; YAML: `workers:` at the start of a
# line), not a JSON Schema (`"$schema"` of json-schema.org, such as
# Crossbar's own crossbar.json). node_modules and .git are skipped.
#
# Usage: tests/compat/crossbar_examples.sh [-b JUNCTION] [-l] [-q] DIR...
#   -b JUNCTION  the junction binary (default: target/debug/junction, else
#                `junction` on PATH)
#   -l           list every file with its class and first error or warning
#   -q           print only the summary line
#
# Output: per class counts, then the refusal causes and the warned keys,
# each with the number of configs it occurs in. A cause is the last key of
# the JSON path (array indices dropped) and the message, so "serializers:
# serializer "ubjson" ..." counts configs, not occurrences.
#
# Exit status: 0 when every config was classified (whatever the class), 1
# when one failed (crash or timeout), 2 on bad usage. Not part of CI: the
# corpus (crossbar-examples, iotcookbook, ...) is not in this repository;
# see docs/config.md, "Checking your own configs".
set -u
export LC_ALL=C

bin=""
list=0
quiet=0
while getopts "b:lqh" opt; do
    case "$opt" in
        b) bin="$OPTARG" ;;
        l) list=1 ;;
        q) quiet=1 ;;
        h)
            sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
    echo "usage: $0 [-b JUNCTION] [-l] [-q] DIR..." >&2
    exit 2
fi
if [ -z "$bin" ]; then
    here="$(cd "$(dirname "$0")/../.." && pwd)"
    if [ -x "$here/target/debug/junction" ]; then
        bin="$here/target/debug/junction"
    else
        bin="$(command -v junction || true)"
    fi
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "$0: no junction binary (give -b PATH)" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# `check` opens no control socket, but keep any runtime file away from a
# node that may be running.
export RUNTIME_DIRECTORY="$work/run"
mkdir -p "$RUNTIME_DIRECTORY"

# The node configs, sorted, NUL-separated.
find "$@" \( -name node_modules -o -name .git \) -prune -o -type f \
    \( -name '*.json' -o -name '*.yaml' -o -name '*.yml' \) -print0 |
    sort -z |
    while IFS= read -r -d '' f; do
        case "$f" in
            *.json)
                grep -qE '"workers"[[:space:]]*:' "$f" 2>/dev/null &&
                    ! grep -qE '"\$schema"[[:space:]]*:[[:space:]]*"https?://json-schema\.org' "$f"
                ;;
            *) grep -qE '^workers[[:space:]]*:' "$f" 2>/dev/null ;;
        esac && printf '%s\0' "$f"
    done >"$work/files"

# key: message, from `error: <path>: <message>` / `warning: <path>: <message>`.
cause() {
    sed -nE "s/^$1: ([^ ]*): (.*)$/\1\t\2/p" |
        awk -F'\t' '{
            n = split($1, part, ".");
            key = part[n];
            gsub(/\[[0-9]+\]/, "", key);
            msg = $2;
            sub(/ \(known here: [^)]*\)/, "", msg);
            if (key == "") key = "(top level)";
            print key ": " msg;
        }' |
        sort -u
}

total=0
: >"$work/classes"
: >"$work/errors"
: >"$work/warnings"
while IFS= read -r -d '' f; do
    total=$((total + 1))
    out="$work/out"
    timeout 30 "$bin" check --config-only --config "$f" >"$out" 2>&1
    rc=$?
    case "$rc" in
        0)
            if grep -q '^warning:' "$out"; then class=warned; else class=valid; fi
            ;;
        2)
            if grep '^error:' "$out" | grep -qv ': environment variable [A-Za-z_0-9]* is not set$'; then
                class=refused
            else
                class=env
            fi
            ;;
        *) class=failed ;;
    esac
    echo "$class" >>"$work/classes"
    cause error <"$out" >>"$work/errors"
    cause warning <"$out" >>"$work/warnings"
    if [ "$list" = 1 ]; then
        first="$( (grep -m1 '^error:' "$out" || grep -m1 '^warning:' "$out" ||
            { [ "$class" = failed ] && echo "exit status $rc: $(tail -n1 "$out")"; }) |
            cut -c1-200)"
        printf '%-8s %s\t%s\n' "$class" "$f" "$first"
    fi
done <"$work/files"

count() { grep -cx "$1" "$work/classes"; }
valid=$(count valid)
warned=$(count warned)
env=$(count env)
refused=$(count refused)
failed=$(count failed)
echo "configs: $total; accepted: $((valid + warned)) (valid $valid, with warnings $warned); needs environment variables: $env; refused: $refused; failed: $failed"
if [ "$quiet" = 0 ]; then
    if [ -s "$work/errors" ]; then
        echo
        echo "refusal causes (configs):"
        sort "$work/errors" | uniq -c | sort -k1,1nr -k2 | sed 's/^/  /'
    fi
    if [ -s "$work/warnings" ]; then
        echo
        echo "warned keys (configs):"
        sort "$work/warnings" | uniq -c | sort -k1,1nr -k2 | sed 's/^/  /'
    fi
fi
[ "$failed" = 0 ]
