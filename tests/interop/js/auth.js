// Autobahn|JS logins for Junction's interop suite, driven by
// tests/interop/test_auth_js.py. One login per run; its outcome is printed as
// one JSON line on stdout.
//
//   node auth.js '<json spec>'
//
// spec: {url, realm, method, authid, secret (ticket, wampcra) | seed (hex, cryptosign)}
// output: {joined: true, authid, authrole, authmethod, authprovider, realm, echo}
//      or {closed: <reason>, message: <message>}
"use strict";

const autobahn = require("autobahn");
const nacl = require("tweetnacl");

const spec = JSON.parse(process.argv[2]);
const TIMEOUT_MS = spec.timeout_ms || 10000;

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

function done(result, code) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(code);
}

const options = {
  url: spec.url,
  realm: spec.realm || "realm1",
  max_retries: 0,
  retry_if_unreachable: false,
  authmethods: [spec.method],
  authid: spec.authid,
};

let pkey = null;
if (spec.method === "cryptosign") {
  pkey = nacl.sign.keyPair.fromSeed(hexToBytes(spec.seed));
  options.authextra = { pubkey: autobahn.auth_cryptosign.public_key(pkey) };
}

options.onchallenge = (session, method, extra) => {
  if (method === "ticket") return spec.secret;
  if (method === "wampcra") {
    let key = spec.secret;
    if (extra.salt) {
      key = autobahn.auth_cra.derive_key(spec.secret, extra.salt, extra.iterations, extra.keylen);
    }
    return autobahn.auth_cra.sign(key, extra.challenge);
  }
  if (method === "cryptosign") return autobahn.auth_cryptosign.sign_challenge(pkey, extra);
  throw new Error(`unexpected challenge ${method}`);
};

const timer = setTimeout(() => done({ failed: "timeout" }, 1), TIMEOUT_MS);
const connection = new autobahn.Connection(options);
connection.onopen = async (session, details) => {
  try {
    // The session routes: it registers a procedure and calls it.
    const proc = `com.auth.js.echo.${session.id}`;
    await session.register(proc, (args) => args[0]);
    const echo = await session.call(proc, ["hello"]);
    clearTimeout(timer);
    const result = {
      joined: true,
      authid: details.authid,
      authrole: details.authrole,
      authmethod: details.authmethod,
      authprovider: details.authprovider,
      realm: details.realm,
      echo,
    };
    connection.onclose = () => done(result, 0);
    connection.close();
  } catch (e) {
    done({ failed: String(e) }, 1);
  }
};
connection.onclose = (reason, details) => {
  clearTimeout(timer);
  done({ closed: details.reason || reason, message: details.message || "" }, 0);
  return true;
};
connection.open();
