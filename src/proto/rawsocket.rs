//! RawSocket: the 4-byte handshake and the 4-byte frame header, sans-IO.
//! (Placeholder: being written.)
