//! The serializer-neutral value model for WAMP payloads and option dictionaries.
//!
//! Every codec decodes into [`Value`] and encodes from it, which is what lets a
//! JSON publisher reach MessagePack and CBOR subscribers. Integers are normalised:
//! any integer that fits in `i64` is [`Value::Int`]; only larger positive ones use
//! [`Value::UInt`], so the same number decodes to the same variant from every codec.

use bytes::Bytes;

/// A WAMP value: what `Arguments|list`, `ArgumentsKw|dict` and `Details|dict` hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`, MessagePack nil, CBOR null/undefined.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer in `i64` range.
    Int(i64),
    /// A positive integer above `i64::MAX`.
    UInt(u64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Binary data (JSON carries it as `"\u0000"` + base64).
    Bytes(Bytes),
    /// A list.
    List(Vec<Value>),
    /// A dictionary with string keys.
    Dict(Dict),
}

impl Value {
    /// Builds an integer value with the normalisation rule above.
    pub fn from_u64(v: u64) -> Value {
        if v <= i64::MAX as u64 {
            Value::Int(v as i64)
        } else {
            Value::UInt(v)
        }
    }

    /// The value as a non-negative integer, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The value as a string slice, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as a dictionary, if it is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The value as a list, if it is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::from_u64(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}
impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}

/// A dictionary key: the keys the router writes are `'static` names
/// (`"topic"`, `"publisher"`, ...), borrowed rather than allocated per
/// message; the keys a peer sent are owned.
pub type DictKey = std::borrow::Cow<'static, str>;

/// A dictionary with string keys, kept in insertion order.
///
/// WAMP dictionaries are small (options, details) or opaque to the router
/// (kwargs), so a vector beats a hash map here: no hashing, one allocation,
/// and the order a client sent is the order every subscriber sees.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dict(pub Vec<(DictKey, Value)>);

impl From<Vec<(String, Value)>> for Dict {
    /// Owned keys, as a codec or a peer gives them (the vector is reused).
    fn from(entries: Vec<(String, Value)>) -> Self {
        Dict(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl Dict {
    /// An empty dictionary.
    pub const fn new() -> Self {
        Dict(Vec::new())
    }

    /// The value under `key`, if any (the first one if a peer sent a key twice).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`, replacing an existing entry.
    pub fn insert(&mut self, key: impl Into<DictKey>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Builder form of [`Dict::insert`].
    pub fn with(mut self, key: impl Into<DictKey>, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the dictionary is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// A boolean option: `Ok(default)` when absent or null (JavaScript clients send
    /// `undefined` options, which the codecs read as null), `Err` for another type.
    pub fn bool_or(&self, key: &'static str, default: bool) -> Result<bool, OptionError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(OptionError {
                key,
                expected: "a boolean",
            }),
        }
    }

    /// A string option: `Ok(None)` when absent or null, `Err` for another type.
    pub fn str_opt(&self, key: &'static str) -> Result<Option<&str>, OptionError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(OptionError {
                key,
                expected: "a string",
            }),
        }
    }
}

/// An option in a WAMP `Options|dict` had the wrong type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("option '{key}' must be {expected}")]
pub struct OptionError {
    /// The option's key.
    pub key: &'static str,
    /// What it should have been, in words.
    pub expected: &'static str,
}
