"""The ``wap`` web service (Crossbar's WAMP Application Pages): an HTTP
request that matches a route calls a WAMP procedure (an Autobahn|Python
callee here) and gets its result rendered by a Jinja template, or as JSON.

The routes and templates follow Crossbar's ``webservices/wap`` example:
``/greeting/<name>`` and ``/product/<int:product_id>/<report>/<int:year>``
(variables and query parameters become keyword arguments), a POST route
whose body arrives as ``data`` with ``data_type``, and a page that extends
a layout. Errors: 404, 405, the callee's error (500), a result that is not
a dictionary (500).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest
from autobahn.wamp.exception import ApplicationError

from routerproc import RouterProcess, free_port, web_node_config
from wampclient import connect

pytestmark = pytest.mark.junction_only

TEMPLATES = {
    "layout.html": "<html><title>{% block title %}{% endblock %}</title><body>{% block body %}{% endblock %}</body></html>",
    "greeting.html": (
        "{% extends 'layout.html' %}{% block title %}Greeting{% endblock %}"
        "{% block body %}Hi {{ name }}! {{ message }}{% endblock %}"
    ),
    "report.html": "{{ product_id + 1 }}/{{ report }}/{{ year }}/{{ flasky }}",
    "form.html": "{{ data_type }} {{ size }}",
    "notes/README.txt": "not a template {% oops",
    "about.html": "about v1",
}


@pytest.fixture(scope="module")
def wap_router(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wap")
    tdir = workdir / "templates"
    for name, text in TEMPLATES.items():
        (tdir / name).parent.mkdir(parents=True, exist_ok=True)
        (tdir / name).write_text(text)
    port = free_port()
    paths = {
        "ws": {"type": "websocket", "serializers": ["json"]},
        "reports": {
            "type": "wap",
            "templates": str(tdir),
            "sandbox": True,
            "routes": [
                {"path": "/greeting/<name>", "method": "GET", "call": "com.example.greeting", "render": "greeting.html"},
                {
                    "path": "/product/<int:product_id>/<report>/<int:year>",
                    "method": "GET",
                    "call": "com.example.report",
                    "render": "report.html",
                },
                {"path": "/forms", "method": "POST", "call": "com.example.form", "render": "form.html"},
                {"path": "/broken", "call": "com.example.broken", "render": "report.html"},
                {"path": "/list", "call": "com.example.list", "render": "report.html"},
                {"path": "/about", "call": None, "render": "about.html"},
            ],
            "wamp": {"realm": "realm1", "authrole": "anonymous"},
        },
    }
    proc = RouterProcess(workdir, config=web_node_config(port, paths), wait_ports=[port])
    proc.ws_port = port
    proc.tdir = tdir
    # Its control socket, for `junction reload`.
    proc.extra_env["RUNTIME_DIRECTORY"] = str(workdir / "run")
    proc.start()
    yield proc
    alive = proc.alive()
    proc.kill()
    assert alive, proc.logs()


def _get(url: str, accept: str | None = None, data: bytes | None = None, ctype: str | None = None):
    req = urllib.request.Request(url, data=data)
    if accept:
        req.add_header("Accept", accept)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


async def test_pages_render_call_results(wap_router):
    callee = await connect(wap_router)
    try:

        def greeting(name, **kw):
            return {"name": name, "message": "<b>welcome</b>", **kw}

        await callee.register(greeting, "com.example.greeting")
        await callee.register(
            lambda product_id, report, year, flasky="none": {
                "product_id": product_id,
                "report": report,
                "year": year,
                "flasky": flasky,
            },
            "com.example.report",
        )
        await callee.register(lambda data, data_type: {"data_type": data_type, "size": len(data)}, "com.example.form")

        def broken():
            raise ApplicationError("com.example.error.broken", "it broke")

        await callee.register(broken, "com.example.broken")
        await callee.register(lambda: [1, 2], "com.example.list")
        base = f"http://127.0.0.1:{wap_router.ws_port}/reports"
        loop = asyncio.get_running_loop()
        get = lambda *a, **k: loop.run_in_executor(None, lambda: _get(*a, **k))  # noqa: E731

        status, headers, body = await get(f"{base}/greeting/J%C3%BCrgen")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        # Escaped as Jinja2 escapes HTML (markupsafe's characters).
        assert body == "<html><title>Greeting</title><body>Hi Jürgen! &lt;b&gt;welcome&lt;/b&gt;</body></html>"
        # Variables are typed; a query parameter is one more keyword argument.
        status, _, body = await get(f"{base}/product/41/sales/2026?flasky=yes&flasky=no")
        assert (status, body) == (200, "42/sales/2026/yes")
        status, _, _ = await get(f"{base}/product/x41/sales/2026")
        assert status == 404
        # JSON for a client that accepts only JSON.
        status, headers, body = await get(f"{base}/greeting/ann", accept="application/json")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert json.loads(body) == {"name": "ann", "message": "<b>welcome</b>"}
        # POST: the body as `data`, its type as `data_type`.
        status, _, body = await get(f"{base}/forms", data=b"a=1&b=2", ctype="application/x-www-form-urlencoded")
        assert (status, body) == (200, "application/x-www-form-urlencoded 7")
        status, headers, _ = await get(f"{base}/greeting/ann", data=b"x")
        assert status == 405 and headers["Allow"] == "GET"
        status, _, body = await get(f"{base}/nothing/here")
        assert status == 404 and "no page at" in body
        status, _, body = await get(f"{base}/broken")
        assert status == 500 and "com.example.error.broken: it broke" in body
        status, _, body = await get(f"{base}/broken", accept="application/json")
        assert status == 500 and json.loads(body) == {"error": "com.example.error.broken: it broke"}
        status, _, body = await get(f"{base}/list")
        assert status == 500 and "not a dictionary" in body
        assert wap_router.alive()
    finally:
        await callee.close()


async def test_a_reload_reads_the_templates_again(wap_router):
    url = f"http://127.0.0.1:{wap_router.ws_port}/reports/about"
    loop = asyncio.get_running_loop()
    status, _, body = await loop.run_in_executor(None, _get, url)
    assert (status, body) == (200, "about v1")
    (wap_router.tdir / "about.html").write_text("about {{ 'v' ~ (1 + 1) }}")
    binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
    socket_path = wap_router.workdir / "run" / "junction.sock"
    out = await loop.run_in_executor(
        None,
        lambda: subprocess.run(
            [binary, "reload", "--socket", str(socket_path)], capture_output=True, text=True, timeout=60
        ),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    status, _, body = await loop.run_in_executor(None, _get, url)
    assert (status, body) == (200, "about v2")
