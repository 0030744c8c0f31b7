"""Junction's container host: runs the Python components of one container
worker with Autobahn|Python, as Crossbar's container process does.

Reads one JSON line on stdin: {"components": [{"id", "classname",
"callbacks", "authenticator" or "bridge", "realm", "extra", "transport",
"authentication"?}], "shutdown": "shutdown-...", "start_timeout",
"ready_file"?}: the transport as Autobahn's Component takes it;
"callbacks" (a `function` component, the router's or a container's) maps
event names (join, leave, connect, disconnect) to functions, run on
Autobahn's own session; "bridge" is one of Crossbar's HTTP bridge classes,
run by this host's own code (Crossbar is never imported), with the `extra`
the node checked: {"kind": "forwarder", "subscriptions": [{"topic", "url",
"match"}], "method", "expectedcode" (or null), "debug"} for
crossbar.bridge.rest.MessageForwarder, {"kind": "callee", "procedure",
"baseurl"} for crossbar.bridge.rest.RESTCallee (see message_forwarder and
rest_callee; both join over their own transport, so the router's
authentication and roles apply); their HTTP requests (the standard
library's http.client, see http_request) run in a thread, off the loop;
"authentication": {"ticket": {"authid", "ticket"}} for the router's own
components, which log in with that ticket over the node's private socket
(it is never printed); "ready_file" (the router's components only) is
created once every component has joined (its onJoin, or a function
component's join callback, has finished) or ended, so that the node can start
accepting clients (it holds them back until then, as Crossbar starts a
router's components before its transports). The components start
one after another in config order, each once those before it have joined
or ended, as Crossbar starts a router's or a container's, or after
"start_timeout" seconds (see Startup). Imports every class and function (from the
pythonpath), then runs them all with Autobahn's Component API: Twisted when
a class derives from autobahn.twisted's ApplicationSession (Crossbar's own
components) or function components imported Twisted, asyncio otherwise
(so a container of bridge components alone runs on asyncio).
Each component reconnects when its
connection is lost; it has stopped when its session left for good (its
start() future is done), and failed when that future failed.

The node stops the host with SIGTERM (a reload that changes the container,
a stop, the node's shutdown): Autobahn's run() stops the components on it
(Twisted or asyncio alike), and the host then exits at once, whatever the
mode, with status 0.

Otherwise when the host exits follows the container's options.shutdown:
- shutdown-manual (the default): never by itself; once no component runs
  it waits until the node stops it;
- shutdown-on-last-component-stopped: when every component has stopped
  (status 0, or 1 when one failed);
- shutdown-on-any-component-stopped: when the first component stops
  (status 0, or 1 when it failed);
- shutdown-on-any-component-failed: when the first component fails
  (status 1); when every component stopped without failing, as manual.

A transport endpoint's "tls" comes with Crossbar's keys (hostname,
ca_certificates, certificate, key) and is turned into what Autobahn's
Component takes (tls_context): under Twisted the client options of
optionsForClientTLS (the server must name `hostname`; the CAs, or the
system's when none; the client certificate if any); under asyncio an
ssl.SSLContext, which Autobahn checks against the endpoint's host, so
`hostname` must then be the host (or one of the certificate's names that
the host is), or, without a client certificate and with one CA, Autobahn's
own {hostname, trust_root}. A bad file or a combination asyncio cannot
express ends the process with status 2 and the reason on stderr.

An import error (a component's, or Autobahn's) ends the process with
status 2 and the error on stderr.
"""

import functools
import importlib
import json
import os
import signal
import sys

MANUAL = "shutdown-manual"
ON_LAST = "shutdown-on-last-component-stopped"
ON_ANY_STOPPED = "shutdown-on-any-component-stopped"
ON_ANY_FAILED = "shutdown-on-any-component-failed"


def load(classname):
    module, _, name = classname.rpartition(".")
    if not module:
        raise ImportError(f"{classname!r} is not a qualified class name")
    return getattr(importlib.import_module(module), name)


