//! The layout the code promises: dependencies between top-level modules run one way
//! (http → payments → ledger → resources/engine → jsonapi/db), actix is named only
//! where HTTP is handled, and no source file grows past 700 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where `actix_web` may be named: the HTTP layer, start-up, and the error and auth
/// extractors.
const ACTIX_ALLOWED: &[&str] = &["http", "server", "error", "auth"];

const MAX_LINES: usize = 700;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/http/edge/mod.rs` → `http`); `None` for
/// the crate roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// Code without comments: `//` to the end of the line (doc comments name modules freely).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules named by `crate::x` and `use crate::{x, y::…}`.
fn references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let begin = at + i;
        let start = begin + "crate::".len();
        at = start;
        // A longer identifier ending in `crate` is no path; `$crate::` in a macro belongs
        // to the module the macro expands in (the engine's macros expand in resources).
        if begin > 0
            && (bytes[begin - 1].is_ascii_alphanumeric() || matches!(bytes[begin - 1], b'_' | b'$'))
        {
            continue;
        }
        let rest = &code[start..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut from) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[from..]);
    parts
}

struct Tree {
    /// module → the modules it names
    graph: BTreeMap<String, BTreeSet<String>>,
    /// module → files naming actix_web
    actix: BTreeMap<String, Vec<PathBuf>>,
    long: Vec<(PathBuf, usize)>,
    root_names: Vec<(PathBuf, String)>,
}

fn read_tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut tree = Tree {
        graph: BTreeMap::new(),
        actix: BTreeMap::new(),
        long: Vec::new(),
        root_names: Vec::new(),
    };
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source");
        let lines = text.lines().count();
        if lines > MAX_LINES {
            tree.long.push((file.clone(), lines));
        }
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let code = code(&text);
        let named = tree.graph.entry(module.clone()).or_default();
        for name in references(&code) {
            if name == module {
                continue;
            }
            if modules.contains(&name) {
                named.insert(name);
            } else {
                // `crate::AppState` and the like hide which module they come from.
                tree.root_names.push((file.clone(), name));
            }
        }
        if code.contains("actix_web") {
            tree.actix.entry(module).or_default().push(file.clone());
        }
    }
    tree
}

/// A cycle through `start`, if any, as the path of modules.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_depend_one_way() {
    let tree = read_tree();
    assert!(
        tree.graph.contains_key("http") && tree.graph.contains_key("ledger"),
        "the layout was not read: {:?}",
        tree.graph.keys().collect::<Vec<_>>()
    );
    let cycles: Vec<Vec<String>> = tree
        .graph
        .keys()
        .filter_map(|m| cycle_from(&tree.graph, m))
        .collect();
    assert!(cycles.is_empty(), "cycles between modules: {cycles:?}");
    assert!(
        tree.root_names.is_empty(),
        "name items by their module, not through the crate root: {:?}",
        tree.root_names
    );
}

#[test]
fn actix_is_named_only_where_http_is_handled() {
    let tree = read_tree();
    let outside: Vec<_> = tree
        .actix
        .iter()
        .filter(|(m, _)| !ACTIX_ALLOWED.contains(&m.as_str()))
        .collect();
    assert!(
        outside.is_empty(),
        "actix_web below the HTTP layer: {outside:?}"
    );
    assert!(
        tree.actix.contains_key("http"),
        "the check found no actix at all"
    );
}

#[test]
fn no_source_file_is_over_700_lines() {
    let tree = read_tree();
    assert!(
        tree.long.is_empty(),
        "files over {MAX_LINES} lines: {:?}",
        tree.long
    );
}

#[test]
fn the_reader_finds_what_it_should() {
    let refs = references(
        "use crate::{auth::Auth, db::{self, x}, error};\n$crate::money::f(); notcrate::y; crate::ids::new_id()",
    );
    let want: BTreeSet<String> = ["auth", "db", "error", "ids"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    g.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        cycle_from(&g, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    g.get_mut("c").unwrap().clear();
    assert_eq!(cycle_from(&g, "a"), None);
}
