//! The shape of `src/`: its rooms form no cycle, and neither do the files of `channels/`;
//! no function is longer than a screen without a reason; the glossary names files that
//! exist.
//!
//! A room is a top-level module of the crate: a file or a folder under `src/` (`lib.rs` and
//! `main.rs`, which only name the rooms, are left out). Room A depends on room B when A's
//! code, outside `#[cfg(test)]`, names `crate::B` (in a path, a `use` or a macro's tokens).
//! Inside `channels/` each file is a node, and it depends on the siblings it names through
//! `super::` or `crate::channels::`; `mod.rs`, the room's front, names its files by nature
//! and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// From each node to the nodes it names, each edge with one file that makes it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("a readable source folder")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    files
}

/// Whether `attributes` hold `#[cfg(test)]`.
fn test_only(attributes: &[syn::Attribute]) -> bool {
    attributes.iter().any(|attribute| {
        attribute.path().is_ident("cfg")
            && attribute
                .meta
                .require_list()
                .is_ok_and(|list| list.tokens.to_string() == "test")
    })
}

/// The first names after `crate::` and `super::` in one file's code outside tests.
#[derive(Default)]
struct Names {
    after_crate: BTreeSet<String>,
    after_super: BTreeSet<String>,
}

impl Names {
    fn of(path: &Path) -> Names {
        let text = std::fs::read_to_string(path).expect("a readable source file");
        let file = syn::parse_file(&text)
            .unwrap_or_else(|error| panic!("{}: not Rust: {error}", path.display()));
        let mut names = Names::default();
        names.visit_file(&file);
        names
    }

    fn record(&mut self, first: &str, second: Option<String>) {
        let Some(second) = second else { return };
        match first {
            "crate" => self.after_crate.insert(second),
            "super" => self.after_super.insert(second),
            _ => false,
        };
    }

    /// `crate::{a, b::c}`: the names right after the root, each branch of a group.
    fn use_tree(&mut self, root: &str, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => self.record(root, Some(path.ident.to_string())),
            syn::UseTree::Name(name) => self.record(root, Some(name.ident.to_string())),
            syn::UseTree::Rename(rename) => self.record(root, Some(rename.ident.to_string())),
            syn::UseTree::Group(group) => {
                for branch in &group.items {
                    self.use_tree(root, branch);
                }
            }
            syn::UseTree::Glob(_) => {}
        }
    }
}

impl<'a> Visit<'a> for Names {
    fn visit_item(&mut self, item: &'a syn::Item) {
        let attributes: &[syn::Attribute] = match item {
            syn::Item::Mod(item) => &item.attrs,
            syn::Item::Fn(item) => &item.attrs,
            syn::Item::Impl(item) => &item.attrs,
            syn::Item::Use(item) => &item.attrs,
            syn::Item::Struct(item) => &item.attrs,
            syn::Item::Enum(item) => &item.attrs,
            syn::Item::Const(item) => &item.attrs,
            syn::Item::Static(item) => &item.attrs,
            syn::Item::Trait(item) => &item.attrs,
            syn::Item::Type(item) => &item.attrs,
            _ => &[],
        };
        if !test_only(attributes) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'a syn::ImplItemFn) {
        if !test_only(&item.attrs) {
            syn::visit::visit_impl_item_fn(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'a syn::ItemUse) {
        if let syn::UseTree::Path(path) = &item.tree {
            let root = path.ident.to_string();
            if root == "crate" || root == "super" {
                self.use_tree(&root, &path.tree);
            }
        }
    }

    fn visit_path(&mut self, path: &'a syn::Path) {
        let mut segments = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string());
        if let Some(first) = segments.next() {
            self.record(&first, segments.next());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'a syn::Macro) {
        // Macro arguments are tokens, not paths: `crate :: room` as tokens print it.
        let tokens: Vec<String> = mac
            .tokens
            .to_string()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for window in tokens.windows(3) {
            if window[1] == "::" {
                let name = window[2].trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
                self.record(&window[0], Some(name.to_owned()));
            }
        }
        syn::visit::visit_macro(self, mac);
    }
}

/// The room a file under `src/` belongs to: its folder's name, or its own without `.rs`.
fn room_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).expect("under src/");
    let first = relative
        .components()
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The rooms of `src/` and what each names of the others.
fn rooms() -> Graph {
    let mut graph = Graph::new();
    let files: Vec<PathBuf> = rust_files(&src())
        .into_iter()
        .filter(|file| !["lib", "main"].contains(&room_of(file).as_str()))
        .collect();
    let rooms: BTreeSet<String> = files.iter().map(|file| room_of(file)).collect();
    for file in &files {
        let room = room_of(file);
        let edges = graph.entry(room.clone()).or_default();
        for named in Names::of(file).after_crate {
            if rooms.contains(&named) && named != room {
                edges.entry(named).or_insert_with(|| shown(file));
            }
        }
    }
    graph
}

/// `file` as the repository names it.
fn shown(file: &Path) -> String {
    file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(file)
        .display()
        .to_string()
}

/// The files of `channels/` (but its front, `mod.rs`) and which siblings each names.
fn channel_files() -> Graph {
    let folder = src().join("channels");
    let files: Vec<PathBuf> = rust_files(&folder)
        .into_iter()
        .filter(|file| file.file_name().is_some_and(|name| name != "mod.rs"))
        .collect();
    let name_of = |file: &Path| {
        file.file_stem()
            .expect("a file name")
            .to_string_lossy()
            .into_owned()
    };
    let siblings: BTreeSet<String> = files.iter().map(|file| name_of(file)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let this = name_of(file);
        let names = Names::of(file);
        let text = std::fs::read_to_string(file).expect("readable");
        let through_crate = siblings
            .iter()
            .filter(|sibling| text.contains(&format!("crate::channels::{sibling}")))
            .cloned();
        let edges = graph.entry(this.clone()).or_default();
        for named in names.after_super.into_iter().chain(through_crate) {
            if siblings.contains(&named) && named != this {
                edges.entry(named).or_insert_with(|| shown(file));
            }
        }
    }
    graph
}

/// The strongly connected groups of more than one node (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Search<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Search<'g> {
        fn visit(&mut self, node: &'g str) {
            let number = self.index.len();
            self.index.insert(node, number);
            self.low.insert(node, number);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flat_map(BTreeMap::keys) {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    group.push(member.to_owned());
                    if member == node {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    search.found
}

/// Each cycle with the edges inside it and a file that makes each.
fn described(graph: &Graph, groups: &[Vec<String>]) -> String {
    let mut text = String::new();
    for group in groups {
        text.push_str(&format!("\ncycle among {}:\n", group.join(", ")));
        for from in group {
            for (to, file) in graph.get(from).into_iter().flatten() {
                if group.contains(to) {
                    text.push_str(&format!("  {from} -> {to} (e.g. {file})\n"));
                }
            }
        }
    }
    text
}

/// The graph, one line per node with what it names (`--nocapture` prints it).
fn listed(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(from, to)| {
            let named: Vec<&str> = to.keys().map(String::as_str).collect();
            format!("{from} -> {}\n", named.join(" "))
        })
        .collect()
}

/// Prints `graph`, checks it found `what`, and fails naming any cycle in it.
fn assert_acyclic(graph: &Graph, what: &str) {
    print!("{}", listed(graph));
    assert!(graph.len() > 10, "found the {what}: {graph:?}");
    let groups = cycles(graph);
    assert!(groups.is_empty(), "{}", described(graph, &groups));
}

#[test]
fn the_rooms_form_no_cycle() {
    assert_acyclic(&rooms(), "rooms");
}

#[test]
fn the_files_of_channels_form_no_cycle() {
    assert_acyclic(&channel_files(), "files of channels/");
}

#[test]
fn a_cycle_is_found_and_named() {
    let graph: Graph = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a", "d"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(from, to)| {
        let edges = to
            .into_iter()
            .map(|to| (to.to_owned(), format!("{from}.rs")))
            .collect();
        (from.to_owned(), edges)
    })
    .collect();
    let groups = cycles(&graph);
    assert_eq!(groups, vec![vec!["a", "b", "c"]]);
    assert!(described(&graph, &groups).contains("c -> a (e.g. c.rs)"));
}

