// Autobahn|JS over WAMP long-poll, for tests/interop/test_bridge.py.
//
//   node longpoll.js '<json spec>'    spec: {url, realm, procedure, topic, back_topic}
//
// Node has no XMLHttpRequest, which Autobahn|JS's long-poll transport uses:
// a small shim over fetch() stands in for it. The session calls `procedure`
// (registered by an Autobahn|Python WebSocket session) with [20, 22],
// subscribes to `topic`, publishes `back_topic` ["from js"] once subscribed
// (the Python side publishes `topic` when it gets that), and prints one JSON
// line: {sum, event, shard} or {failed}.
"use strict";

class XMLHttpRequest {
  open(method, url) {
    this.method = method;
    this.url = url;
    this.headers = {};
    this.readyState = 1;
  }
  setRequestHeader(k, v) {
    this.headers[k] = v;
  }
  send(data) {
    const ctrl = new AbortController();
    const timer = this.timeout > 0 ? setTimeout(() => ctrl.abort(), this.timeout) : null;
    const done = (status, statusText, text) => {
      if (timer) clearTimeout(timer);
      this.status = status;
      this.statusText = statusText;
      this.responseText = text;
      this.readyState = 4;
      if (this.onreadystatechange) this.onreadystatechange();
    };
    fetch(this.url, { method: this.method, headers: this.headers, body: data, signal: ctrl.signal })
      .then(async (r) => done(r.status, r.statusText, await r.text()))
      .catch((e) => done(0, String(e), ""));
  }
}
global.XMLHttpRequest = XMLHttpRequest;

const autobahn = require("autobahn");
const spec = JSON.parse(process.argv[2]);

function finish(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(result.failed ? 1 : 0);
}
setTimeout(() => finish({ failed: "timeout" }), 20000);

const connection = new autobahn.Connection({
  transports: [{ type: "longpoll", url: spec.url }],
  realm: spec.realm,
  max_retries: 0,
});
connection.onopen = async (session, details) => {
  try {
    const sum = await session.call(spec.procedure, [20, 22]);
    const event = new Promise((resolve) => {
      session.subscribe(spec.topic, (args) => resolve(args[0]));
    });
    // Subscribed: ask the Python side to publish.
    await new Promise((r) => setTimeout(r, 200));
    await session.publish(spec.back_topic, ["from js"], {}, { acknowledge: true });
    const got = await event;
    finish({ sum, event: got, transport: details.transport ? details.transport.type : null });
  } catch (e) {
    finish({ failed: String(e && (e.error || e.message || e)) });
  }
};
connection.onclose = (reason, details) => {
  finish({ failed: `closed: ${reason} ${JSON.stringify(details)}` });
};
connection.open();
