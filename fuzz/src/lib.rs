//! The property every decoder fuzz target checks, shared by the targets.

use junction::proto::Serializer;

/// Decodes `data` with `ser`; when that succeeds, the message must survive an
/// encode/decode round trip: re-decoding our own encoding never fails, encoding
/// is stable, and the re-decoded message equals the first one.
///
/// # Panics
/// When the property is violated (that is what the fuzzer looks for).
pub fn round_trip(ser: Serializer, data: &[u8]) {
    let Ok(msg) = ser.decode(data) else {
        return;
    };
    let first = ser.encode(&msg);
    let again = match ser.decode(&first) {
        Ok(m) => m,
        Err(e) => panic!(
            "{} cannot decode its own encoding of {msg:?}: {e}",
            ser.name()
        ),
    };
    let second = ser.encode(&again);
    assert_eq!(first, second, "{} encoding is not stable", ser.name());
    // NaN (possible in msgpack and CBOR) is unequal to itself; the byte
    // comparison above already covers messages that hold one.
    #[allow(clippy::eq_op)]
    let comparable = msg == msg;
    if comparable {
        assert_eq!(msg, again, "{} round trip changed the message", ser.name());
    }
}
