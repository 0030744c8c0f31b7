//! JSON paths, as every config error and warning names them
//! (`workers[0].transports[1].endpoint.port`): joining a key or an index onto
//! a path, and [`Located`], an item with the path it was read from.
//!
//! Shared by the walk (`load/`), the cross-item checks (`check.rs`) and the
//! gap list (`support.rs`); it imports nothing from them.

/// `path.key`, or `key` at the top.
pub(super) fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// An item with the JSON path it was read from.
#[derive(Debug, Clone)]
pub(super) struct Located<T> {
    /// JSON path of the item, e.g. `workers[0].realms[1]`.
    pub path: String,
    /// The item.
    pub item: T,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join() {
        assert_eq!(child("", "version"), "version");
        assert_eq!(child("workers[0]", "type"), "workers[0].type");
        assert_eq!(index("workers", 2), "workers[2]");
    }
}
