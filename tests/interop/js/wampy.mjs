// wampy.js scenarios for Junction's interop suite, driven by
// tests/interop/test_wampy_js.py. One scenario per run; its outcome is printed
// as one JSON line on stdout (and nothing else goes to stdout).
//
//   node wampy.mjs '<json spec>'
//
// spec: {url, realm, serializer ("json" | "msgpack" | "cbor"), scenario, shard, ...}
// A session meant for shard S reconnects until WELCOME.Details.x_junction_shard
// says S (Crossbar, which has no shards, takes the first session).
//
// wampy.js announces neither progressive_call_results nor call_canceling for
// its callee role, but reads INVOCATION.Details.receive_progress to decide
// whether to stream (its README says so); that is what `callee_progressive`
// checks.
//
// Only `subscriber` subscribes: wampy.js sends SUBSCRIBE options with
// `undefined` values (`match`, `get_retained`), which its MessagePack
// encoder writes as extension type 0 and its CBOR encoder as `undefined`.

import { Wampy } from "wampy";
import { JsonSerializer } from "wampy/JsonSerializer.js";
import { MsgpackSerializer } from "wampy/MsgpackSerializer.js";
import { CborSerializer } from "wampy/CborSerializer.js";
import WebSocket from "ws";

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

function serializer() {
  switch (spec.serializer || "json") {
    case "json":
      return new JsonSerializer();
    case "msgpack":
      return new MsgpackSerializer();
    case "cbor":
      return new CborSerializer();
    default:
      throw new Error(`unknown serializer ${spec.serializer}`);
  }
}

// One joined wampy session, on `shard` when it is not null.
async function open(shard) {
  for (let i = 0; i < 64; i++) {
    const wampy = new Wampy(spec.url, {
      realm: spec.realm || "realm1",
      ws: WebSocket,
      serializer: serializer(),
      autoReconnect: false,
    });
    const welcome = await withTimeout(wampy.connect(), "join");
    const got = welcome.x_junction_shard;
    if (shard === null || shard === undefined || got === undefined || got === shard) {
      return { wampy, shard: got };
    }
    await wampy.disconnect();
  }
  throw new Error(`could not get a session on shard ${shard}`);
}

function errorOf(e) {
  return {
    // wampy's WampError subclasses carry the URI in `errorUri`.
    error: (e && e.errorUri) || String((e && e.message) || e),
    args: (e && e.argsList) || [],
    kwargs: (e && e.argsDict) || {},
  };
}

// A wampy callee with progressive results: it streams `n` results (0, 10,
// ...) when the INVOCATION says receive_progress, then returns "done". It
// publishes on `ready_topic` once registered, serves `calls` invocations and
// reports what each INVOCATION offered.
async function calleeProgressive() {
  const callee = await open(spec.shard);
  const offered = [];
  let finish;
  const served = new Promise((r) => (finish = r));
  await withTimeout(
    callee.wampy.register(spec.procedure, async ({ argsList, details, result_handler }) => {
      offered.push(details.receive_progress === true);
      const n = argsList[0];
      if (details.receive_progress) {
        for (let i = 0; i < n; i++) {
          result_handler({ argsList: [i * 10], options: { progress: true } });
        }
      }
      if (offered.length === spec.calls) setTimeout(finish, 0);
      return { argsList: ["done"] };
    }),
    "register",
  );
  await withTimeout(callee.wampy.publish(spec.ready_topic), "ready");
  await withTimeout(served, `${spec.calls} calls`);
  await callee.wampy.disconnect();
  return { shard: callee.shard, offered };
}

// A wampy caller: a plain call with args and kwargs, a call with progressive
// results, and a call that fails with an application error (Python callees).
async function caller() {
  const c = await open(spec.shard);
  const plain = await withTimeout(
    c.wampy.call(spec.procedure, { argsList: spec.args, argsDict: spec.kwargs }),
    "call",
  );
  const progress = [];
  const streamed = await withTimeout(
    c.wampy.call(spec.stream_procedure, [spec.n], {
      progress_callback: (r) => progress.push(r.argsList[0]),
    }),
    "progressive call",
  );
  let appError = null;
  try {
    await withTimeout(c.wampy.call(spec.failing_procedure, []), "failing call");
  } catch (e) {
    appError = errorOf(e);
  }
  await c.wampy.disconnect();
  return {
    shard: c.shard,
    plain: { args: plain.argsList || [], kwargs: plain.argsDict || {} },
    progress,
    streamed: streamed.argsList,
    app_error: appError,
  };
}

