//! The engine's shape, checked: each top-level module uses only the layers below it, and no two
//! modules under one parent use each other, directly or round a circle. Read from the source
//! files, so a new `use` that breaks the shape fails `cargo test` with the path that did it.
//!
//! A module may use its ancestors (a backend uses its parent's trait); test code is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the ones it may use. `python` (the bindings) may use anything.
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("clock", &[]),
    ("config", &["error"]),
    ("job", &["error", "clock"]),
    ("store", &["error", "clock", "config", "job"]),
    ("queue", &["error", "clock", "config", "job", "store"]),
    (
        "embedded",
        &["error", "clock", "config", "job", "store", "queue"],
    ),
    (
        "connect",
        &["error", "config", "store", "queue", "embedded"],
    ),
    ("progress", &["error", "clock", "job", "store"]),
    ("client", &["error", "clock", "job", "store", "queue"]),
    (
        "fleet",
        &["error", "clock", "job", "store", "queue", "client"],
    ),
    (
        "worker",
        &[
            "error", "clock", "config", "job", "store", "queue", "progress", "fleet",
        ],
    ),
];

/// `worker::claim` for `src/worker/claim.rs`, `worker` for `src/worker/mod.rs`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The paths a line names after `crate::` or `super::`, as (prefix, segments); a group
/// (`super::{a::X, b}`) gives one path per member, its first segment.
fn paths_in(line: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    for prefix in ["crate::", "super::"] {
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `super::super::`, or part of a longer path
            }
            let prefix: &'static str = if prefix == "crate::" {
                "crate"
            } else {
                "super"
            };
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        c if start && !c.is_whitespace() => {
                            start = false;
                            let name = ident(&group[i..]);
                            if !name.is_empty() && name != "self" {
                                out.push((prefix, vec![name.to_owned()]));
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                let segs: Vec<String> = rest
                    .split("::")
                    .map(ident)
                    .take_while(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if !segs.is_empty() {
                    out.push((prefix, segs));
                }
            }
        }
    }
    out
}

/// Every use of one module by another: (user, used), both module paths.
fn uses() -> Vec<(Vec<String>, Vec<String>, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut found = Vec::new();
    for file in &files {
        let me = module_of(&src, file);
        if me
            .iter()
            .any(|p| p == "tests" || p.ends_with("_tests") || p == "testserver" || p == "layers")
        {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            let line = line.trim_start();
            if line.starts_with("#[cfg(test)]") {
                break; // a file's tests come last
            }
            if line.starts_with("//") {
                continue;
            }
            for (prefix, segs) in paths_in(line) {
                let mut path = if prefix == "crate" {
                    Vec::new()
                } else if file.ends_with("mod.rs") {
                    me[..me.len().saturating_sub(1)].to_vec()
                } else {
                    me[..me.len() - 1].to_vec()
                };
                let mut target = path.clone();
                for s in segs {
                    path.push(s);
                    if modules.contains(&path) {
                        target = path.clone();
                    }
                }
                if !target.is_empty() && target != me {
                    found.push((me.clone(), target, format!("{}: {line}", file.display())));
                }
            }
        }
    }
    found
}

/// The two distinct siblings under the users' lowest common ancestor, or None when one of the
/// two is an ancestor of the other.
fn siblings(a: &[String], b: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if common == a.len() || common == b.len() {
        return None;
    }
    Some((a[..=common].to_vec(), b[..=common].to_vec()))
}

#[test]
fn each_top_level_module_uses_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (user, used, at) in uses() {
        let (u, d) = (user[0].as_str(), used[0].as_str());
        if u == d || u == "python" {
            continue;
        }
        match allowed.get(u) {
            Some(ok) if ok.contains(&d) => {}
            Some(_) => wrong.push(format!("{u} uses {d}: {at}")),
            None => wrong.push(format!(
                "{u} is not in LAYERS (add it where it belongs): {at}"
            )),
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_modules_use_each_other_in_a_circle() {
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (user, used, _) in uses() {
        if let Some((a, b)) = siblings(&user, &used) {
            edges.entry(a).or_default().insert(b);
        }
    }
    // A depth-first walk; a node met again while still on the path closes a circle.
    fn walk(
        n: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut circle = path[at..].to_vec();
            circle.push(n.clone());
            return Some(circle);
        }
        if !done.insert(n.clone()) {
            return None;
        }
        path.push(n.clone());
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = walk(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        if let Some(circle) = walk(n, &edges, &mut Vec::new(), &mut done) {
            let names: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
            panic!("modules use each other in a circle: {}", names.join(" -> "));
        }
    }
}
