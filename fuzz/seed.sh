#!/bin/sh
# Seeds each decoder's corpus with the golden vectors (run from anywhere).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for s in json msgpack cbor; do
    mkdir -p "$here/corpus/decode_$s"
    cp "$here/../tests/vectors/$s/"* "$here/corpus/decode_$s/"
done
echo "seeded $(find "$here/corpus" -type f | wc -l) files"
