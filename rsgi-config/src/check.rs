//! Document-level checks, run on every load whatever name is resolved.
//!
//! The per-name rules (unknown references, pipelines, cycles, urlmap keys,
//! factories, `get`, interpolation) live where the names are resolved, in
//! `resolve.rs`; duplicates are in [`crate::raw::duplicates`].

use crate::diag::{Code, edit_distance};
use crate::model::SectionKind;
use crate::resolve::Model;
use crate::site::{Diag, Site};

/// Section headers whose kind looks like a typo of a known kind.
///
/// PasteDeploy ignores sections of unknown kinds (`[loggers]`,
/// `[uwsgi]`, ...), so only a prefix close to a known one is flagged:
/// - `[aplication:x]` → "did you mean `application`?" (edit distance ≤ 1
///   for prefixes up to 4 chars, ≤ 2 for longer ones; `[loggers]` and
///   `[pdb:x]` are left alone);
/// - `[App:main]` → kinds are case-sensitive (case D09);
/// - `[app :main]` → no space before `:`;
/// - `[app:]` → a section needs a name.
pub(crate) fn section_kinds<S: Clone>(model: &Model<'_, S>) -> Vec<Diag> {
    let mut out = Vec::new();
    for (i, head) in model.heads.iter().enumerate() {
        let Some(prefix) = &head.prefix else { continue };
        let site = Site::Header(i);
        if head.kind.is_some() {
            if head.name.is_empty() {
                out.push(
                    Diag::new(Code::UnknownSectionKind, site, format!("section `[{prefix}:]` has no name"))
                        .help(format!("name it, e.g. `[{prefix}:main]`")),
                );
            }
            continue;
        }
        if let Some(d) = kind_typo(prefix, site) {
            out.push(d);
        }
    }
    out
}

/// The diagnostic for one unknown prefix, if it is close to a known one.
fn kind_typo(prefix: &str, site: Site) -> Option<Diag> {
    let known = SectionKind::PREFIXES.iter().map(|(p, _)| *p);
    let note = "PasteDeploy ignores sections of unknown kinds, so this one would never be loaded";
    let trimmed = crate::ini::py_strip(prefix);
    if trimmed != prefix && SectionKind::from_prefix(trimmed).is_some() {
        return Some(
            Diag::new(Code::UnknownSectionKind, site, format!("unknown section kind `{prefix}`"))
                .help(format!("remove the space: `{trimmed}:`"))
                .note(note),
        );
    }
    if let Some(k) = known.clone().find(|k| k.eq_ignore_ascii_case(prefix)) {
        return Some(
            Diag::new(Code::UnknownSectionKind, site, format!("unknown section kind `{prefix}`"))
                .help(format!("section kinds are case-sensitive: did you mean `{k}`?"))
                .note(note),
        );
    }
    let limit = if prefix.chars().count() <= 4 { 1 } else { 2 };
    let best = known.map(|k| (edit_distance(prefix, k), k)).filter(|(d, _)| *d <= limit).min_by_key(|(d, _)| *d);
    best.map(|(_, k)| {
        Diag::new(Code::UnknownSectionKind, site, format!("unknown section kind `{prefix}`"))
            .help(format!("did you mean `{k}`?"))
            .note(note)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! case {
        ($name:ident: $prefix:expr => $help:expr) => {
            #[test]
            fn $name() {
                let got = kind_typo($prefix, Site::None).map(|d| d.help.join("; "));
                assert_eq!(got.as_deref(), $help);
            }
        };
    }

    case!(aplication: "aplication" => Some("did you mean `application`?"));
    case!(filter_app_underscore: "filter_app" => Some("did you mean `filter-app`?"));
    case!(pipline: "pipline" => Some("did you mean `pipeline`?"));
    case!(composites: "composites" => Some("did you mean `composite`?"));
    case!(upper: "App" => Some("section kinds are case-sensitive: did you mean `app`?"));
    case!(space: "app " => Some("remove the space: `app:`"));
    case!(unrelated: "loggers" => None);
    case!(short_far: "pdb" => None);
    case!(keystone: "keystone_authtoken" => None);
}
