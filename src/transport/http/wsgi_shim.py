# Junction's WSGI host: serves one WSGI application on a Unix socket, for
# Junction's `wsgi` web path (which forwards requests to it as a reverse
# proxy). Standard library only (wsgiref, socketserver).
#
# argv: module object socket_path
# stdout: one line, "READY" once listening, or "ERROR <what>" when the
#   application cannot be loaded (exit status 3).
# stdin: held open by Junction; its end (Junction gone) ends this process.
import importlib
import os
import socketserver
import sys
import threading
from urllib.parse import unquote
from wsgiref.simple_server import WSGIRequestHandler

HOP = {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    app = None

    def get_app(self):
        return self.app


class Handler(WSGIRequestHandler):
    def address_string(self):
        return self._remote()

    def log_message(self, *args):
        pass

    def _remote(self):
        fwd = self.headers.get("X-Forwarded-For", "") if self.headers else ""
        return fwd.split(",")[-1].strip() if fwd else "127.0.0.1"

    def get_environ(self):
        env = {}
        env["SERVER_SOFTWARE"] = self.server_version
        env["SERVER_PROTOCOL"] = self.request_version
        env["GATEWAY_INTERFACE"] = "CGI/1.1"
        env["REQUEST_METHOD"] = self.command
        path, _, query = self.path.partition("?")
        path = unquote(path, "iso-8859-1")
        script = unquote(self.headers.get("X-Junction-Script-Name", ""), "iso-8859-1")
        script = script.rstrip("/")
        if script and (path == script or path.startswith(script + "/")):
            path = path[len(script):]
        env["SCRIPT_NAME"] = script
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = query
        env["REMOTE_ADDR"] = env["REMOTE_HOST"] = self._remote()
        host = self.headers.get("Host", "localhost")
        name, port = host, self.headers.get("X-Forwarded-Port", "80")
        if host.rfind(":") > host.rfind("]"):
            name, port = host[: host.rfind(":")], host[host.rfind(":") + 1:]
        env["SERVER_NAME"] = name
        env["SERVER_PORT"] = port
        if self.headers.get("X-Forwarded-Proto", "http") == "https":
            env["HTTPS"] = "on"
        ctype = self.headers.get("Content-Type")
        if ctype:
            env["CONTENT_TYPE"] = ctype
        length = self.headers.get("Content-Length")
        if length:
            env["CONTENT_LENGTH"] = length
        for k, v in self.headers.items():
            lower = k.lower()
            if lower in ("content-type", "content-length", "x-junction-script-name") or lower in HOP:
                continue
            key = "HTTP_" + k.replace("-", "_").upper()
            env[key] = env[key] + "," + v if key in env else v
        return env


def main():
    module, obj, path = sys.argv[1:4]
    try:
        target = importlib.import_module(module)
        for part in obj.split("."):
            target = getattr(target, part)
    except BaseException as e:  # the import runs the application's code
        print("ERROR %s: %s" % (type(e).__name__, e), flush=True)
        sys.exit(3)

    def watch():
        try:
            sys.stdin.buffer.read()
        finally:
            os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = Server(path, Handler)
    os.chmod(path, 0o600)
    server.app = target
    print("READY", flush=True)
    server.serve_forever()


main()
