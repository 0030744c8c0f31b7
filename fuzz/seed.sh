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
# MQTT: each golden vector (annotated hex, comments stripped) after a 4-octet
# header: mode (version 3.1.1 = 1 or 5.0 = 2, plus 3 x peer 2 = any), chunk
# size 0 (whole) or 3, maximum packet size 2 << 20, topic limits 255; and one
# session per version (awaiting CONNECT, client peer) of all its vectors.
mkdir -p "$here/corpus/mqtt_decode"
hex() { sed 's/#.*//' "$1" | xxd -r -p; }
for v in v311 v5; do
    if [ $v = v311 ]; then mode='\007'; session='\000'; else mode='\010'; session='\000'; fi
    for f in "$here/../tests/vectors/mqtt/$v/"*.hex; do
        n=$(basename "$f" .hex)
        { printf "$mode"'\000\024\377'; hex "$f"; } > "$here/corpus/mqtt_decode/${v}_$n"
        { printf "$mode"'\003\024\377'; hex "$f"; } > "$here/corpus/mqtt_decode/${v}_${n}_chunked"
    done
    {
        printf "$session"'\007\024\377'
        hex "$here/../tests/vectors/mqtt/$v/connect_minimal.hex"
        for f in "$here/../tests/vectors/mqtt/$v/"*.hex; do
            case $(basename "$f") in connect_*|connack_*|suback*|unsuback*|pingresp*) ;; *) hex "$f";; esac
        done
    } > "$here/corpus/mqtt_decode/${v}_session"
done
echo "seeded mqtt_decode ($(ls "$here/corpus/mqtt_decode" | wc -l) files)"
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
