//! Every real-world file of `paste/corpus/` (directory given by
//! `RSGI_PASTE_CORPUS`) must parse, and every loadable section must
//! resolve with unknown factories treated as opaque, except the sections
//! that real PasteDeploy also fails to load (the `resolves` column of the
//! corpus's `INDEX.md`), which must fail with a clear message.

use std::collections::BTreeMap;
use std::path::Path;

use rsgi_config::{
    Builtins, Classifier, CompositeKind, FactoryRef, Model, ObjectType, Options, Protocol, ini, render_all,
};

/// Stubs for OpenStack's factories: keyed pipeline choices
/// (`pipeline_factory`, `pipeline_factory_v21`, `auth_pipeline_factory`)
/// and urlmap clones (`root_app_factory`, `urlmap_factory`,
/// `versioned_urlmap`); everything else is opaque.
struct Stub;

impl Classifier for Stub {
    fn egg_protocol(&self, factory: &FactoryRef, object: ObjectType) -> Option<Protocol> {
        Builtins.egg_protocol(factory, object)
    }

    fn composite_kind(&self, factory: &FactoryRef) -> CompositeKind {
        let attr = match factory {
            FactoryRef::Call { attr, .. } => attr.as_str(),
            FactoryRef::Entry { value } => value.rsplit(':').next().unwrap_or_default(),
            _ => return Builtins.composite_kind(factory),
        };
        match attr {
            "pipeline_factory" | "pipeline_factory_v21" | "auth_pipeline_factory" => {
                CompositeKind::KeyedPipelines { settings: vec![] }
            }
            "root_app_factory" | "urlmap_factory" | "versioned_urlmap" => CompositeKind::UrlMap,
            _ => Builtins.composite_kind(factory),
        }
    }
}

/// `INDEX.md`'s `resolves` column: file → (app-type section count, names
/// expected to fail).
fn expected_failures(index: &str) -> BTreeMap<String, (usize, Vec<String>)> {
    let mut out = BTreeMap::new();
    for line in index.lines().filter(|l| l.starts_with("| ") && l.contains('`')) {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(file), Some(resolves)) = (cols.get(2), cols.get(cols.len().saturating_sub(2))) else {
            continue;
        };
        let file = file.trim_matches('`').to_string();
        // "all 3 ok" or "2/6 fail (a, b)"
        let (count, fails) = if let Some(rest) = resolves.strip_prefix("all ") {
            (rest.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0), Vec::new())
        } else {
            let total = resolves.split(['/', ' ']).nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
            let names = resolves
                .split_once('(')
                .map(|(_, r)| r.trim_end_matches(')').split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default();
            (total, names)
        };
        out.insert(file, (count, fails));
    }
    out
}

#[test]
fn corpus_files_check() {
    let Some(dir) = std::env::var_os("RSGI_PASTE_CORPUS") else {
        eprintln!("\n*** corpus tests NOT RUN: RSGI_PASTE_CORPUS unset ***\n");
        println!("corpus tests NOT RUN: RSGI_PASTE_CORPUS unset");
        return;
    };
    let dir = Path::new(&dir);
    let index = std::fs::read_to_string(dir.join("INDEX.md")).unwrap_or_default();
    let expected = expected_failures(&index);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read RSGI_PASTE_CORPUS")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| !matches!(p.file_name().and_then(|n| n.to_str()), Some("INDEX.md" | "manifest.tsv")))
        .collect();
    files.sort();
    let (mut sections, mut failed_as_expected) = (0, 0);
    let mut problems: Vec<String> = Vec::new();
    for path in &files {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let doc = match ini::read_file(path) {
            Ok(doc) => doc,
            Err(errs) => {
                problems.push(format!("{file}: does not parse:\n{}", render_all(&errs)));
                continue;
            }
        };
        let model = Model::new(&doc, &Options::for_file(&format!("/corpus/{file}")));
        let (count, fails) = expected.get(&file).cloned().unwrap_or_default();
        let loadable = model.loadable();
        if expected.contains_key(&file) && loadable.len() != count {
            println!("{file}: note: {} loadable names, INDEX counts {count} app-type sections", loadable.len());
        }
        for l in &loadable {
            sections += 1;
            let result = model.resolve_app(&l.name, &Stub);
            match (fails.contains(&l.name), result) {
                (false, Ok(_)) => {}
                (false, Err(errs)) => problems.push(format!("{file} [{}]: fails:\n{}", l.name, render_all(&errs))),
                (true, Ok(_)) => problems.push(format!("{file} [{}]: PasteDeploy fails, rsgi resolves it", l.name)),
                (true, Err(errs)) => {
                    failed_as_expected += 1;
                    println!("{file} [{}]: fails as in PasteDeploy:\n{}\n", l.name, render_all(&errs));
                }
            }
        }
        for name in &fails {
            if !loadable.iter().any(|l| &l.name == name) {
                problems.push(format!("{file}: INDEX lists `{name}` as failing, but it is not a loadable name"));
            }
        }
        // Without expected failures, `rsgi check` of the whole file is clean.
        if fails.is_empty() {
            let errs = model.check_all(&Stub);
            if !errs.is_empty() {
                problems.push(format!("{file}: check_all:\n{}", render_all(&errs)));
            }
        }
    }
    println!(
        "corpus: {} files, {sections} loadable sections, {failed_as_expected} failing as in PasteDeploy, {} problems",
        files.len(),
        problems.len()
    );
    for p in &problems {
        println!("PROBLEM: {p}\n");
    }
    assert!(problems.is_empty(), "{} corpus problems", problems.len());
}