def authenticator(spec):
    """A hidden router component's callbacks for a function authenticator:
    on join, call the factory ``create(config, None)`` (Crossbar passes its
    node controller; Junction has none) and register the function it
    returns, ``authenticate(realm, authid, details)``, as the reserved
    procedure the router calls for each login."""
    import txaio

    create = load(spec["create"])
    config = spec.get("config")
    procedure = spec["procedure"]

    def on_join(session, details):
        # Explicit steps: under asyncio a callback's future is not waited
        # for, so the result resolves only once the procedure is registered.
        finished = txaio.create_future()

        def failed(failure):
            txaio.reject(finished, failure)

        def made(fn):
            registered = session.register(fn, procedure)
            txaio.add_callbacks(registered, lambda _: txaio.resolve(finished, None), failed)

        txaio.add_callbacks(txaio.as_future(create, config, None), made, failed)
        return finished

    return {"join": on_join}


#: How long one HTTP request of a bridge component may take (as the
#: router's native bridge components), in seconds for each connect or read.
HTTP_TIMEOUT = 30
#: The largest answer a RESTCallee reads (as the native one).
HTTP_MAX_ANSWER = 16 << 20
#: Request headers the HTTP client writes itself (a caller's are dropped).
HTTP_MANAGED = ("host", "content-length", "connection", "transfer-encoding")


