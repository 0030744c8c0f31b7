//! The walker's typed readers: objects, lists, strings, numbers, booleans,
//! each reporting a wrong type at its JSON path; key tables ([`Key`]); and
//! the resolution of `${VAR}` references and relative paths.
//!
//! `${VAR}` (Crossbar's convention) is resolved in every string value the
//! loader reads as a string, number or boolean: the whole value must be the
//! reference (`"${TICKET}"`; `"a${B}"` stays literal, as in Crossbar). An
//! unset variable is an error naming the key and the variable. `$${...}`
//! stands for a literal `${...}`. Values read as opaque JSON (a `json`
//! service's `value`, a component's `extra`, a guest's stdin value) are
//! passed on untouched.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Loader, Obj};
use crate::config::auth::Secret;
use crate::config::error::{ConfigIssue, IssueKind};
use crate::config::path::child;

/// What the loader does with a key of an object.
#[derive(Debug, Clone, Copy)]
pub(super) enum Key {
    /// Read (and checked) by the handler of the object.
    Read,
    /// Accepted and ignored without a word.
    Ignore,
    /// Accepted and ignored; the warning says why.
    Warn(&'static str),
    /// A feature Junction has no model for: an error "`<what>` is not supported yet".
    Unsupported(&'static str),
}

/// "a string", "a number", ... for type errors.
pub(super) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value for messages: the JSON text of scalars, the kind of containers.
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::Array(_) | Value::Object(_) => kind_of(v).to_owned(),
        other => other.to_string(),
    }
}

