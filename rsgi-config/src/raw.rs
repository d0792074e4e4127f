//! The raw document: sections of `key = value` entries, exactly as written,
//! each token with its location.
//!
//! Both front ends produce it: [`crate::ini`] from a file (`S` = [`crate::Loc`])
//! and the `deploy!` macro from Rust tokens (`S` = a span). Nothing is
//! interpreted yet: no prefixes, no interpolation, duplicates are kept (see
//! [`duplicates`]).

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic};

/// The name of the defaults section. Exact case: `[default]` is an ordinary
/// section (PasteDeploy case D77).
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// A whole deployment description, sections in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDocument<S> {
    /// The sections, in source order, duplicates included.
    pub sections: Vec<RawSection<S>>,
}

/// One `[header]` and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSection<S> {
    /// The text between the brackets, untrimmed (`app:  main  `).
    pub header: String,
    /// Where the header is.
    pub header_loc: S,
    /// The entries, in source order, duplicates included.
    pub entries: Vec<RawEntry<S>>,
}

/// One `key = value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry<S> {
    /// The key, case kept, trimmed.
    pub key: String,
    /// Where the key is.
    pub key_loc: S,
    /// The raw value (not interpolated); continuation lines joined with `\n`.
    pub value: String,
    /// Where the value starts.
    pub value_loc: S,
    /// Either empty, or one location per whitespace-separated word of
    /// `value` (so a pipeline item on a continuation line, or an ident in a
    /// `deploy!` list, gets its own location).
    pub word_locs: Vec<S>,
    /// Either empty, or one location per part of the key where a front
    /// end knows them: for a route line (`GET|HEAD "/x"`), each method
    /// then the pattern.
    pub key_word_locs: Vec<S>,
}

impl<S> RawDocument<S> {
    /// An empty document.
    pub fn new() -> Self {
        RawDocument { sections: Vec::new() }
    }
}

impl<S> Default for RawDocument<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> RawSection<S> {
    /// The first entry with this exact key.
    pub fn get(&self, key: &str) -> Option<&RawEntry<S>> {
        self.entries.iter().find(|e| e.key == key)
    }
}

impl<S: Clone> RawEntry<S> {
    /// The location of the `i`-th word of the value: its own location when
    /// the front end recorded one, else the value's.
    pub fn word_loc(&self, i: usize) -> S {
        self.word_locs.get(i).unwrap_or(&self.value_loc).clone()
    }

    /// The location of the `i`-th part of the key: its own location when
    /// the front end recorded one, else the key's.
    pub fn key_word_loc(&self, i: usize) -> S {
        self.key_word_locs.get(i).unwrap_or(&self.key_loc).clone()
    }
}

/// Duplicate sections and duplicate keys, as CPython's `strict=True`
/// configparser rejects them, in every section (even ones never loaded).
///
/// Rules (PasteDeploy cases D66, D67):
/// - `[app:main]` twice → "duplicate section `app:main`" at the second, with
///   a "first defined here" label at the first.
/// - `x = 1` then `x = 2` in one section → "duplicate option `x` in section
///   `app:main`".
/// - `[DEFAULT]` may appear several times (configparser merges it), but a
///   key repeated across those blocks is still a duplicate.
pub fn duplicates<S: Clone>(doc: &RawDocument<S>) -> Vec<Diagnostic<S>> {
    let mut out = Vec::new();
    let mut headers: BTreeMap<&str, &S> = BTreeMap::new();
    let mut default_keys: BTreeMap<&str, &S> = BTreeMap::new();
    for section in &doc.sections {
        let is_default = section.header == DEFAULT_SECTION;
        if !is_default {
            if let Some(first) = headers.get(section.header.as_str()) {
                out.push(
                    Diagnostic::new(
                        Code::DuplicateSection,
                        format!("duplicate section `{}`", section.header),
                        Some(section.header_loc.clone()),
                    )
                    .with_label((*first).clone(), "first defined here")
                    .with_help("rename one of them, or merge their settings"),
                );
            } else {
                headers.insert(&section.header, &section.header_loc);
            }
        }
        let mut local: BTreeMap<&str, &S> = BTreeMap::new();
        let keys = if is_default { &mut default_keys } else { &mut local };
        // Route lines have their own duplicate rule (same method and
        // pattern, `GET|POST "/x"` against `GET "/x"`): see `crate::routes`.
        let is_routes = section.header.split_once(':').is_some_and(|(p, _)| p == "routes");
        for entry in section.entries.iter().filter(|e| !is_routes || e.key == "filter-with") {
            if let Some(first) = keys.get(entry.key.as_str()) {
                out.push(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        format!("duplicate option `{}` in section `{}`", entry.key, section.header),
                        Some(entry.key_loc.clone()),
                    )
                    .with_label((*first).clone(), "first defined here"),
                );
            } else {
                keys.insert(&entry.key, &entry.key_loc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(sections: &[(&str, &[&str])]) -> RawDocument<u32> {
        let mut line = 0;
        let mut next = || {
            line += 1;
            line
        };
        RawDocument {
            sections: sections
                .iter()
                .map(|(h, keys)| RawSection {
                    header: h.to_string(),
                    header_loc: next(),
                    entries: keys
                        .iter()
                        .map(|k| {
                            let l = next();
                            RawEntry {
                                key: k.to_string(),
                                key_loc: l,
                                value: String::new(),
                                value_loc: l,
                                word_locs: vec![],
                                key_word_locs: vec![],
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    macro_rules! case {
        ($name:ident: $doc:expr => [$(($code:ident, $msg:expr, $loc:expr, $first:expr)),* $(,)?]) => {
            #[test]
            fn $name() {
                let got: Vec<_> = duplicates(&doc($doc))
                    .into_iter()
                    .map(|d| (d.code, d.message, d.loc.unwrap(), d.labels[0].loc))
                    .collect();
                let want: Vec<(Code, String, u32, u32)> = vec![$((Code::$code, $msg.to_string(), $loc, $first)),*];
                assert_eq!(got, want);
            }
        };
    }

    case!(none: &[("app:a", &["x", "y"]), ("app:b", &["x"])] => []);
    case!(dup_section: &[("app:a", &[]), ("app:a", &[])] => [(DuplicateSection, "duplicate section `app:a`", 2, 1)]);
    case!(dup_key: &[("composite:main", &["/v2", "/v2"])] =>
        [(DuplicateKey, "duplicate option `/v2` in section `composite:main`", 3, 2)]);
    case!(default_twice_ok: &[("DEFAULT", &["a"]), ("DEFAULT", &["b"])] => []);
    case!(default_key_across_blocks: &[("DEFAULT", &["a"]), ("DEFAULT", &["a"])] =>
        [(DuplicateKey, "duplicate option `a` in section `DEFAULT`", 4, 2)]);
    case!(case_kept: &[("app:a", &["X", "x"])] => []);
}
