"""Junction's container host: runs the Python components of one container
worker with Autobahn|Python, as Crossbar's container process does.

Reads one JSON line on stdin: {"components": [{"id", "classname", "realm",
"extra", "transport"}]} (the transport as Autobahn's Component takes it).
Imports every class (from the container's pythonpath), then runs them all
with Autobahn's Component API: Twisted when a class derives from
autobahn.twisted's ApplicationSession (Crossbar's own components), asyncio
otherwise. Each component reconnects when its connection is lost. An import
error ends the process with status 2 and the error on stderr.
"""

import importlib
import json
import sys


def load(classname):
    module, _, name = classname.rpartition(".")
    if not module:
        raise ImportError(f"{classname!r} is not a qualified class name")
    return getattr(importlib.import_module(module), name)


def main():
    spec = json.loads(sys.stdin.readline())
    try:
        classes = [load(c["classname"]) for c in spec["components"]]
    except Exception as e:  # noqa: BLE001 - any import failure is reported
        print(f"cannot load a component class: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)
    twisted = any(
        b.__module__.startswith("autobahn.twisted") for cls in classes for b in cls.__mro__
    )
    if twisted:
        from autobahn.twisted.component import Component, run
    else:
        from autobahn.asyncio.component import Component, run
    components = []
    for c, cls in zip(spec["components"], classes):
        components.append(
            Component(
                transports=[c["transport"]],
                realm=c["realm"],
                extra=c.get("extra"),
                session_factory=cls,
            )
        )
        print(f"component {c['id']}: {c['classname']} on realm {c['realm']}", flush=True)
    run(components, log_level="info")


if __name__ == "__main__":
    main()