def http_request(method, url, body, headers):
    """One HTTP/1.1 request (blocking: run it in a thread), on its own
    connection (`Connection: close`), no redirect followed: returns
    (status, body bytes, [(name, value)]). `headers` is a list of (name,
    value) pairs, sent as given (a name may repeat). https uses Python's
    default SSL context (the system's CAs; SSL_CERT_FILE names others).
    Raises OSError or ValueError when the request fails.

    http.client rather than urllib.request: urllib adds a form Content-Type
    to every body and merges repeated names, and it follows redirects,
    which the native bridge does not (Crossbar's treq does, for GET)."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported or malformed URL {url!r} (only http:// and https://)")
    if parts.scheme == "https":
        import ssl

        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=HTTP_TIMEOUT, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            if name.lower() not in HTTP_MANAGED:
                conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        conn.endheaders(body)
        answer = conn.getresponse()
        content = answer.read(HTTP_MAX_ANSWER + 1)
        if len(content) > HTTP_MAX_ANSWER:
            raise ValueError(f"the answer is larger than {HTTP_MAX_ANSWER} bytes")
        return answer.status, content, answer.getheaders()
    finally:
        conn.close()


def in_thread(fn, *args):
    """`fn(*args)` run in a thread of the framework's pool: a future (a
    Deferred under Twisted) of its result, so the loop never blocks."""
    import txaio

    if txaio.using_twisted:
        from twisted.internet.threads import deferToThread

        return deferToThread(fn, *args)
    import asyncio

    return asyncio.get_running_loop().run_in_executor(None, fn, *args)


def answered(cid, what, futures):
    """A future that resolves once every one of `futures` (subscribe or
    register) has answered; a refusal is logged, as the native bridge
    does, and ends nothing."""
    import txaio

    done = txaio.create_future()
    left = [len(futures)]

    def one(_):
        left[0] -= 1
        if left[0] == 0:
            txaio.resolve(done, None)

    for name, fut in futures:

        def failed(failure, name=name):
            why = txaio.failure_message(failure)
            print(f"component {cid}: {what} could not use {name}: {why}", flush=True)
            one(None)

        txaio.add_callbacks(fut, one, failed)
    if not futures:
        txaio.resolve(done, None)
    return done


def message_forwarder(cid, spec):
    """The join callback of Crossbar's MessageForwarder: every event on a
    subscription becomes `method` to its `url` with `Content-Type:
    application/json` and the body {"args": [...], "kwargs": {...}}
    (compact JSON, UTF-8); a failed request or a status other than
    `expectedcode` is logged and ends nothing."""
    method, expected, debug = spec["method"], spec.get("expectedcode"), spec.get("debug")
    said = f"component {cid}: MessageForwarder:"
    json_type = [("Content-Type", "application/json")]

    def send(url, body):
        try:
            status, content, _ = http_request(method, url, body, json_type)
        except Exception as e:  # noqa: BLE001 - any failure is logged, never raised
            print(f"{said} {method} {url} failed: {type(e).__name__}: {e}", flush=True)
            return
        if expected and status != expected:
            print(f"{said} {method} {url} answered {status}, not the expected {expected}", flush=True)
        if debug:
            print(f"{said} {url} answered: {content.decode('utf-8', 'replace')}", flush=True)

    def handler(url):
        def on_event(*args, **kwargs):
            body = {"args": list(args), "kwargs": kwargs}
            text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
            return in_thread(send, url, text.encode("utf-8"))

        return on_event

    def on_join(session, details):
        from autobahn.wamp.types import SubscribeOptions

        futures = []
        for s in spec["subscriptions"]:
            options = SubscribeOptions(match=s["match"])
            subscribed = session.subscribe(handler(s["url"]), s["topic"], options=options)
            futures.append((s["topic"], subscribed))
        return answered(cid, "MessageForwarder", futures)

    return {"join": on_join}


#: A RESTCallee call's arguments, by name or in this order.
CALL_ARGS = ("method", "url", "body", "headers", "params")


def http_call(base, args, kwargs):
    """A RESTCallee call's (method, url, body bytes, [(name, value)]);
    raises ApplicationError wamp.error.invalid_argument for bad ones.
    `headers` values are strings or lists of strings (Crossbar hands them
    to Twisted's Headers, which takes lists); `params` go to the query."""
    import urllib.parse

    from autobahn.wamp.exception import ApplicationError

    got = {n: v for n, v in zip(CALL_ARGS, args)}
    got.update({n: kwargs[n] for n in CALL_ARGS if n in kwargs})
    got = {n: v for n, v in got.items() if v is not None}

    def bad(why):
        return ApplicationError(ApplicationError.INVALID_ARGUMENT, why)

    for name in ("method", "url", "body"):
        if not isinstance(got.get(name, ""), str):
            raise bad(f"'{name}' must be a string")
    for name in ("headers", "params"):
        if not isinstance(got.get(name, {}), dict):
            raise bad(f"'{name}' must be a dictionary")
    if "method" not in got:
        raise bad("'method' is required")
    headers = []
    for name, value in got.get("headers", {}).items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise bad("'headers' values must be strings or lists of strings")
        headers += [(name, v) for v in values]
    params = got.get("params", {})
    if not all(isinstance(v, str) for v in params.values()):
        raise bad("'params' values must be strings")
    url = urllib.parse.urljoin(base, got.get("url", ""))
    if params:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
    return got["method"], url, got.get("body", "").encode("utf-8"), headers


def rest_callee(cid, spec):
    """The join callback of Crossbar's RESTCallee: registers `procedure`;
    a call makes the request (see http_call) and returns one positional
    {"code": status, "content": text, "headers": {name: [values]}}; a
    failed request is wamp.error.runtime_error with the reason."""
    base, procedure = spec["baseurl"], spec["procedure"]

    def request(method, url, body, headers):
        from autobahn.wamp.exception import ApplicationError

        try:
            status, content, raw = http_request(method, url, body, headers)
        except Exception as e:  # noqa: BLE001 - any failure answers the call
            raise ApplicationError(
                "wamp.error.runtime_error", f"{method} {url} failed: {type(e).__name__}: {e}"
            ) from e
        grouped = {}
        for name, value in raw:
            key = next((k for k in grouped if k.lower() == name.lower()), name)
            grouped.setdefault(key, []).append(value)
        return {"code": status, "content": content.decode("utf-8", "replace"), "headers": grouped}

    def on_call(*args, **kwargs):
        return in_thread(request, *http_call(base, args, kwargs))

    def on_join(session, details):
        registered = session.register(on_call, procedure)
        return answered(cid, "RESTCallee", [(procedure, registered)])

    return {"join": on_join}


#: The Crossbar class each bridge kind stands for (for the log).
BRIDGE_CLASSES = {"forwarder": "MessageForwarder", "callee": "RESTCallee"}


def bridge(cid, spec):
    """The join callback of an HTTP bridge component (`spec["kind"]`
    forwarder or callee)."""
    return (message_forwarder if spec["kind"] == "forwarder" else rest_callee)(cid, spec)


def leave_now(status, why):
    """Ends the host at once (the node sees the exit status)."""
    print(f"{why}: stopping the container", flush=True)
    sys.stderr.flush()
    os._exit(status)


class Startup:
    """When each component starts, and when all have joined.

    Each starts once every one before it in the config has joined (its
    onJoin, or a function component's join callback, has finished) or
    ended, as Crossbar starts a router's or a container's components one
    after another, waiting for each to be ready: an authorizer registered
    by one component is there when the next one registers. Unlike Crossbar,
    one that has not joined after `timeout` seconds (a loop inside its
    onJoin, say) no longer holds back those after it; with a timeout of 0
    all start at once. Once every component has joined or ended (or timed
    out), `ready_file` (if any) is created."""

    def __init__(self, ids, ready_file, timeout):
        self.ids = list(ids)
        self.pending = set(self.ids)
        self.waiting = {}
        self.ready_file = ready_file
        self.timeout = timeout

    def _clear(self, cid):
        """Whether every component before `cid` has joined or ended."""
        before = self.ids[: self.ids.index(cid)]
        return not self.timeout or not any(b in self.pending for b in before)

    def start(self, cid, begin):
        """Calls `begin()` now, or once `cid` may start."""
        if self._clear(cid):
            self._begin(cid, begin)
        else:
            self.waiting[cid] = begin

    def _begin(self, cid, begin):
        import txaio

        if self.timeout:
            txaio.call_later(self.timeout, self._late, cid)
        begin()

    def _late(self, cid):
        if cid in self.pending:
            print(
                f"component {cid} has not joined within {self.timeout} s "
                "(junction.components_timeout): the next ones start",
                flush=True,
            )
            self.settled(cid, joined=False)

    def settled(self, cid, joined):
        """`cid` has joined (`joined`) or ended; idempotent."""
        if cid not in self.pending:
            return
        self.pending.discard(cid)
        if joined:
            print(f"component {cid} ready", flush=True)
        for next_id in [w for w in self.ids if w in self.waiting and self._clear(w)]:
            self._begin(next_id, self.waiting.pop(next_id))
        if not self.pending and self.ready_file:
            try:
                with open(self.ready_file, "w"):
                    pass
            except OSError as e:
                print(f"cannot create {self.ready_file}: {e}", file=sys.stderr, flush=True)


def after(fn, then):
    """`fn` whose result (a value, or a future: txaio's of the framework)
    is followed by `then()`, success or failure; the result stays
    `fn`'s."""
    import txaio

    def run(*args, **kwargs):
        result = txaio.as_future(fn, *args, **kwargs)

        def ok(value):
            then()
            return value

        def err(failure):
            then()
            return failure

        txaio.add_callbacks(result, ok, err)
        return result

    return run


def ready_on_join(cls, on_joined):
    """`cls` (an ApplicationSession) calling `on_joined()` once its onJoin
    has finished (Autobahn's own "ready" event does not wait for an
    asyncio onJoin)."""

    class Joined(cls):
        def onJoin(self, details):
            return after(super().onJoin, on_joined)(details)

    return Joined


def watched(base, cid, mode, failures, startup):
    """`base` (Autobahn's Component), started when `startup` says, with
    its end reported to the mode and to `startup`."""
    import txaio

    class Hosted(base):
        def start(self, *args, **kwargs):
            # The component's life: resolves when the one started resolves.
            done = txaio.create_future()

            def begin():
                started = base.start(self, *args, **kwargs)
                txaio.add_callbacks(
                    started,
                    lambda value: txaio.resolve(done, value),
                    lambda failure: txaio.reject(done, failure),
                )

            startup.start(cid, begin)

            def ended(failure):
                startup.settled(cid, joined=False)
                if failure is not None:
                    failures.append(cid)
                    print(f"component {cid} failed: {failure}", flush=True)
                else:
                    print(f"component {cid} stopped", flush=True)
                if mode == ON_ANY_STOPPED:
                    leave_now(1 if failure is not None else 0, f"{mode}: component {cid} ended")
                if mode == ON_ANY_FAILED and failure is not None:
                    leave_now(1, f"{mode}: component {cid} failed")

            if hasattr(done, "addCallbacks"):  # a Twisted Deferred

                def ok(result):
                    ended(None)
                    return result

                def err(failure):
                    ended(failure.value)
                    return failure

                done.addCallbacks(ok, err)
            else:  # an asyncio future

                def finished(fut):
                    if fut.cancelled():
                        ended(None)
                    else:
                        ended(fut.exception())

                done.add_done_callback(finished)
            return done

    return Hosted


#: The signals that mean "stop" (the node sends SIGTERM; SIGINT by hand).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def note_stop_signals(twisted, noted):
    """Has the framework's own stop-signal handlers (which stop the
    components, and with them run()) also append the signal to `noted`, so
    that the host knows run() ended because it was asked to stop."""

    def noting(sig, handler):
        def handle(*args):
            noted.append(sig)
            return handler(*args)

        return handle

    if twisted:
        from twisted.internet import reactor

        # Read when run() installs its handlers: SIGINT and SIGTERM stop it.
        reactor.sigInt = noting(signal.SIGINT, reactor.sigInt)
        reactor.sigTerm = noting(signal.SIGTERM, reactor.sigTerm)
        return
    import asyncio

    class Loop(asyncio.SelectorEventLoop):
        def add_signal_handler(self, sig, callback, *args):
            if sig in STOP_SIGNALS:
                callback = noting(sig, callback)
            return super().add_signal_handler(sig, callback, *args)

    # Autobahn's run() takes the loop set for this thread.
    asyncio.set_event_loop(Loop())


def with_ticket(cls, login):
    """`cls` joining with ticket authentication as login["authid"] (unless
    its own code asks for other methods). User classes are plain
    ApplicationSessions, which take no Component authenticator."""
    authid, ticket = login["authid"], login["ticket"]

    class Login(cls):
        def join(self, realm, *args, **kwargs):
            if not args and not kwargs.get("authmethods"):
                kwargs["authmethods"] = ["ticket"]
                kwargs.setdefault("authid", authid)
            return super().join(realm, *args, **kwargs)

        def onChallenge(self, challenge):
            if challenge.method == "ticket":
                return ticket
            return super().onChallenge(challenge)

    Login.__name__ = cls.__name__
    Login.__qualname__ = cls.__qualname__
    Login.__module__ = cls.__module__
    return Login


def tls_context(tls, host, twisted):
    """Autobahn's "tls" value for Crossbar's TLS keys (see the header)."""
    hostname = tls.get("hostname") or host
    cas = tls.get("ca_certificates") or []
    cert, key = tls.get("certificate"), tls.get("key")
    if twisted:
        try:
            from twisted.internet import ssl as tssl

            tssl.optionsForClientTLS  # noqa: B018 - absent without pyOpenSSL
        except (ImportError, AttributeError) as e:
            raise RuntimeError(
                "TLS in a Twisted component needs pyOpenSSL and service_identity "
                f"installed for {sys.executable} ({e})"
            ) from e

        def pem(path):
            with open(path) as f:
                return f.read()

        trust = None
        if cas:
            trust = tssl.trustRootFromCertificates([tssl.Certificate.loadPEM(pem(p)) for p in cas])
        client = None
        if cert:
            client = tssl.PrivateCertificate.loadPEM(pem(cert) + pem(key or cert))
        return tssl.optionsForClientTLS(hostname, trustRoot=trust, clientCertificate=client)
    if not cert and len(cas) <= 1 and hostname != host:
        return {"hostname": hostname, **({"trust_root": cas[0]} if cas else {})}
    if hostname != host:
        raise ValueError(
            f"TLS hostname {hostname!r} differs from the endpoint's host {host!r}: "
            "an asyncio component checks the certificate against the host "
            "(use the name as host, or a Twisted component)"
        )
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cas:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for p in cas:
            ctx.load_verify_locations(cafile=p)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def with_tls(transport, twisted):
    """`transport` with its endpoint's "tls" made Autobahn's."""
    endpoint = transport.get("endpoint") or {}
    tls = endpoint.get("tls")
    if not isinstance(tls, dict):
        return transport
    endpoint = dict(endpoint, tls=tls_context(tls, endpoint.get("host", ""), twisted))
    return dict(transport, endpoint=endpoint)


def load_all(spec):
    """Each component's entry: a class, or a function component's callbacks
    (event -> function)."""
    return [
        load(c["classname"])
        if "classname" in c
        else authenticator(c["authenticator"])
        if "authenticator" in c
        else bridge(c["id"], c["bridge"])
        if "bridge" in c
        else {event: load(name) for event, name in c["callbacks"].items()}
        for c in spec["components"]
    ]


def main():
    spec = json.loads(sys.stdin.readline())
    mode = spec.get("shutdown", MANUAL)
    chose_twisted = False
    try:
        try:
            entries = load_all(spec)
        except RuntimeError as e:
            # A module that logs through txaio at import time (`log =
            # make_logger()`, as Crossbar's examples do) needs a framework
            # chosen first: Crossbar imports it under Twisted, so Twisted
            # it is where installed (else asyncio), and the imports run again.
            if "txaio" not in str(e):
                raise
            import txaio

            try:
                import twisted.internet  # noqa: F401 - only whether it is there

                txaio.use_twisted()
                chose_twisted = True
            except ImportError:
                txaio.use_asyncio()
            entries = load_all(spec)
    except Exception as e:  # noqa: BLE001 - any import failure is reported
        print(f"cannot load a component class: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)
    classes = [e for e in entries if isinstance(e, type)]
    functions = len(classes) < len(entries)
    twisted = any(
        b.__module__.startswith("autobahn.twisted") for cls in classes for b in cls.__mro__
    ) or (functions and "twisted.internet" in sys.modules) or chose_twisted
    try:
        if twisted:
            from autobahn.twisted.component import Component, run
        else:
            from autobahn.asyncio.component import Component, run
    except ImportError as e:
        print(
            f"Autobahn|Python{' with Twisted' if twisted else ''} is not installed for "
            f"{sys.executable}: {e}",
            file=sys.stderr,
        )
        sys.exit(2)
    try:
        transports = [with_tls(c["transport"], twisted) for c in spec["components"]]
    except Exception as e:  # noqa: BLE001 - a bad file or setting is reported
        print(f"cannot set up TLS for a component: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)
    components = []
    failures = []
    startup = Startup(
        [c["id"] for c in spec["components"]],
        spec.get("ready_file"),
        spec.get("start_timeout", 10),
    )
    for c, entry, transport in zip(spec["components"], entries, transports):
        hosted = watched(Component, c["id"], mode, failures, startup)
        ticket = c.get("authentication", {}).get("ticket")
        common = dict(transports=[transport], realm=c["realm"], extra=c.get("extra"))
        joined = functools.partial(startup.settled, c["id"], True)
        if isinstance(entry, type):
            session = with_ticket(entry, ticket) if ticket else entry
            component = hosted(session_factory=ready_on_join(session, joined), **common)
            what = c["classname"]
        else:
            # Autobahn's own session (it takes the ticket as an
            # authenticator), with the callbacks on its events.
            login = {"authentication": {"ticket": ticket}} if ticket else {}
            component = hosted(**common, **login)
            for event, fn in entry.items():
                component.on(event, after(fn, joined) if event == "join" else fn)
            if "join" not in entry:
                component.on("join", lambda *_, joined=joined: joined())
            what = (
                f"function authenticator {c['authenticator']['create']}"
                if "authenticator" in c
                else f"HTTP bridge {BRIDGE_CLASSES[c['bridge']['kind']]} (run by the host)"
                if "bridge" in c
                else "function " + ", ".join(f"{k}={v}" for k, v in sorted(c["callbacks"].items()))
            )
        components.append(component)
        print(f"component {c['id']}: {what} on realm {c['realm']}", flush=True)
    stopped_by = []
    note_stop_signals(twisted, stopped_by)
    try:
        if components:
            run(components, log_level="info")
    except SystemExit:  # Twisted's react() exits when every component has stopped
        pass
    if stopped_by:
        name = signal.Signals(stopped_by[0]).name
        print(f"stopped by {name}: the components have left", flush=True)
        sys.exit(0)
    if mode in (MANUAL, ON_ANY_FAILED):
        print(f"{mode}: no component runs; waiting to be stopped", flush=True)
        while True:
            signal.pause()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
