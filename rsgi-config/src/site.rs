//! Internal locations and the error accumulator.
//!
//! While resolving, locations are small `Copy` indices into the raw
//! document ([`Site`]); they become the front end's `S` only when a
//! diagnostic or a node is handed out. That keeps `S: Clone` the only bound
//! and lets identical errors (a section resolved twice) be reported once.

use std::collections::BTreeSet;

use crate::diag::{Code, Diagnostic, Label};
use crate::raw::RawDocument;

/// A token of the raw document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Site {
    /// No token (a name given by the caller, a value from the global conf).
    None,
    /// A section header.
    Header(usize),
    /// The key of entry `.1` of section `.0`.
    Key(usize, usize),
    /// The value of entry `.1` of section `.0`.
    Value(usize, usize),
    /// Word `.2` of the value of entry `.1` of section `.0`.
    Word(usize, usize, usize),
    /// Part `.2` of the key of entry `.1` of section `.0` (a route's
    /// method or pattern).
    KeyWord(usize, usize, usize),
}

impl Site {
    /// The front end's location for this site.
    pub(crate) fn loc<S: Clone>(self, doc: &RawDocument<S>) -> Option<S> {
        match self {
            Site::None => None,
            Site::Header(s) => doc.sections.get(s).map(|s| s.header_loc.clone()),
            Site::Key(s, e) => doc.sections.get(s)?.entries.get(e).map(|e| e.key_loc.clone()),
            Site::Value(s, e) => doc.sections.get(s)?.entries.get(e).map(|e| e.value_loc.clone()),
            Site::Word(s, e, w) => doc.sections.get(s)?.entries.get(e).map(|e| e.word_loc(w)),
            Site::KeyWord(s, e, w) => doc.sections.get(s)?.entries.get(e).map(|e| e.key_word_loc(w)),
        }
    }
}

/// A diagnostic under construction, located by [`Site`].
#[derive(Debug, Clone)]
pub(crate) struct Diag {
    pub(crate) code: Code,
    pub(crate) message: String,
    pub(crate) site: Site,
    pub(crate) labels: Vec<(Site, String)>,
    pub(crate) help: Vec<String>,
    pub(crate) notes: Vec<String>,
}

impl Diag {
    pub(crate) fn new(code: Code, site: Site, message: impl Into<String>) -> Self {
        Diag { code, message: message.into(), site, labels: Vec::new(), help: Vec::new(), notes: Vec::new() }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    pub(crate) fn help_opt(self, help: Option<String>) -> Self {
        match help {
            Some(h) => self.help(h),
            None => self,
        }
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub(crate) fn label(mut self, site: Site, message: impl Into<String>) -> Self {
        self.labels.push((site, message.into()));
        self
    }

    pub(crate) fn into_diagnostic<S: Clone>(self, doc: &RawDocument<S>) -> Diagnostic<S> {
        Diagnostic {
            code: self.code,
            message: self.message,
            loc: self.site.loc(doc),
            labels: self
                .labels
                .into_iter()
                .filter_map(|(site, message)| site.loc(doc).map(|loc| Label { loc, message }))
                .collect(),
            help: self.help,
            notes: self.notes,
        }
    }
}

/// The error accumulator: keeps every error once, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    list: Vec<Diag>,
    seen: BTreeSet<(Site, String)>,
}

impl Diags {
    /// Records `d` unless the same message was already recorded at the
    /// same site (a section reached along two paths).
    pub(crate) fn push(&mut self, d: Diag) {
        if self.seen.insert((d.site, d.message.clone())) {
            self.list.push(d);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<Diag> {
        self.list
    }
}
