// Autobahn|JS against the router under test: publish options of the advanced
// profile (exclude_me, exclude/eligible by session, authid and authrole,
// disclose_me) and pattern-based subscriptions (topic detail).
//
// usage: node pubsub_options.js WS_URL PUB_SHARD SUB_SHARD SHARDS
// Sessions are placed on the given shards (Junction's WELCOME detail
// x_junction_shard; connect until placed). Prints one line per passed check
// and "JS-OK <n>"; exits 1 on the first failure.
'use strict';

const autobahn = require('autobahn');

const [url, pubShard, subShard, shards] = process.argv.slice(2);
const TIMEOUT_MS = 10000;
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

function connect(serializer) {
  return new Promise((resolve, reject) => {
    const options = { url, realm: 'realm1', max_retries: 0 };
    if (serializer === 'msgpack') {
      options.serializers = [new autobahn.serializer.MsgpackSerializer()];
    }
    const conn = new autobahn.Connection(options);
    conn.onopen = (session, details) => resolve({ conn, session, details });
    conn.onclose = (reason, details) => {
      reject(new Error('connection closed: ' + reason + ' ' + JSON.stringify(details)));
      return true; // no reconnect
    };
    conn.open();
  });
}

async function placed(shard, serializer) {
  for (let i = 0; i < 80; i++) {
    const c = await connect(serializer);
    const got = c.details.x_junction_shard;
    if (got === undefined || got === Number(shard) % Number(shards)) return c;
    c.conn.onclose = () => true;
    c.conn.close();
  }
  fail('no session landed on shard ' + shard);
}

function sink() {
  const s = { events: [], waiters: [] };
  s.handler = (args, kwargs, details) => {
    s.events.push({ args, kwargs, details });
    s.waiters = s.waiters.filter((w) => !w());
  };
  s.waitCount = (n) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('expected ' + n + ' events, got ' + s.events.length)),
        TIMEOUT_MS
      );
      const w = () => {
        if (s.events.length >= n) {
          clearTimeout(timer);
          resolve(s.events);
          return true;
        }
        return false;
      };
      if (!w()) s.waiters.push(w);
    });
  // Waits until an event after index `from` has args[0] === label.
  s.waitLabel = (from, label) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no event ' + label)), TIMEOUT_MS);
      const w = () => {
        if (s.events.slice(from).some((e) => e.args[0] === label)) {
          clearTimeout(timer);
          resolve(s.events);
          return true;
        }
        return false;
      };
      if (!w()) s.waiters.push(w);
    });
  return s;
}

async function main() {
  const pub = await placed(pubShard, 'json');
  const a = await placed(subShard, 'msgpack');
  const b = await placed(subShard, 'json');
  const topic = 'com.js.opts.' + Date.now() + '.' + Math.floor(Math.random() * 1e6);
  const sp = sink();
  const sa = sink();
  const sb = sink();
  await pub.session.subscribe(topic, sp.handler);
  await a.session.subscribe(topic, sa.handler);
  await b.session.subscribe(topic, sb.handler);
  const ack = (extra) => Object.assign({ acknowledge: true }, extra || {});

  // Publishes `label` with `options`, then a marker; returns who got `label`.
  async function who(label, options) {
    const before = [sa.events.length, sb.events.length, sp.events.length];
    await pub.session.publish(topic, [label], {}, ack(options));
    await pub.session.publish(topic, ['marker'], {}, ack({ exclude_me: false }));
    await sa.waitLabel(before[0], 'marker');
    await sb.waitLabel(before[1], 'marker');
    await sp.waitLabel(before[2], 'marker');
    const got = [];
    if (sa.events.slice(before[0]).some((e) => e.args[0] === label)) got.push('a');
    if (sb.events.slice(before[1]).some((e) => e.args[0] === label)) got.push('b');
    if (sp.events.slice(before[2]).some((e) => e.args[0] === label)) got.push('pub');
    return got.join(',');
  }

  check((await who('default')) === 'a,b', 'exclude_me defaults to true');
  check((await who('me', { exclude_me: false })) === 'a,b,pub', 'exclude_me=false');
  check((await who('ex', { exclude: [a.session.id] })) === 'b', 'exclude by session ID');
  check((await who('el', { eligible: [a.session.id] })) === 'a', 'eligible by session ID');
  check(
    (await who('ea', { exclude_authid: [b.details.authid] })) === 'a',
    'exclude_authid'
  );
  check(
    (await who('ga', { eligible_authid: [b.details.authid], exclude_me: false })) === 'b',
    'eligible_authid'
  );
  check(
    (await who('gr', { eligible_authrole: ['anonymous'] })) === 'a,b',
    'eligible_authrole'
  );
  check(
    (await who('xr', { exclude_authrole: ['anonymous'], exclude_me: false })) === '',
    'exclude_authrole'
  );

  // disclose_me
  const n = sa.events.length;
  await pub.session.publish(topic, ['disclosed'], {}, ack({ disclose_me: true }));
  const ev = (await sa.waitLabel(n, 'disclosed')).slice(n).find((e) => e.args[0] === 'disclosed');
  check(ev.details.publisher === pub.session.id, 'disclose_me gives details.publisher');
  check(ev.details.publisher_authid === pub.details.authid, 'disclose_me gives publisher_authid');
  check(ev.details.publisher_authrole === 'anonymous', 'disclose_me gives publisher_authrole');
  const plain = await who('plain2');
  check(plain === 'a,b', 'still delivered without disclosure');
  const p2 = sa.events.find((e) => e.args[0] === 'plain2');
  check(p2.details.publisher === undefined, 'not disclosed by default');

  // pattern-based subscriptions
  const pre = sink();
  const wild = sink();
  await a.session.subscribe(topic + '.', pre.handler, { match: 'prefix' });
  await b.session.subscribe(topic + '..z', wild.handler, { match: 'wildcard' });
  for (const t of ['x.z', 'y.q', 'w.z']) {
    await pub.session.publish(topic + '.' + t, [t], {}, ack());
  }
  const gotPre = await pre.waitCount(3);
  check(
    gotPre.map((e) => e.details.topic).join() === ['x.z', 'y.q', 'w.z'].map((t) => topic + '.' + t).join(),
    'prefix subscription gets details.topic'
  );
  const gotWild = await wild.waitCount(2);
  check(
    gotWild.map((e) => e.details.topic).join() === [topic + '.x.z', topic + '.w.z'].join(),
    'wildcard subscription gets details.topic'
  );

  // A bad option type is refused with invalid_argument (acknowledged publish).
  try {
    await pub.session.publish(topic, [], {}, ack({ exclude: 'nobody' }));
    fail('bad exclude option was accepted');
  } catch (e) {
    check(e.error === 'wamp.error.invalid_argument', 'bad exclude gets invalid_argument');
  }

  console.log('JS-OK ' + checks);
  for (const c of [pub, a, b]) {
    c.conn.onclose = () => true;
    c.conn.close();
  }
  setTimeout(() => process.exit(0), 100);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
