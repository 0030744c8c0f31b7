#!/bin/sh
# Seeds each decoder's corpus with the golden vectors (run from anywhere).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for s in json msgpack cbor; do
    mkdir -p "$here/corpus/decode_$s"
    cp "$here/../tests/vectors/$s/"* "$here/corpus/decode_$s/"
done
echo "seeded $(find "$here/corpus" -type f | wc -l) files"
# RawSocket: a handshake, then a length-limit byte, then a few frames.
mkdir -p "$here/corpus/rawsocket_frames"
printf '\177\361\000\000\021\000\000\000\003abc\001\000\000\001x\002\000\000\000' > "$here/corpus/rawsocket_frames/seed1"
printf '\177\362\000\000\001\000\000\000\000' > "$here/corpus/rawsocket_frames/seed2"
echo "seeded rawsocket_frames"
# HTTP: the golden request vectors, after a chunk-size octet and a limits octet.
mkdir -p "$here/corpus/http_decode"
for f in "$here/../tests/vectors/http/requests/"*.in; do
    name=$(basename "$f" .in)
    { printf '\377\000'; cat "$f"; } > "$here/corpus/http_decode/$name"
    { printf '\003\000'; cat "$f"; } > "$here/corpus/http_decode/$name-3"
done
echo "seeded http_decode"
# WebSocket: an upgrade request with a first frame, and one without.
mkdir -p "$here/corpus/ws_decode"
printf 'GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json, wamp.2.cbor\r\nSec-WebSocket-Version: 13\r\n\r\n\201\2057\372!=\177\237MQX' > "$here/corpus/ws_decode/seed-upgrade"
printf 'GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' > "$here/corpus/ws_decode/seed-upgrade2"
echo "seeded ws_decode"
