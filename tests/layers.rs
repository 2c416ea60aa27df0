//! The layers depend on each other one way only (see `src/lib.rs`): `vocab` is a leaf, `core`
//! (the protocol) and `codec` (the byte formats) each use `vocab` and never each other, and
//! only `ffi` sees them all; `present` (text forms of the core's state) reads the core only;
//! `storage` (a data directory, through `codec`) knows neither the protocol nor C.
//! A rule checked on the source, so that a stray `use` fails here rather than in review.

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/<layer>`.
fn sources(layer: &str) -> Vec<PathBuf> {
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(layer)];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "no sources under src/{layer}");
    files
}

/// `file:line: text` of every line of `layer` that names one of `forbidden` modules.
fn mentions(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in sources(layer) {
        let text = fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for module in forbidden {
                let uses = [format!("crate::{module}"), format!("raft::{module}")];
                if uses.iter().any(|u| code.contains(u.as_str())) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn the_vocabulary_is_a_leaf() {
    assert_eq!(mentions("vocab", &["core", "codec", "present", "ffi"]), Vec::<String>::new());
}

#[test]
fn the_core_knows_no_byte_format_and_no_c() {
    assert_eq!(mentions("core", &["codec", "present", "ffi"]), Vec::<String>::new());
}

#[test]
fn the_codec_knows_no_protocol_and_no_c() {
    assert_eq!(mentions("codec", &["core", "present", "ffi"]), Vec::<String>::new());
}

/// The core says nothing of C either, not even in comments: NUL-terminated strings, raw
/// pointers and `RAFT_*` codes are the boundary's business.
#[test]
fn the_core_has_no_c_details() {
    let mut found = Vec::new();
    for path in sources("core") {
        let text = fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if ["\\0", "NUL-terminated", "c_char", "*const", "*mut"]
                .iter()
                .any(|w| line.contains(w))
            {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn presentation_reads_the_core_only() {
    assert_eq!(mentions("present", &["codec", "ffi"]), Vec::<String>::new());
}

#[test]
fn storage_knows_no_protocol_and_no_c() {
    assert_eq!(mentions("storage", &["core", "present", "ffi"]), Vec::<String>::new());
}

/// The data directory layer is safe code: its `unsafe` stays in `ffi::uv`.
#[test]
fn storage_has_no_unsafe_code() {
    let mut found = Vec::new();
    for path in sources("storage") {
        let text = fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("unsafe ") || code.contains("unsafe{") {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
}
