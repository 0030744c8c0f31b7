//! The workspaces outside the main one build what ships: `fuzz/` (its own
//! workspace, so `[patch.crates-io]` of the main manifest does not reach
//! it) carries the same patches, and its lock file uses them.

use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `[patch.crates-io]` entries of a manifest: (crate, path), the path
/// as written (relative to the manifest's directory).
fn patches(manifest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[patch.crates-io]";
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').expect("name = { path = ... }");
        let path = value
            .split_once("path")
            .and_then(|(_, rest)| rest.split('"').nth(1))
            .unwrap_or_else(|| panic!("a patch without a path: {line}"));
        out.push((name.trim().to_owned(), path.to_owned()));
    }
    out
}

#[test]
fn fuzz_builds_the_patched_crates() {
    let main = patches(&read("Cargo.toml"));
    assert!(!main.is_empty(), "the main manifest patches glommio");
    let fuzz = patches(&read("fuzz/Cargo.toml"));
    // The same crates, the same directories (fuzz/ is one level down).
    let expected: Vec<(String, String)> = main
        .iter()
        .map(|(name, path)| (name.clone(), format!("../{path}")))
        .collect();
    assert_eq!(fuzz, expected);
    // And the lock file resolved them to the paths (no registry source).
    let lock = read("fuzz/Cargo.lock");
    for (name, _) in &main {
        let entry = lock
            .split("[[package]]")
            .find(|p| p.contains(&format!("name = \"{name}\"\n")))
            .unwrap_or_else(|| panic!("{name} is not in fuzz/Cargo.lock"));
        assert!(
            !entry.contains("source = "),
            "fuzz/Cargo.lock takes {name} from a registry:{entry}"
        );
    }
}