// A wampy subscriber: collects `n` events on `topic` (published by Python
// after our event on `ready_topic`) and reports their payloads.
async function subscriber() {
  const s = await open(spec.shard);
  const events = [];
  let finish;
  const all = new Promise((r) => (finish = r));
  await withTimeout(
    s.wampy.subscribe(spec.topic, ({ argsList, argsDict }) => {
      events.push({ args: argsList || [], kwargs: argsDict || {} });
      if (events.length === spec.n) finish();
    }),
    "subscribe",
  );
  await withTimeout(s.wampy.publish(spec.ready_topic), "ready");
  await withTimeout(all, `${spec.n} events`);
  await s.wampy.disconnect();
  return { shard: s.shard, events };
}

// A wampy caller cancels with `kill` once the (Python) callee says it was
// invoked, by calling our `started_procedure`; it reports how the call ended.
async function cancelKill() {
  const c = await open(spec.shard);
  let started;
  const invoked = new Promise((r) => (started = r));
  await withTimeout(
    c.wampy.register(spec.started_procedure, () => {
      started();
      return {};
    }),
    "register",
  );
  const call = c.wampy.call(spec.procedure, []);
  const reqId = c.wampy.getOpStatus().reqId;
  const outcome = withTimeout(
    call.then(
      (r) => ({ outcome: "result", args: r.argsList }),
      (e) => ({ outcome: "error", ...errorOf(e) }),
    ),
    "call outcome",
  );
  await withTimeout(invoked, "invocation");
  c.wampy.cancel(reqId, { mode: "kill" });
  const out = await outcome;
  await c.wampy.disconnect();
  return { shard: c.shard, ...out };
}

// Payload Passthru Mode between two wampy sessions (on `shard` and
// `other_shard`): one registers `procedure` (answering in PPT mode too) and
// subscribes `topic`; the other publishes and calls in PPT mode, with
// wampy's JSON payload serializer (the payload is one string argument the
// router does not read). Reports what each side got, PPT details included.
async function ppt() {
  const a = await open(spec.shard);
  const b = await open(spec.other_shard);
  const ppt = { ppt_scheme: "x_junction", ppt_serializer: "json", ppt_keyid: "k-1" };
  let gotEvent;
  const event = new Promise((r) => (gotEvent = r));
  let invocation = null;
  await withTimeout(
    a.wampy.register(spec.procedure, ({ argsList, argsDict, details }) => {
      invocation = { args: argsList, kwargs: argsDict, details };
      return {
        argsList: [...argsList, "sealed reply"],
        argsDict,
        options: { ...ppt, ppt_keyid: "k-2" },
      };
    }),
    "register",
  );
  await withTimeout(
    a.wampy.subscribe(spec.topic, ({ argsList, argsDict, details }) =>
      gotEvent({ args: argsList, kwargs: argsDict, details }),
    ),
    "subscribe",
  );
  await withTimeout(
    b.wampy.publish(spec.topic, { argsList: spec.args, argsDict: spec.kwargs }, ppt),
    "publish",
  );
  const ev = await withTimeout(event, "event");
  const result = await withTimeout(
    b.wampy.call(spec.procedure, { argsList: spec.args, argsDict: spec.kwargs }, ppt),
    "call",
  );
  await a.wampy.disconnect();
  await b.wampy.disconnect();
  return {
    shards: [a.shard, b.shard],
    event: ev,
    invocation,
    result: { args: result.argsList, kwargs: result.argsDict, details: result.details },
  };
}

const scenarios = {
  callee_progressive: calleeProgressive,
  caller,
  subscriber,
  cancel_kill: cancelKill,
  ppt,
};

try {
  const run = scenarios[spec.scenario];
  if (!run) throw new Error(`unknown scenario ${spec.scenario}`);
  console.log(JSON.stringify(await run()));
  process.exit(0);
} catch (e) {
  console.log(JSON.stringify({ failed: String((e && e.stack) || e) }));
  process.exit(1);
}
