// Autobahn|JS scenarios for Junction's interop suite, driven by
// tests/interop/test_rpc_js.py. One scenario per run; its outcome is printed
// as one JSON line on stdout (and nothing else goes to stdout).
//
//   node rpc.js '<json spec>'
//
// spec: {url, realm, scenario, caller_shard, callee_shards, procedure, ...}
// A session meant for shard S reconnects until WELCOME.Details.x_junction_shard
// says S (Crossbar, which has no shards, takes the first session).
"use strict";

const autobahn = require("autobahn");

const spec = JSON.parse(process.argv[2]);
const TIMEOUT_MS = spec.timeout_ms || 10000;

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

// One session (and its connection), placed on `shard` when it is not null.
function openOnce() {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({
      url: spec.url,
      realm: spec.realm || "realm1",
      max_retries: 0,
      retry_if_unreachable: false,
    });
    let opened = false;
    const state = { connection, closed: false, closeReason: null };
    connection.onopen = (session, details) => {
      opened = true;
      state.session = session;
      state.shard = details.x_junction_shard;
      resolve(state);
    };
    connection.onclose = (reason, details) => {
      state.closed = true;
      state.closeReason = reason;
      if (!opened) reject(new Error(`connection failed: ${reason}`));
      return true; // no reconnects
    };
    connection.open();
  });
}

async function open(shard) {
  for (let i = 0; i < 64; i++) {
    const s = await withTimeout(openOnce(), "join");
    if (shard === null || shard === undefined || s.shard === undefined || s.shard === shard) {
      return s;
    }
    s.connection.close();
  }
  throw new Error(`could not get a session on shard ${shard}`);
}

function errorText(e) {
  if (e && e.error) return e.error; // autobahn.Error
  return String((e && e.message) || e);
}

// Progressive call results: the callee (Python) streams; we collect.
async function progressive() {
  const caller = await open(spec.caller_shard);
  const progress = [];
  const result = await withTimeout(
    caller.session.call(spec.procedure, [spec.n], {}, { receive_progress: true }).then(
      (r) => r,
      (e) => {
        throw e;
      },
      (p) => progress.push(p),
    ),
    "call",
  );
  return { caller_shard: caller.shard, progress, result };
}

// Call canceling: the callee (Python) publishes on `started_topic` when
// invoked; we then cancel with `mode` and report how the call ended.
async function cancel() {
  const caller = await open(spec.caller_shard);
  let started;
  const invoked = new Promise((r) => (started = r));
  await caller.session.subscribe(spec.started_topic, () => started());
  const call = caller.session.call(spec.procedure, [], {}, {});
  const outcome = withTimeout(
    call.then(
      (r) => ({ outcome: "result", result: r }),
      (e) => ({ outcome: "error", error: errorText(e) }),
    ),
    "call outcome",
  );
  await withTimeout(invoked, "invocation");
  call.cancel({ mode: spec.mode });
  const out = await outcome;
  // Give a late ERROR from the router time to arrive (Autobahn|JS closes the
  // connection when an ERROR comes for a call it already gave up locally).
  await new Promise((r) => setTimeout(r, 300));
  out.caller_shard = caller.shard;
  out.closed_by_client = caller.closed;
  if (!caller.closed) caller.connection.close();
  return out;
}

// Shared registration: JS callees on `callee_shards` register with `invoke`;
// the caller calls `n` times and reports which callee answered each time.
async function shared() {
  const callees = [];
  for (const [i, shard] of spec.callee_shards.entries()) {
    const c = await open(shard);
    await withTimeout(
      c.session.register(spec.procedure, () => i, { invoke: spec.invoke }),
      "register",
    );
    callees.push(c);
  }
  const intruder = await open(null);
  let conflict = null;
  try {
    await withTimeout(
      intruder.session.register(spec.procedure, () => -1, { invoke: spec.other_invoke }),
      "conflicting register",
    );
    conflict = "registered";
  } catch (e) {
    conflict = errorText(e);
  }
  const caller = await open(spec.caller_shard);
  const sequence = [];
  for (let k = 0; k < spec.n; k++) {
    sequence.push(await withTimeout(caller.session.call(spec.procedure), "call"));
  }
  for (const c of [...callees, intruder, caller]) c.connection.close();
  return {
    caller_shard: caller.shard,
    callee_shards: callees.map((c) => c.shard),
    sequence,
    conflict,
  };
}

// Progressive call results from a JS callee (Autobahn|JS announces
// progressive_call_results but not call_canceling): the callee on
// `callee_shard` streams `n` progress values when the router offers
// `receive_progress`, then returns "done"; a JS caller on `caller_shard` calls
// it once. With `ready_topic`/`done_topic`, the callee then announces itself
// on `ready_topic` and stays registered until an event on `done_topic` (a
// Python caller calls it meanwhile).
async function callee_progressive() {
  const callee = await open(spec.callee_shard);
  const offered = [];
  await withTimeout(
    callee.session.register(spec.procedure, async (args, kwargs, details) => {
      const n = args[0];
      offered.push(typeof details.progress === "function");
      if (details.progress) {
        for (let i = 0; i < n; i++) {
          details.progress([i * 10]);
          await new Promise((r) => setImmediate(r));
        }
      }
      return "done";
    }),
    "register",
  );
  const caller = await open(spec.caller_shard);
  const progress = [];
  const result = await withTimeout(
    caller.session.call(spec.procedure, [spec.n], {}, { receive_progress: true }).then(
      (r) => r,
      (e) => {
        throw e;
      },
      (p) => progress.push(p),
    ),
    "call",
  );
  if (spec.ready_topic) {
    let finish;
    const done = new Promise((r) => (finish = r));
    await withTimeout(callee.session.subscribe(spec.done_topic, () => finish()), "subscribe");
    await withTimeout(
      callee.session.publish(spec.ready_topic, [], {}, { acknowledge: true }),
      "publish ready",
    );
    await withTimeout(done, "done event");
  }
  callee.connection.close();
  caller.connection.close();
  return {
    callee_shard: callee.shard,
    caller_shard: caller.shard,
    offered,
    progress,
    result,
  };
}

const scenarios = { progressive, cancel, shared, callee_progressive };

(async () => {
  if (typeof WebSocket === "undefined") {
    throw new Error("this Node.js has no WebSocket (Node >= 22, or --experimental-websocket)");
  }
  const run = scenarios[spec.scenario];
  if (!run) throw new Error(`unknown scenario ${spec.scenario}`);
  const out = await run();
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(0);
})().catch((e) => {
  process.stdout.write(JSON.stringify({ failed: errorText(e) }) + "\n");
  process.exit(1);
});