/// Every file and folder the glossary of `docs/architecture.md` points at is in `src/` (or
/// `tests/`): the glossary cannot name a room or a file that has moved.
#[test]
fn the_glossary_names_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture =
        std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let glossary = architecture
        .split("## Glossary")
        .nth(1)
        .expect("a glossary in docs/architecture.md");
    let mut named = 0;
    for path in glossary
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|text| text.ends_with(".rs") || text.ends_with('/'))
    {
        let path = path.split_whitespace().next().expect("a path");
        let found = [src().join(path), root.join(path)]
            .iter()
            .any(|candidate| candidate.exists());
        assert!(found, "the glossary names {path}, which is not in src/");
        named += 1;
    }
    assert!(
        named >= 10,
        "the glossary names the files it means ({named} found)"
    );
}

/// The longest a function in `src/` may be, in lines, unless a comment above it says why
/// (starting "Longer than 80 lines"): about 80, a screen a reader takes in at once.
const LONGEST_FUNCTION: usize = 90;

/// Every function of `src/` outside its tests is at most [`LONGEST_FUNCTION`] lines, or
/// says above it why it is longer.
#[test]
fn no_function_is_longer_than_a_screen_without_a_reason() {
    let mut long = Vec::new();
    for file in rust_files(&src()) {
        let text = std::fs::read_to_string(&file).expect("a source file");
        let lines: Vec<&str> = text.lines().collect();
        // Unit tests are at the end of a file, in `mod tests`.
        let end = lines
            .iter()
            .position(|line| line.starts_with("mod tests"))
            .unwrap_or(lines.len());
        for (start, line) in lines[..end].iter().enumerate() {
            let code = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(super) fn ",
                "pub(super) async fn ",
                "pub(crate) fn ",
                "pub(crate) async fn ",
                "const fn ",
            ]
            .iter()
            .any(|prefix| code.starts_with(prefix));
            if !is_fn || code.ends_with(';') {
                continue;
            }
            let indent = &line[..line.len() - code.len()];
            let close = format!("{indent}}}");
            let Some(length) = lines[start..end].iter().position(|line| *line == close) else {
                continue;
            };
            let reason = lines[..start]
                .iter()
                .rev()
                .take_while(|line| {
                    line.trim_start().starts_with("///") || line.trim_start().starts_with("#[")
                })
                .any(|line| line.contains("Longer than 80 lines"));
            if length + 1 > LONGEST_FUNCTION && !reason {
                let relative = file
                    .strip_prefix(src())
                    .expect("under src/")
                    .display()
                    .to_string();
                long.push(format!("{relative}:{} ({} lines)", start + 1, length + 1));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {LONGEST_FUNCTION} lines without a reason above them: {}",
        long.join(", ")
    );
}
