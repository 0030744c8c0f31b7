"""A guest worker for test_workers.py (Autobahn|Python, asyncio).

Reads one JSON line from its standard input (the guest's ``options.stdin``
value: ``{"url": ..., "realm": ..., "name": ...}``), connects back to the
router and registers ``com.guest.<name>.echo``, which answers with what the
guest sees: its arguments, environment, working directory, PID and stdin
value. Prints one line on stdout and one on stderr once registered (the
test finds them in the router's log).
"""

import json
import os
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession


def main() -> None:
    cfg = json.loads(sys.stdin.readline())
    name = cfg["name"]

    class Guest(ApplicationSession):
        async def onJoin(self, details):
            def echo(*args):
                return {
                    "name": name,
                    "args": list(args),
                    "argv": sys.argv[1:],
                    "color": os.environ.get("GUEST_COLOR"),
                    "secret": os.environ.get("GUEST_SECRET"),
                    "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
                    "cwd": os.getcwd(),
                    "pid": os.getpid(),
                    "stdin": cfg,
                }

            await self.register(echo, f"com.guest.{name}.echo")
            print(f"guest {name} ready", flush=True)
            print(f"guest {name} says hello on stderr", file=sys.stderr, flush=True)

        def onDisconnect(self):
            # The router went away: end (the node restarts guests itself).
            os._exit(0)

    ApplicationRunner(cfg["url"], cfg["realm"]).run(Guest)


if __name__ == "__main__":
    main()
