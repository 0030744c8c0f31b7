"""The ``archive`` web service with the router binary: a ZIP archive missing
from the node directory is downloaded at start from an origin (Python's
``http.server``, started here), verified against ``hashes``, kept, and its
files served (``requests`` and ``curl``); a wrong digest or a missing
archive makes ``junction check`` and ``junction start`` fail with one line
naming the archive, and leaves no file behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import types
import zipfile
from pathlib import Path

import pytest
import requests

from routerproc import RouterProcess, _port_open, free_port

pytestmark = pytest.mark.junction_only

FILES = {
    "ui-2.0/index.html": b"<h1>ui</h1>",
    "ui-2.0/autobahn.min.js": b"var autobahn = {};",
    "ui-2.0/css/site.css": b"body { margin: 0 }",
    "ui-2.0/fonts/a.woff2": b"wOF2....",
    "README.md": b"outside the prefix",
}


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in FILES.items():
            z.writestr(name, data)
    return buf.getvalue()


ZIP = make_zip()
DIGEST = hashlib.sha256(ZIP).hexdigest()


def archive_config(port: int, origin: str, hashes: list[str], archive: str = "dl/ui.zip") -> dict:
    return {
        "version": 2,
        "workers": [
            {
                "type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": []}]}],
                "transports": [
                    {
                        "type": "web",
                        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                        "paths": {
                            "/": {"type": "json", "value": {"root": True}},
                            "ui": {
                                "type": "archive",
                                "archive": archive,
                                "origin": origin,
                                "download": True,
                                "cache": True,
                                "hashes": hashes,
                                "object_prefix": "ui-2.0",
                                "default_object": "index.html",
                                "mime_types": {".min.js": "application/x-autobahn"},
                                "options": {"default_file": "index.html"},
                            },
                        },
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """Python's http.server on a folder holding the archive."""
    served = tmp_path_factory.mktemp("origin")
    (served / "ui-2.0.zip").write_bytes(ZIP)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=served,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _port_open(port):
        assert time.monotonic() < deadline, "http.server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def web(tmp_path_factory, origin):
    workdir = tmp_path_factory.mktemp("archive")
    (workdir / "dl").mkdir()
    port = free_port()
    config = archive_config(port, f"{origin}/ui-2.0.zip", [DIGEST])
    proc = RouterProcess(workdir, config=config, wait_ports=[port]).start()
    yield types.SimpleNamespace(base=f"http://127.0.0.1:{port}", workdir=workdir)
    alive = proc.alive()
    proc.kill()
    assert alive, f"router died during the archive tests:\n{proc.logs()}"


def test_the_archive_was_downloaded_and_kept(web):
    assert (web.workdir / "dl" / "ui.zip").read_bytes() == ZIP
    assert sorted(os.listdir(web.workdir / "dl")) == ["ui.zip"]


def test_files_defaults_and_errors(web):
    s = requests.Session()
    r = s.get(f"{web.base}/ui/autobahn.min.js")
    assert (r.status_code, r.content) == (200, b"var autobahn = {};")
    assert r.headers["Content-Type"] == "application/x-autobahn"
    r = s.get(f"{web.base}/ui/css/site.css")
    assert (r.status_code, r.headers["Content-Type"]) == (200, "text/css")
    assert s.get(f"{web.base}/ui/fonts/a.woff2").headers["Content-Type"] == "font/woff2"
    r = s.get(f"{web.base}/ui", allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (301, "/ui/")
    assert s.get(f"{web.base}/ui/").content == b"<h1>ui</h1>"
    assert s.get(f"{web.base}/ui/css", allow_redirects=False).headers["Location"] == "/ui/css/"
    # options.default_file: an unknown path gets it (a single-page app's routes).
    assert s.get(f"{web.base}/ui/some/route").content == b"<h1>ui</h1>"
    assert s.get(f"{web.base}/ui/README.md").content == b"<h1>ui</h1>", "outside the prefix"
    etag = s.get(f"{web.base}/ui/css/site.css").headers["ETag"]
    r = s.get(f"{web.base}/ui/css/site.css", headers={"If-None-Match": etag})
    assert r.status_code == 304
    r = s.get(f"{web.base}/ui/css/site.css", headers={"Range": "bytes=0-3"})
    assert (r.status_code, r.content) == (206, b"body")
    assert s.post(f"{web.base}/ui/index.html", data=b"x").status_code == 405
    assert s.get(f"{web.base}/").json() == {"root": True}


def test_curl(web):
    binary = shutil.which("curl")
    assert binary, "curl is needed (.ci/run installs it)"
    r = subprocess.run(
        [binary, "-sS", "--max-time", "10", "-i", f"{web.base}/ui/index.html"],
        capture_output=True,
        check=False,
    )
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    assert body == b"<h1>ui</h1>"
    r = subprocess.run(
        [binary, "-sS", "--max-time", "10", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}",
         f"{web.base}/ui/%2e%2e/README.md"],
        capture_output=True,
        check=False,
    )
    assert r.stdout == b"400", "traversal is refused, not answered with the default file"


def junction(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    binary = os.environ.get("JUNCTION_BIN", "target/release/junction")
    env = dict(os.environ, RUNTIME_DIRECTORY=str(workdir / "run"))
    return subprocess.run(
        [binary, *args, "--config", str(workdir / "config.json")],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=60,
        check=False,
    )


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.json").write_text(json.dumps(config))


def test_a_wrong_digest_refuses_check_and_start_and_keeps_nothing(tmp_path, origin):
    (tmp_path / "dl").mkdir()
    write_config(tmp_path, archive_config(free_port(), f"{origin}/ui-2.0.zip", ["0" * 64]))
    # `check` does not download: a missing archive that would be is fine.
    r = junction(tmp_path, "check")
    assert r.returncode == 0, r.stderr
    r = junction(tmp_path, "start")
    assert r.returncode != 0
    assert "ui.zip" in r.stderr and DIGEST in r.stderr and "matches none of `hashes`" in r.stderr, r.stderr
    assert os.listdir(tmp_path / "dl") == [], "no archive, no partial download"
    # An archive already there with the wrong digest: `check` refuses it too.
    (tmp_path / "dl" / "ui.zip").write_bytes(ZIP)
    r = junction(tmp_path, "check")
    assert r.returncode != 0
    assert "matches none of `hashes`" in r.stderr, r.stderr
    assert "check the config alone" in r.stderr, r.stderr


def test_a_missing_archive_without_download_is_refused(tmp_path, origin):
    config = archive_config(free_port(), f"{origin}/ui-2.0.zip", [])
    config["workers"][0]["transports"][0]["paths"]["ui"]["download"] = False
    write_config(tmp_path, config)
    r = junction(tmp_path, "check")
    assert r.returncode != 0
    assert "dl/ui.zip: no such file" in r.stderr, r.stderr
    assert junction(tmp_path, "check", "--config-only").returncode == 0
    # A download that fails (404 at the origin).
    config = archive_config(free_port(), f"{origin}/gone.zip", [])
    write_config(tmp_path, config)
    (tmp_path / "dl").mkdir()
    r = junction(tmp_path, "start")
    assert r.returncode != 0
    assert "HTTP status 404" in r.stderr, r.stderr
    assert os.listdir(tmp_path / "dl") == []
