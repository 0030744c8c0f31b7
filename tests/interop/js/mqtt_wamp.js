// MQTT.js (3.1.1 and 5.0) and Autobahn|JS against the router under test:
// QoS 1 and 2 between MQTT.js clients of both versions, an MQTT publish to a
// WAMP subscriber, a WAMP publish to an MQTT subscriber, a retained message.
//
// usage: node mqtt_wamp.js MQTT_PORT|MQTT_URL WS_URL
// (MQTT_URL: e.g. ws://127.0.0.1:8080/mqtt for MQTT over WebSocket)
// Prints one line per passed check and "JS-OK <n>"; exits 1 on the first failure.
'use strict';

const mqtt = require('mqtt');
const autobahn = require('autobahn');

const [port, wsUrl] = process.argv.slice(2);
const mqttUrl = port.includes('://') ? port : `mqtt://127.0.0.1:${port}`;
const TIMEOUT_MS = 10000;
const tag = Math.random().toString(16).slice(2, 10);
let checks = 0;

function fail(msg) {
  console.error('JS-FAIL ' + msg);
  process.exit(1);
}

function check(cond, what) {
  if (!cond) fail(what);
  checks += 1;
  console.log('ok ' + what);
}

function withTimeout(p, what) {
  return Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error('timeout: ' + what)), TIMEOUT_MS)),
  ]);
}

function client(version) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const c = mqtt.connect(mqttUrl, {
        protocolVersion: version,
        reconnectPeriod: 0,
      });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    }),
    'MQTT connect v' + version,
  );
}

function nextMessage(c, topic) {
  return withTimeout(
    new Promise((resolve) => {
      c.on('message', function onMessage(t, payload, packet) {
        if (t === topic || (packet.properties && packet.properties.topicAlias && t === '')) {
          c.removeListener('message', onMessage);
          resolve({ topic: t, payload: payload.toString(), packet });
        }
      });
    }),
    'message on ' + topic,
  );
}

function wamp() {
  return withTimeout(
    new Promise((resolve, reject) => {
      const conn = new autobahn.Connection({ url: wsUrl, realm: 'realm1', max_retries: 0 });
      conn.onopen = (session) => resolve({ conn, session });
      conn.onclose = (reason) => reject(new Error('WAMP closed: ' + reason));
      conn.open();
    }),
    'WAMP join',
  );
}

// WAMP's JSON carries binary as "\u0000" + base64; Autobahn|JS leaves it so.
function text(v) {
  if (typeof v === 'string' && v.startsWith('\u0000')) {
    return Buffer.from(v.slice(1), 'base64').toString();
  }
  if (typeof v === 'string') return v;
  return Buffer.from(v).toString();
}

async function main() {
  const v5 = await client(5);
  const v4 = await client(4);
  check(v5.connected && v4.connected, 'MQTT.js 5.0 and 3.1.1 clients connected');

  for (const qos of [1, 2]) {
    const topic = `js/${tag}/q${qos}`;
    await v5.subscribeAsync(topic, { qos });
    const got = nextMessage(v5, topic);
    await v4.publishAsync(topic, `qos${qos}`, { qos });
    const m = await got;
    check(m.payload === `qos${qos}` && m.packet.qos === qos, `3.1.1 -> 5.0 at QoS ${qos}`);
  }

  const { conn, session } = await wamp();
  const events = [];
  await session.subscribe(`js.${tag}.wamp`, (args) => events.push(args));
  await v4.publishAsync(`js/${tag}/wamp`, 'from-mqtt', { qos: 1 });
  await withTimeout(
    new Promise((resolve) => {
      const t = setInterval(() => {
        if (events.length) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    }),
    'WAMP event',
  );
  check(text(events[0][0]) === 'from-mqtt', 'MQTT.js publish reaches an Autobahn|JS subscriber: ' + JSON.stringify(events[0]));

  const cmd = `js/${tag}/cmd`;
  await v5.subscribeAsync(cmd, { qos: 1 });
  const got = nextMessage(v5, cmd);
  await session.publish(`js.${tag}.cmd`, ['from-wamp'], {}, { acknowledge: true });
  const m = await got;
  check(m.payload === 'from-wamp', 'Autobahn|JS publish reaches an MQTT.js subscriber');

  const kept = `js/${tag}/kept`;
  await v4.publishAsync(kept, 'retained', { qos: 1, retain: true });
  const late = await client(5);
  const r = nextMessage(late, kept);
  await late.subscribeAsync(kept, { qos: 1 });
  const rm = await r;
  check(rm.payload === 'retained' && rm.packet.retain, 'retained message on subscribe');

  for (const c of [v5, v4, late]) await c.endAsync();
  conn.close();
  console.log('JS-OK ' + checks);
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
