#!/usr/bin/env bash
# Runs Crossbar.io's own functional test suite (test/functests/cbtests in a
# Crossbar checkout) against Junction, with the test files unmodified.
#
# The suite starts its router as `<dirname(sys.executable)>/crossbar start
# --cbdir DIR [--loglevel L]` with a config.json it writes, then drives it
# with Autobahn|Python (Twisted) clients. So this script:
#
#   - creates (or reuses, with -v) a venv with what the suite imports:
#     tests/interop/requirements.txt (Autobahn|Python, Twisted, pytest,
#     ...) plus pytest-twisted, treq, psutil and click. Base interpreter:
#     $PYTHON, else python3.11, else python3;
#   - installs there a stand-in `crossbar` Python package, because the
#     suite's helpers.py imports `crossbar._util.hl` (a colour helper) and
#     `crossbar.shell.command.CmdListManagementRealms` (used only by the
#     CFX management session): the stand-in has just those two names, plus
#     a copy of the checkout's `crossbar/functest_helpers` (the Python
#     callbacks that the suite's router configs name, which Junction's
#     component host imports). Nothing of Crossbar's router is installed;
#   - links tests/compat/crossbar-shim as the venv's `bin/crossbar`, with
#     JUNCTION_SHIM_RUNTIME_IN_CBDIR=1 (each node its own control socket:
#     the suite runs up to three nodes at once) and
#     JUNCTION_SHIM_CROSSBAR_LOG=1 (the fixtures wait for Crossbar's log
#     lines "started Transport ws_test_0", "ws_test_0 has started",
#     "WampRawSocketServerFactory starting on PORT"; the shim prints them
#     once Junction's transport accepts clients, see its header);
#   - copies test/functests to a temporary directory and runs pytest there
#     on the chosen cbtests files, with the venv's bin first on PATH (the
#     router's Python components run on `python3` from PATH, as Junction's
#     docs say) and `--venv VENV --no-install` (the suite's own virtualenv
#     fixture would otherwise pip-install Crossbar from GitHub).
#
# Usage: tests/compat/crossbar_functests.sh [-b JUNCTION] [-v VENV] [-k]
#            CROSSBAR_CHECKOUT [TEST...] [-- PYTEST_ARGS...]
#   -b JUNCTION  the junction binary (default: target/release/junction)
#   -v VENV      the venv to create or reuse (default:
#                tests/compat/.venv-functests)
#   -k           keep the copied test directory (its path is printed)
#   TEST         cbtests file names, with or without `test_cb_` and `.py`
#                (`pubsub`, `test_cb_rpc.py`); default: the files this
#                script is meant for (below)
#   PYTEST_ARGS  passed to pytest (default: -q -p no:cacheprovider
#                --timeout 300 -W ignore::DeprecationWarning; the slow
#                tests of test_cb_sigint.py need --slow)
#
# Default files: apperrors authenticator connection dynamic_auth guest
# meta_api proxy pubsub rpc sessions shutdown ssl zip_bomb. Not run by
# default: the rlink files (router-to-router links, which Junction does
# not have), management_container and management_transports (every test
# there is skipped by the suite itself: "Needs old-style management API"),
# sigint (slow; give --slow).
#
# Results (2026-12-07) and what they found: docs/config.md, "Running
# Crossbar's functional tests".
#
# Exit status: pytest's. Not part of CI: the Crossbar checkout is not in
# this repository; see docs/config.md, "Running Crossbar's functional tests".
set -u

here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$here/target/release/junction"
venv="$here/tests/compat/.venv-functests"
keep=0
while getopts "b:v:kh" opt; do
    case "$opt" in
        b) bin="$OPTARG" ;;
        v) venv="$OPTARG" ;;
        k) keep=1 ;;
        h)
            sed -n '2,57p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
    echo "usage: $0 [-b JUNCTION] [-v VENV] [-k] CROSSBAR_CHECKOUT [TEST...] [-- PYTEST_ARGS...]" >&2
    exit 2
fi
checkout="$1"
shift
if [ ! -d "$checkout/test/functests/cbtests" ]; then
    echo "$0: $checkout has no test/functests/cbtests" >&2
    exit 2
fi
if [ ! -x "$bin" ]; then
    echo "$0: no junction binary at $bin (give -b PATH)" >&2
    exit 2
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

tests=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    t="${1%.py}"
    t="${t#test_cb_}"
    tests+=("$t")
    shift
done
[ "${1:-}" = "--" ] && shift
if [ ${#tests[@]} -eq 0 ]; then
    tests=(apperrors authenticator connection dynamic_auth guest meta_api proxy
        pubsub rpc sessions shutdown ssl zip_bomb)
fi
if [ $# -gt 0 ]; then
    pytest_args=("$@")
else
    pytest_args=(-q -p no:cacheprovider --timeout 300 -W ignore::DeprecationWarning)
fi

# The venv: made once, then reused while its stamp matches the requirements.
extra_reqs="pytest-twisted==1.14.3 treq==26.7.0 psutil==7.2.2 click==8.5.1"
stamp="$(cat "$here/tests/interop/requirements.txt"; echo "$extra_reqs")"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.functests-stamp" 2>/dev/null)" != "$stamp" ]; then
    py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
    echo "creating $venv with $py" >&2
    "$py" -m venv "$venv" || exit 2
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install -q -r "$here/tests/interop/requirements.txt" $extra_reqs || exit 2
    printf '%s' "$stamp" >"$venv/.functests-stamp"
fi

# The stand-in `crossbar` package (see the header), rewritten on each run.
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
pkg="$site/crossbar"
rm -rf "$pkg"
mkdir -p "$pkg/shell"
cat >"$pkg/__init__.py" <<'EOF'
"""A stand-in for Crossbar.io's package (tests/compat/crossbar_functests.sh):
just what Crossbar's functional tests import. The router is Junction."""
EOF
cat >"$pkg/_util.py" <<'EOF'
import click


def hl(text, bold=False, color='yellow'):
    """Crossbar's highlight helper: ``text`` in colour."""
    if not isinstance(text, str):
        text = '{}'.format(text)
    return click.style(text, fg=color, bold=bold)
EOF
: >"$pkg/shell/__init__.py"
cat >"$pkg/shell/command.py" <<'EOF'
class CmdListManagementRealms(object):
    """Named by the suite's CFX management session only (not run here)."""
EOF
if [ -d "$checkout/src/crossbar/functest_helpers" ]; then
    cp -r "$checkout/src/crossbar/functest_helpers" "$pkg/"
elif [ -d "$checkout/crossbar/functest_helpers" ]; then
    cp -r "$checkout/crossbar/functest_helpers" "$pkg/"
fi
ln -sf "$here/tests/compat/crossbar-shim" "$venv/bin/crossbar"

work="$(mktemp -d)"
if [ "$keep" = 1 ]; then
    echo "test directory: $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi
cp -r "$checkout/test/functests" "$work/functests"
files=()
for t in "${tests[@]}"; do
    f="$work/functests/cbtests/test_cb_$t.py"
    [ -f "$f" ] || f="$work/functests/cbtests/$t.py"
    if [ ! -f "$f" ]; then
        echo "$0: no cbtests file for \"$t\"" >&2
        exit 2
    fi
    files+=("$f")
done

cd "$work" || exit 2
PATH="$venv/bin:$PATH" \
    JUNCTION="$bin" \
    JUNCTION_SHIM_RUNTIME_IN_CBDIR=1 \
    JUNCTION_SHIM_CROSSBAR_LOG=1 \
    "$venv/bin/python" -m pytest "${files[@]}" --venv "$venv" --no-install "${pytest_args[@]}"
