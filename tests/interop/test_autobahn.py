"""Autobahn|Testsuite (``wstest -m fuzzingclient``) against Junction's
``websocket-testee`` worker, with permessage-deflate offered: every case of
the suite, compression cases included, must pass (``OK``, or
``INFORMATIONAL`` where the suite only reports), and so must the closing
behaviour of each.

wstest is Python 2.7 code: tests/run.sh builds its virtualenv in
tests/autobahn/.venv (pyenv's Python 2.7.18, ``virtualenv<20.22``,
``autobahntestsuite==25.10.1``). Outside CI the test is skipped without it;
in CI (``CI`` set) it fails.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
from pathlib import Path

import pytest

from routerproc import RouterProcess, free_port

pytestmark = pytest.mark.junction_only

WSTEST = Path(__file__).resolve().parents[1] / "autobahn" / ".venv" / "bin" / "wstest"
#: Cases in autobahntestsuite 25.10.1 (fuzzingclient, every case).
CASES = 517
PASS = {"OK", "INFORMATIONAL"}


@pytest.mark.timeout(1800)
def test_every_autobahn_case_passes(tmp_path):
    if not WSTEST.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{WSTEST} is missing in CI (tests/run.sh builds it)")
        pytest.skip("wstest is not installed (run tests/run.sh)")
    testee_port, router_port = free_port(), free_port()
    anyone = {"uri": "", "match": "prefix", "allow": {"call": True, "register": True, "publish": True, "subscribe": True}}
    config = {
        "version": 2,
        "workers": [
            {
                "type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [anyone]}]}],
                "transports": [
                    {"type": "websocket", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": router_port}}
                ],
            },
            {
                "type": "websocket-testee",
                "transport": {
                    "type": "websocket",
                    "id": "testee",
                    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": testee_port},
                    "options": {"compression": {"deflate": {}}},
                },
            },
        ],
    }
    proc = RouterProcess(tmp_path, config=config, wait_ports=[testee_port]).start()
    report = tmp_path / "report"
    spec = {
        "outdir": str(report),
        "servers": [{"agent": "Junction", "url": f"ws://127.0.0.1:{testee_port}"}],
        "cases": ["*"],
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    (tmp_path / "fuzzingclient.json").write_text(json.dumps(spec))
    try:
        done = subprocess.run(
            [str(WSTEST), "-m", "fuzzingclient", "-s", "fuzzingclient.json"],
            cwd=tmp_path,
            capture_output=True,
            timeout=1700,
            check=False,
        )
    finally:
        alive = proc.alive()
        proc.kill()
    assert alive, f"the testee died:\n{proc.logs()}"
    index_path = report / "index.json"
    assert index_path.exists(), done.stdout.decode(errors="replace")[-3000:] + done.stderr.decode(errors="replace")[-3000:]
    results = json.loads(index_path.read_text())["Junction"]
    counts = collections.Counter((r["behavior"], r["behaviorClose"]) for r in results.values())
    print(f"Autobahn|Testsuite: {len(results)} cases: {dict(counts)}")
    failed = sorted(
        (case, r["behavior"], r["behaviorClose"])
        for case, r in results.items()
        if r["behavior"] not in PASS or r["behaviorClose"] not in PASS
    )
    assert not failed, f"{len(failed)} cases did not pass: {failed[:40]}"
    assert len(results) == CASES, f"{len(results)} cases ran, expected {CASES}"
