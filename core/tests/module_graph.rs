//! The modules of `core` and of `web` form no cycle. Run by `just check` and `just test`.
//!
//! The nodes are a crate's modules as a reader meets them: each file or folder at the
//! top of `src`, except that a room (a folder whose `mod.rs` only declares its modules,
//! like `core/src/tenancy/`) counts each of its modules as a node. A folder module with
//! code of its own (`billing/`, `identity/sso/`, `api/`) is one node with everything
//! inside it, and the crate root's own items (`lib.rs`) are the node `lib`. Every path
//! a module names is followed to the node that defines it: `crate::tenancy::customers::
//! Customer`, `super::x`, and re-exports (`crate::Ctx` is `platform::ctx`, because
//! `lib.rs` says `pub use platform::ctx::Ctx`).

mod source;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// A crate's nodes, keyed by module path (`platform::db`, `billing`, `lib`).
struct Crate {
    /// The text of each node, test code left out (tests may reach anywhere).
    nodes: BTreeMap<String, String>,
    /// Names the crate root re-exports, and the paths they stand for.
    reexports: BTreeMap<String, Vec<String>>,
    /// Items the crate root defines itself (functions, types, macros).
    root_items: BTreeSet<String>,
}

/// A folder whose `mod.rs` holds nothing but documentation and module declarations.
fn is_room(dir: &Path) -> bool {
    let text = source::code(&dir.join("mod.rs"));
    text.lines().all(|l| {
        let l = l.trim();
        let declared = ["pub mod ", "pub(crate) mod ", "mod "].iter().any(|p| l.starts_with(p));
        l.is_empty() || l.starts_with("//") || declared && l.ends_with(';')
    })
}

fn node_text(path: &Path) -> String {
    if path.is_dir() {
        source::rust_files(path)
            .iter()
            .map(|f| source::code(f))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        source::code(path)
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

fn read_crate(src: &Path) -> Crate {
    let mut nodes = BTreeMap::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(src).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = stem(&path);
        if name == "lib" || name == "main" || !(path.is_dir() || path.extension().is_some_and(|e| e == "rs")) {
            continue;
        }
        if path.is_dir() && is_room(&path) {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect();
            children.sort();
            for child in children.into_iter().filter(|c| stem(c) != "mod") {
                nodes.insert(format!("{name}::{}", stem(&child)), node_text(&child));
            }
        } else {
            nodes.insert(name, node_text(&path));
        }
    }
    let root = source::code(&src.join("lib.rs"));
    let mut reexports = BTreeMap::new();
    // `pub use` re-exports, and the root's private imports, which its modules can name
    // as `crate::X` too.
    for statement in root.split(';') {
        let tree = statement
            .lines()
            .map(str::trim_start)
            .position(|l| l.starts_with("use ") || l.starts_with("pub use "))
            .map(|i| statement.lines().skip(i).collect::<Vec<_>>().join("\n"));
        if let Some(tree) = tree {
            let tree = tree.trim_start().trim_start_matches("pub ").trim_start_matches("use ");
            for path in expand(tree) {
                let last = path.last().cloned().unwrap_or_default();
                reexports.insert(last, path);
            }
        }
    }
    let root_items = root
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().strip_prefix("pub ").unwrap_or(l.trim_start());
            let l = l.strip_prefix("async ").unwrap_or(l);
            [
                "fn ",
                "struct ",
                "enum ",
                "trait ",
                "type ",
                "const ",
                "static ",
                "macro_rules! ",
            ]
            .iter()
            .find_map(|k| l.strip_prefix(k))
            .map(|rest| rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
        })
        .collect();
    Crate {
        nodes,
        reexports,
        root_items,
    }
}

/// The full paths a use tree names: `a::{b, c::{self, D}}` gives `a::b`, `a::c`, `a::c::D`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    fn walk(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            for part in split_top_level(inner) {
                if !part.trim().is_empty() {
                    walk(part, prefix, out);
                }
            }
            return;
        }
        match s.split_once("::") {
            Some((head, rest)) => {
                let mut p = prefix.to_vec();
                p.push(head.trim().to_owned());
                walk(rest, &p, out);
            }
            None => {
                let name = s.split(" as ").next().unwrap_or_default().trim();
                let mut p = prefix.to_vec();
                if name != "self" && name != "*" && !name.is_empty() {
                    p.push(name.to_owned());
                }
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, &[], &mut out);
    out
}

