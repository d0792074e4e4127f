//! `--stub-unknown`: the shape of composite factories nobody registered,
//! read from the sections that use them.
//!
//! A composite section whose every setting is a path (`/v2 = api`) is a
//! urlmap clone (Cinder's, Glance's, Manila's `root_app_factory`); one whose
//! every setting lists known sections (`keystone = authtoken api`) is a keyed
//! pipeline choice (OpenStack's `pipeline_factory`). Anything else stays
//! opaque and becomes an echo app.

use std::collections::{BTreeMap, BTreeSet};

use rsgi_config::{CompositeKind, Loc, RawDocument, RawSection, SectionKind};

use super::registry::normalize;

/// Keys that configure the section itself, not the factory.
fn is_meta(key: &str) -> bool {
    key == "use"
        || key == "filter-with"
        || key == "require"
        || key.starts_with("paste.")
        || key.starts_with("set ")
        || key.starts_with("get ")
}

/// The factory a composite section names, as the model spells it
/// (`egg:Dist#entry`, `call:m:f`, `m:f`), normalized; `None` for a
/// `use = section`.
fn factory_of(section: &RawSection<Loc>) -> Option<String> {
    if let Some(e) = section.get("use") {
        let v = e.value.trim();
        let absolute = v
            .split_once(':')
            .is_some_and(|(scheme, _)| !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()));
        return absolute.then(|| normalize(v));
    }
    ["paste.composite_factory", "paste.composit_factory"]
        .iter()
        .find_map(|k| section.get(k))
        .map(|e| normalize(e.value.trim()))
}

/// Guesses the shape of every composite factory used in `doc` from its
/// sections; factories whose sections disagree are left out (opaque).
pub(crate) fn guess_composites(doc: &RawDocument<Loc>) -> BTreeMap<String, CompositeKind> {
    let defaults: BTreeSet<&str> = doc
        .sections
        .iter()
        .filter(|s| s.header == "DEFAULT")
        .flat_map(|s| s.entries.iter().map(|e| e.key.as_str()))
        .collect();
    let names: BTreeSet<&str> = doc
        .sections
        .iter()
        .filter_map(|s| {
            let (prefix, name) = s.header.split_once(':')?;
            SectionKind::from_prefix(prefix).map(|_| name.trim())
        })
        .collect();
    let mut out: BTreeMap<String, Option<CompositeKind>> = BTreeMap::new();
    for section in &doc.sections {
        let Some((prefix, _)) = section.header.split_once(':') else {
            continue;
        };
        let composite = SectionKind::from_prefix(prefix) == Some(SectionKind::Composite)
            || section.entries.iter().any(|e| e.key.starts_with("paste.composit"));
        if !composite {
            continue;
        }
        let Some(factory) = factory_of(section) else {
            continue;
        };
        let settings: Vec<(&str, &str)> = section
            .entries
            .iter()
            .filter(|e| !is_meta(&e.key) && !defaults.contains(e.key.as_str()))
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        let kind = shape(&settings, &names);
        let slot = out.entry(factory).or_insert_with(|| kind.clone());
        if *slot != kind {
            *slot = None;
        }
    }
    out.into_iter().filter_map(|(k, v)| Some((k, v?))).collect()
}

fn shape(settings: &[(&str, &str)], names: &BTreeSet<&str>) -> Option<CompositeKind> {
    if settings.is_empty() {
        return None;
    }
    let is_path = |k: &str| k.starts_with('/') || k.starts_with("domain ") || k == "not_found_app";
    if settings.iter().all(|(k, _)| is_path(k)) {
        return Some(CompositeKind::UrlMap);
    }
    let is_ref = |w: &str| names.contains(w) || w.starts_with("egg:");
    let pipelines = settings.iter().all(|(_, v)| {
        let words: Vec<&str> = v.split_whitespace().collect();
        !words.is_empty() && words.iter().all(|w| is_ref(w))
    });
    pipelines.then(|| CompositeKind::KeyedPipelines { settings: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_urlmaps_and_pipeline_choices() {
        let doc = rsgi_config::ini::parse(
            "[DEFAULT]\nauth_strategy = noauth\n\
             [composite:root]\nuse = call:cinder.api:root_app_factory\n/: versions\n/v3: api\n\
             [composite:api]\nuse = call:cinder.api.middleware.auth:pipeline_factory\nnoauth = cors versions\nkeystone = cors authtoken versions\n\
             [composite:remote]\nuse = egg:FakeApp#remote_addr\napp.1 = versions\naddr.1 = 127.0.0.1\n\
             [filter:cors]\nuse = egg:x#y\n[filter:authtoken]\nuse = egg:x#z\n[app:versions]\nuse = egg:x#v\n",
            "a.ini",
        )
        .unwrap();
        let got = guess_composites(&doc);
        assert_eq!(got.get("call:cinder.api:root_app_factory"), Some(&CompositeKind::UrlMap));
        assert_eq!(
            got.get("call:cinder.api.middleware.auth:pipeline_factory"),
            Some(&CompositeKind::KeyedPipelines { settings: Vec::new() })
        );
        assert_eq!(got.get("egg:fakeapp#remote_addr"), None);
    }
}
