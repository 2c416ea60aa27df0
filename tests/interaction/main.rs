//! Scripted interaction tests of the core: each script in `scripts/` drives a few servers step
//! by step (see `cluster.rs` for the commands) and states the trace every command must print.
//!
//! A script is a sequence of blocks:
//!
//! ```text
//! # Comments (kept as they are) say which rule the following blocks show.
//! > timeout 1
//! 1: timeout at 1234
//!   term 2
//!   ...
//! ```
//!
//! Commands (server IDs are numbers, addresses are `node-N`):
//!
//! - `bootstrap voters=1,2,3 [standbys=..] [spares=..] [prevote] [heartbeat=MS]`, `add-node 4`
//!   (a pristine server), `reset` (forget every server, to begin another scenario);
//! - `timeout N` (fire N's timer at its deadline), `tick ms=T` (fire every timer due within T);
//! - `deliver [A->B | A->* | *->B]...`, `drop [..]`, `stabilize` (persist and deliver until
//!   nothing is pending), `isolate N`, `cut A-B`, `heal`;
//! - `persist [N..]`, `crash N..`, `restart N..`, `snapshot N [trailing=K]`;
//! - `submit N "x" "y"`, `change N voters=.. [standbys=..] [spares=..]`, `catch-up N server=M`,
//!   `transfer N [to=M]`;
//! - `status [N..]`, `log [N..]`.
//!
//! A block is a command line starting with `> ` and the expected output up to the next blank
//! line, comment or command. `REWRITE=1 cargo test --test interaction` replaces every expected
//! output with what the code now prints (then read the diff: a rewrite proves nothing by
//! itself); otherwise a mismatch fails with a diff of each block that differs. A safety
//! violation the cluster detects (two leaders in a term, two entries applied at one index, an
//! update whose flags hide a change) fails the script in either mode.

mod cluster;

use std::path::{Path, PathBuf};

use cluster::Cluster;

enum Item {
    /// A comment or blank line, written back as it is.
    Text(String),
    Block {
        line: usize,
        command: String,
        expected: Vec<String>,
    },
}

fn parse(text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let Some(command) = line.strip_prefix("> ") else {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "line {}: expected a comment, a blank line or `> command`, got {line:?}",
                n + 1
            );
            items.push(Item::Text(line.to_string()));
            continue;
        };
        let mut expected = Vec::new();
        while let Some((_, next)) = lines.peek() {
            if next.is_empty() || next.starts_with('#') || next.starts_with("> ") {
                break;
            }
            expected.push(next.to_string());
            lines.next();
        }
        items.push(Item::Block { line: n + 1, command: command.to_string(), expected });
    }
    items
}

fn script_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interaction/scripts")
        .join(format!("{name}.txt"))
}

/// Runs script `name`: checks (or, with REWRITE set, rewrites) every block's output.
fn run(name: &str) {
    let path = script_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let items = parse(&text);
    let rewrite = std::env::var_os("REWRITE").is_some();
    let mut cluster = Cluster::new();
    let mut rewritten = String::new();
    let mut failures = Vec::new();
    for (k, item) in items.iter().enumerate() {
        match item {
            Item::Text(line) => {
                rewritten.push_str(line);
                rewritten.push('\n');
            }
            Item::Block { line, command, expected } => {
                let actual = cluster.run(command);
                if &actual != expected {
                    failures.push(format!(
                        "{}:{line}: > {command}\n{}",
                        path.display(),
                        diff(expected, &actual)
                    ));
                }
                rewritten.push_str(&format!("> {command}\n"));
                for l in &actual {
                    rewritten.push_str(l);
                    rewritten.push('\n');
                }
                // Keep blocks apart, so that the next command's output is never read as ours.
                if !matches!(items.get(k + 1), Some(Item::Text(t)) if t.is_empty()) {
                    rewritten.push('\n');
                }
            }
        }
    }
    if rewrite && rewritten != text {
        std::fs::write(&path, &rewritten).expect("rewrite script");
    }
    assert!(
        cluster.violations().is_empty(),
        "{name}: safety violations:\n{}",
        cluster.violations().join("\n")
    );
    if !rewrite && !failures.is_empty() {
        panic!(
            "{name}: {} block(s) differ (- expected, + actual; REWRITE=1 to accept):\n\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// A line diff of `expected` and `actual` (longest common subsequence).
fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push_str(&format!("  {}\n", expected[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", actual[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", expected[i]));
            i += 1;
        }
    }
    out
}

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];
    };
}

scripts!(election, pre_vote, check_quorum, replication, snapshot, membership, transfer);

/// A script that is not listed above would never run: refuse it.
#[test]
fn every_script_runs() {
    let dir = script_path("x").parent().unwrap().to_path_buf();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert!(SCRIPTS.contains(&stem.as_str()), "{} is not listed in scripts!", path.display());
    }
}

#[test]
fn diff_marks_missing_and_extra_lines() {
    let lines = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let d = diff(&lines(&["a", "b", "c"]), &lines(&["a", "x", "c"]));
    assert_eq!(d, "  a\n+ x\n- b\n  c\n");
}

#[test]
fn parse_splits_blocks_at_blank_lines_comments_and_commands() {
    let items = parse("# rule\n> status\n1 leader\n2 follower\n> log 1\n\n# end\n");
    let blocks: Vec<(usize, &str, usize)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Block { line, command, expected } => {
                Some((*line, command.as_str(), expected.len()))
            }
            Item::Text(_) => None,
        })
        .collect();
    assert_eq!(blocks, vec![(2, "status", 2), (5, "log 1", 0)]);
}
