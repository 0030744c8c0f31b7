//! Fuzzes the cbor decoder: no panics, and decoded messages round-trip.
#![no_main]

use junction::proto::Serializer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    junction_fuzz::round_trip(Serializer::Cbor, data);
});