/// POSIX's rule for environment variable names (Crossbar's too).
pub(super) fn is_env_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl Loader<'_> {
    pub(super) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            path: path.to_owned(),
            kind: IssueKind::Invalid,
            message: message.into(),
        });
    }

    pub(super) fn unsupported(&mut self, path: &str, what: &str) {
        self.issues.push(ConfigIssue {
            path: path.to_owned(),
            kind: IssueKind::Unsupported,
            message: format!("{what} is not supported yet"),
        });
    }

    pub(super) fn warn(&mut self, path: &str, message: &str) {
        self.warnings.push(format!("{path}: {message}"));
    }

    /// Checks the keys of `obj` against `table`: warns, rejects unsupported
    /// and unknown keys. The handler reads the [`Key::Read`] ones itself.
    pub(super) fn keys(&mut self, path: &str, obj: &Obj, table: &[(&str, Key)]) {
        self.keys_with(path, obj, table, false);
    }

    /// As [`Self::keys`], but an unknown key is a warning: for the objects
    /// whose unknown keys Crossbar ignores (its checker does not list them),
    /// so that a config it starts starts here too.
    pub(super) fn keys_lenient(&mut self, path: &str, obj: &Obj, table: &[(&str, Key)]) {
        self.keys_with(path, obj, table, true);
    }

    fn keys_with(&mut self, path: &str, obj: &Obj, table: &[(&str, Key)], lenient: bool) {
        for k in obj.keys() {
            let p = child(path, k);
            match table.iter().find(|(name, _)| name == k) {
                Some((_, Key::Read | Key::Ignore)) => {}
                Some((_, Key::Warn(why))) => self.warn(&p, why),
                Some((_, Key::Unsupported(what))) => self.unsupported(&p, what),
                None => {
                    let known: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
                    let known = known.join(", ");
                    if lenient {
                        let why = format!(
                            "ignored: unknown key, as Crossbar ignores it (known here: {known})"
                        );
                        self.warn(&p, &why);
                    } else {
                        self.error(&p, format!("unknown key (known here: {known})"));
                    }
                }
            }
        }
    }

    pub(super) fn object<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Obj> {
        match v {
            Value::Object(o) => Some(o),
            other => {
                self.error(
                    path,
                    format!("expected an object, found {}", kind_of(other)),
                );
                None
            }
        }
    }

    pub(super) fn array<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v [Value]> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.error(path, format!("expected a list, found {}", kind_of(other)));
                None
            }
        }
    }

    /// Resolves a `${VAR}` reference in `s`; `Ok(None)` when `s` is no reference.
    fn env_ref(&mut self, path: &str, s: &str) -> Result<Option<String>, ()> {
        if s.starts_with("$${") && s.ends_with('}') {
            return Ok(Some(s[1..].to_owned()));
        }
        let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
            return Ok(None);
        };
        if !is_env_name(name) {
            self.error(
                path,
                format!(
                    "\"{s}\" is not a valid environment variable reference \
                     (a name of letters, digits and _; write \"$${{...}}\" for a literal \"${{...}}\")"
                ),
            );
            return Err(());
        }
        match (self.env)(name) {
            Some(value) => Ok(Some(value)),
            None => {
                self.error(path, format!("environment variable {name} is not set"));
                Err(())
            }
        }
    }

    /// A string, with `${VAR}` resolved.
    pub(super) fn string<'v>(&mut self, path: &str, v: &'v Value) -> Option<Cow<'v, str>> {
        match v {
            Value::String(s) => match self.env_ref(path, s) {
                Ok(Some(value)) => Some(Cow::Owned(value)),
                Ok(None) => Some(Cow::Borrowed(s)),
                Err(()) => None,
            },
            other => {
                self.error(path, format!("expected a string, found {}", kind_of(other)));
                None
            }
        }
    }

    /// A non-empty string.
    pub(super) fn nonempty<'v>(&mut self, path: &str, v: &'v Value) -> Option<Cow<'v, str>> {
        let s = self.string(path, v)?;
        if s.is_empty() {
            self.error(path, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// A secret string (never echoed in messages).
    pub(super) fn secret(&mut self, path: &str, v: &Value) -> Option<Secret> {
        self.string(path, v)
            .map(|s| Secret::new(s.into_owned().into_bytes()))
    }

    /// A list of strings.
    pub(super) fn strings(&mut self, path: &str, v: &Value) -> Option<Vec<String>> {
        let items = self.array(path, v)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.string(&super::index(path, i), item) {
                Some(s) => out.push(s.into_owned()),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(super) fn boolean(&mut self, path: &str, v: &Value) -> Option<bool> {
        let resolved = match v {
            Value::Bool(b) => return Some(*b),
            Value::String(s) => match self.env_ref(path, s) {
                Ok(r) => r,
                Err(()) => return None,
            },
            _ => None,
        };
        match resolved.as_deref() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                self.error(
                    path,
                    format!("expected true or false, the environment gives \"{other}\""),
                );
                None
            }
            None => {
                self.error(
                    path,
                    format!("expected true or false, found {}", kind_of(v)),
                );
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub(super) fn uint(&mut self, path: &str, v: &Value, min: u64, max: u64) -> Option<u64> {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => match self.env_ref(path, s) {
                Ok(Some(value)) => match value.trim().parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.error(
                            path,
                            format!("expected a whole number, the environment gives \"{value}\""),
                        );
                        return None;
                    }
                },
                Ok(None) => None,
                Err(()) => return None,
            },
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.error(
                    path,
                    format!("{n} is out of range (must be {min} to {max})"),
                );
                None
            }
            None => {
                let hint = match v.as_str() {
                    Some(s) if s.starts_with('$') && is_env_name(&s[1..]) => {
                        format!(
                            " (write \"${{{}}}\" to read an environment variable)",
                            &s[1..]
                        )
                    }
                    _ => String::new(),
                };
                self.error(
                    path,
                    format!("expected a whole number, found {}{hint}", describe(v)),
                );
                None
            }
        }
    }

    /// A size in bytes (`usize`) in `min..=max`.
    pub(super) fn size(&mut self, path: &str, v: &Value, min: u64, max: u64) -> Option<usize> {
        self.uint(path, v, min, max)
            .and_then(|n| usize::try_from(n).ok())
    }

    /// A duration in milliseconds following Crossbar's rule: 0 (off) or at least 1000.
    pub(super) fn millis(&mut self, path: &str, v: &Value) -> Option<u64> {
        let n = self.uint(path, v, 0, u64::from(u32::MAX))?;
        if n != 0 && n < 1000 {
            self.error(
                path,
                format!(
                    "is in milliseconds; {n} is too small (0 turns it off, else at least 1000)"
                ),
            );
            return None;
        }
        Some(n)
    }

    /// A required field, read with `read`.
    pub(super) fn required<'v, T>(
        &mut self,
        path: &str,
        obj: &'v Obj,
        key: &str,
        read: impl FnOnce(&mut Self, &str, &'v Value) -> Option<T>,
    ) -> Option<T> {
        let p = child(path, key);
        match obj.get(key) {
            Some(v) => read(self, &p, v),
            None => {
                self.error(&p, "missing (required)");
                None
            }
        }
    }

    /// A required string field.
    pub(super) fn required_str<'v>(
        &mut self,
        path: &str,
        obj: &'v Obj,
        key: &str,
    ) -> Option<Cow<'v, str>> {
        self.required(path, obj, key, Self::string)
    }

    /// An optional field, read with `read`: `Ok(None)` when absent, `Err`
    /// when present and wrong.
    pub(super) fn optional<'v, T>(
        &mut self,
        path: &str,
        obj: &'v Obj,
        key: &str,
        read: impl FnOnce(&mut Self, &str, &'v Value) -> Option<T>,
    ) -> Result<Option<T>, ()> {
        match obj.get(key) {
            Some(v) => read(self, &child(path, key), v).map(Some).ok_or(()),
            None => Ok(None),
        }
    }

    /// An optional string field (`None` when absent or wrong).
    pub(super) fn opt_str(&mut self, path: &str, obj: &Obj, key: &str) -> Option<String> {
        let v = obj.get(key)?;
        self.string(&child(path, key), v).map(Cow::into_owned)
    }

    /// An optional boolean field (`None` when absent or wrong).
    pub(super) fn opt_bool(&mut self, path: &str, obj: &Obj, key: &str) -> Option<bool> {
        let v = obj.get(key)?;
        self.boolean(&child(path, key), v)
    }

    /// A file path, resolved against the node directory as Crossbar does.
    pub(super) fn node_path(&mut self, path: &str, v: &Value) -> Option<PathBuf> {
        let s = self.nonempty(path, v)?;
        Some(self.resolve(&s))
    }

    /// `p` relative to the node directory (absolute paths stay).
    pub(super) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.node_dir.join(p)
        }
    }

    /// A list of file paths, resolved against the node directory.
    pub(super) fn node_paths(&mut self, path: &str, v: &Value) -> Option<Vec<PathBuf>> {
        let items = self.array(path, v)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.node_path(&super::index(path, i), item) {
                Some(p) => out.push(p),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A WAMP URI a procedure or topic is named by: non-empty, no whitespace
    /// or `#`, no empty components (Crossbar's strict, non-empty URI check is
    /// looser on characters; Junction's routing accepts what this accepts).
    pub(super) fn uri(&mut self, path: &str, v: &Value) -> Option<String> {
        let s = self.nonempty(path, v)?;
        if s.chars().any(|c| c.is_whitespace() || c == '#') || s.split('.').any(str::is_empty) {
            self.error(path, format!("invalid URI \"{s}\""));
            return None;
        }
        Some(s.into_owned())
    }

    /// Checks an item ID (`id` of workers, transports, components).
    pub(super) fn check_id(&mut self, path: &str, id: &str) {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            self.error(
                path,
                format!("invalid ID \"{id}\" (1 to 64 characters from a-z, A-Z, 0-9, _ and -)"),
            );
        }
    }

    /// The item's `id`, checked, or `default_id`.
    pub(super) fn item_id(&mut self, path: &str, obj: &Obj, default_id: String) -> String {
        let Some(v) = obj.get("id") else {
            return default_id;
        };
        let p = child(path, "id");
        match self.string(&p, v) {
            Some(id) => {
                self.check_id(&p, &id);
                id.into_owned()
            }
            None => default_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(is_env_name("PORT"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("A-B"));
    }
}
