"""Fixtures: the router under test and a pool of client sessions.

Environment:
  ROUTER        junction (default) or crossbar
  JUNCTION_BIN  path of the junction binary (default target/release/junction)
  CROSSBAR_BIN  path of the crossbar executable (ROUTER=crossbar)
  INTEROP_NO_SKIP=1  a test skipped because a peer is missing fails instead
                (tests/run.sh sets it: CI installs every peer, so a skip
                there means a test that did not run)
"""

from __future__ import annotations

import itertools
import os
import secrets

import pytest
import pytest_asyncio

from routerproc import IS_CROSSBAR, ROUTER, RouterProcess
from wampclient import Client, connect

# JUNCTION_BIN is resolved relative to the directory pytest was started from;
# make it absolute before the router is started in its own working directory.
if os.environ.get("JUNCTION_BIN"):
    os.environ["JUNCTION_BIN"] = os.path.abspath(os.environ["JUNCTION_BIN"])


def pytest_report_header(config):
    if IS_CROSSBAR:
        return f"router under test: crossbar ({os.environ.get('CROSSBAR_BIN', 'crossbar')})"
    return f"router under test: {ROUTER} ({os.environ.get('JUNCTION_BIN', 'target/release/junction')})"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "junction_only: uses a Junction-specific feature; skipped for ROUTER=crossbar"
    )


def pytest_collection_modifyitems(config, items):
    # INTEROP_RUN_JUNCTION_ONLY=1 runs them against Crossbar anyway (to debug a test).
    if not IS_CROSSBAR or os.environ.get("INTEROP_RUN_JUNCTION_ONLY") == "1":
        return
    skip = pytest.mark.skip(reason="Junction-specific (config key or WELCOME detail)")
    for item in items:
        if "junction_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("INTEROP_NO_SKIP") == "1"
        and not IS_CROSSBAR
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped, but INTEROP_NO_SKIP=1: {report.longrepr}"


def start_router(tmp_path_factory, name: str, junction: dict | None = None) -> RouterProcess:
    workdir = tmp_path_factory.mktemp(name)
    return RouterProcess(workdir, junction=junction).start()


@pytest.fixture(scope="session")
def router(tmp_path_factory):
    """The shared router instance for most tests (session scope: started once)."""
    proc = start_router(tmp_path_factory, "router")
    yield proc
    alive = proc.alive()
    proc.kill()
    if not alive:
        pytest.fail(f"the router died during the test session:\n{proc.logs()}")


@pytest.fixture
def router_factory(tmp_path_factory):
    """Start extra router instances (for tests that kill or reconfigure one)."""
    started: list[RouterProcess] = []

    def make(name: str = "extra", junction: dict | None = None) -> RouterProcess:
        proc = start_router(tmp_path_factory, name, junction)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.kill()


class Clients:
    """Opens sessions for one test and closes them all afterwards."""

    def __init__(self, router: RouterProcess):
        self.router = router
        self.sessions: list[Client] = []

    async def __call__(
        self, transport: str = "ws", serializer: str = "json", realm: str = "realm1", router=None
    ) -> Client:
        session = await connect(router or self.router, transport, serializer, realm)
        self.sessions.append(session)
        return session

    async def close_all(self) -> None:
        for session in self.sessions:
            await session.close()


@pytest_asyncio.fixture
async def clients(router, router_factory):
    # `router_factory` first, so that its routers are stopped after these
    # sessions closed (fixtures end in the reverse order of their start): a
    # router stopped under a session still open waits for its GOODBYE.
    pool = Clients(router)
    yield pool
    await pool.close_all()


_counter = itertools.count()
_run = secrets.token_hex(3)


@pytest.fixture
def uniq():
    """Make unique URIs (`uniq("com.example.topic")`), so tests sharing a router never collide."""

    def make(prefix: str) -> str:
        return f"{prefix}.r{_run}_{next(_counter)}"

    return make


@pytest.fixture
def made():
    """MQTT clients a test opens (append them); closed at the end."""
    clients: list = []
    yield clients
    for c in clients:
        try:
            c.close()
        except Exception:
            pass