fn split_top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The use tree or path that starts at `s` (just after `crate::` or `super::`).
fn tree_at(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 && !s[i + 1..].starts_with("::") {
                    return &s[..=i];
                }
            }
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':' || c == '*') => return &s[..i],
            _ => {}
        }
    }
    s
}

/// Every path a node's text names through `crate::`, and through `super::` from `node`.
fn paths(node: &str, text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let parent: Vec<String> = node.split("::").map(str::to_owned).collect();
    let parent = &parent[..parent.len() - 1];
    for (marker, prefix) in [("crate::", &[][..]), ("super::", parent)] {
        let mut rest = text;
        while let Some(i) = rest.find(marker) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + marker.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
                continue;
            }
            for mut path in expand(tree_at(rest)) {
                let mut full = prefix.to_vec();
                full.append(&mut path);
                found.push(full);
            }
        }
    }
    found
}

/// The node a path leads to, following the root's re-exports.
fn resolve(krate: &Crate, path: &[String]) -> Option<String> {
    resolve_within(krate, path, 8)
}

fn resolve_within(krate: &Crate, path: &[String], hops: u8) -> Option<String> {
    for len in (1..=path.len()).rev() {
        let candidate = path[..len].join("::");
        if krate.nodes.contains_key(&candidate) {
            return Some(candidate);
        }
    }
    let first = path.first()?;
    if let Some(target) = krate.reexports.get(first).filter(|_| hops > 0) {
        return resolve_within(krate, target, hops - 1);
    }
    krate.root_items.contains(first).then(|| "lib".to_owned())
}

/// Each node and the nodes it uses.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let krate = read_crate(src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = krate
        .nodes
        .iter()
        .map(|(name, text)| {
            let used = paths(name, text)
                .iter()
                .filter_map(|p| resolve(&krate, p))
                .filter(|n| n != name)
                .collect();
            (name.clone(), used)
        })
        .collect();
    // The root declares every top-level module; it uses those it names.
    let root = source::code(&src.join("lib.rs"));
    let root_uses = graph
        .keys()
        .filter(|n| {
            let top = n.split("::").next().unwrap_or_default();
            root.contains(&format!("{top}::")) || root.contains(&format!("use {top}"))
        })
        .cloned()
        .collect();
    graph.insert("lib".to_owned(), root_uses);
    graph
}

/// A cycle through `start`, if any, as the path of module names.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    let mut seen = BTreeSet::new();
    walk(graph, start, start, &mut path, &mut seen).then_some(path)
}

fn cycles(crate_dir: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    let graph = graph(&src);
    graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|path| format!("{} -> {}", path.join(" -> "), path[0]))
        .collect()
}

#[test]
fn core_modules_form_no_cycle() {
    let found = cycles("core");
    assert!(found.is_empty(), "import cycles in core:\n{}", found.join("\n"));
}

#[test]
fn web_modules_form_no_cycle() {
    let found = cycles("web");
    assert!(found.is_empty(), "import cycles in web:\n{}", found.join("\n"));
}

#[test]
fn the_reader_follows_groups_re_exports_and_super() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let krate = read_crate(&src);
    let text = "use crate::{Ctx, platform::{audit::{self, Who}, mail}};\nlet x = crate::tenancy::customers::find(1);\nuse super::sessions::resolve;";
    let used: BTreeSet<String> = paths("delegation::activity", text)
        .iter()
        .filter_map(|p| resolve(&krate, p))
        .collect();
    let expected: BTreeSet<String> = [
        "platform::ctx",
        "platform::audit",
        "platform::mail",
        "tenancy::customers",
        "delegation::sessions",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(used, expected);
}

#[test]
fn a_cycle_through_a_re_export_is_found() {
    // The shape that once hid in core: ctx held a type of sso, and sso's modules used
    // `crate::Ctx`.
    let mut graph = BTreeMap::new();
    graph.insert("platform::ctx".to_owned(), BTreeSet::from(["identity::sso".to_owned()]));
    graph.insert("identity::sso".to_owned(), BTreeSet::from(["platform::ctx".to_owned()]));
    assert!(cycle_from(&graph, "platform::ctx").is_some());
}
