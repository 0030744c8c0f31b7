//! The output side every codec implements: the message writer
//! ([`crate::proto::Message::write_to`]) drives it element by element, so a
//! message is laid out once, whatever the serializer.

use crate::proto::{Dict, Value};

/// A codec's output side. [`Message::write_to`](crate::proto::Message::write_to)
/// calls it element by element.
pub trait Writer {
    /// Starts a list of `len` elements.
    fn begin_list(&mut self, len: usize);
    /// Separates two list elements (JSON writes `,`, binary codecs nothing).
    fn sep(&mut self);
    /// Ends the current list.
    fn end_list(&mut self);
    /// Writes a non-negative integer.
    fn uint(&mut self, v: u64);
    /// Writes a string.
    fn str(&mut self, s: &str);
    /// Writes a whole dictionary.
    fn dict(&mut self, d: &Dict);
    /// Writes a whole list of values.
    fn list(&mut self, l: &[Value]);
    /// Writes any value.
    fn value(&mut self, v: &Value);
}
