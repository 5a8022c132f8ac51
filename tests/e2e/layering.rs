//! The host's modules depend on each other one way, as docs/architecture.md
//! draws them: this reads every `crate::MODULE` path in host/src and fails
//! on an import from a higher layer, or on a cycle within a layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom first. A module may use modules of its own layer or
/// below; within a layer, the uses must not form a cycle.
const LAYERS: &[&[&str]] = &[
    &["config", "contract", "avro", "error", "storage"],
    &["capability"],
    &["runtime"],
    &["envelope", "observe", "operator"],
    &[
        "dead_letter",
        "source",
        "transform",
        "join",
        "window",
        "sink",
    ],
    &["checkpoint"],
    &["pipeline"],
    &["admin"],
    &["devtools", "fuzzing"],
    &["cli"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file of host/src belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Every `crate::NAME` in the text, and every NAME in `crate::{A, B::…}`.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            used.insert(ident(rest));
        }
    }
    used
}

#[test]
fn modules_import_only_downwards_and_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for used in used_modules(&text) {
            if used != module {
                edges.entry(module.clone()).or_default().insert(used);
            }
        }
    }
    let mut wrong = Vec::new();
    for (module, uses) in &edges {
        let Some(own) = layer(module) else {
            wrong.push(format!(
                "{module}: not in any layer (add it to LAYERS and docs/architecture.md)"
            ));
            continue;
        };
        for used in uses {
            match layer(used) {
                None => wrong.push(format!("{module} uses {used}, which is in no layer")),
                Some(l) if l > own => wrong.push(format!(
                    "{module} (layer {own}) uses {used} (layer {l}, above it)"
                )),
                _ => {}
            }
        }
    }
    // Cycles: a depth-first search over the use graph.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            cycles.push(format!("{} → {node}", path[at..].join(" → ")));
            return;
        }
        if !done.insert(node.to_string()) {
            return;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        visit(module, &edges, &mut Vec::new(), &mut done, &mut cycles);
    }
    wrong.extend(cycles.into_iter().map(|c| format!("cycle: {c}")));
    assert!(
        wrong.is_empty(),
        "module layering broken:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layering_check_sees_imports() {
    let used = used_modules("use crate::config::{self, X};\nuse crate::{runtime, sink::Y};");
    assert_eq!(
        used,
        BTreeSet::from(["config".into(), "runtime".into(), "sink".into()])
    );
}
