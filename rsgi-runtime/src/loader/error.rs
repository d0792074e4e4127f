//! [`LoadError`]: every error of a deployment, each with `file:line` and
//! its section, rendered like rustc's.

use std::fmt;

use rsgi_config::{Code, Diagnostic, Loc, RawDocument};

/// What kind of mistake a [`LoadDiagnostic`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Found by the model (syntax, unknown sections, cycles, ...): the
    /// shared checker's code.
    Config(Code),
    /// A factory the registry does not know.
    UnknownFactory,
    /// A factory of the wrong kind (an app factory used as a filter, ...).
    WrongFactory,
    /// A setting the factory does not take, or a value of the wrong type.
    Setting,
    /// A factory failed to build.
    Factory,
    /// A keyed composite whose configured value names no alternative.
    Choice,
    /// A urlmap key the router rejects.
    UrlMap,
    /// A `[server:…]` setting with a bad value.
    Server,
}

/// One error of a deployment: a lowercase message, the location of the
/// offending token (`file:line`), the section it is in, and hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadDiagnostic {
    /// The kind of mistake.
    pub kind: ErrorKind,
    /// The message, lowercase, code in backticks.
    pub message: String,
    /// Where, when known.
    pub loc: Option<Loc>,
    /// The section header it is in (`filter:sizelimit`), when known.
    pub section: Option<String>,
    /// Related locations and what happened there.
    pub labels: Vec<(Loc, String)>,
    /// Background.
    pub notes: Vec<String>,
    /// Fixes.
    pub help: Vec<String>,
}

impl LoadDiagnostic {
    /// A diagnostic with no hints.
    pub fn new(kind: ErrorKind, message: impl Into<String>, loc: Option<Loc>, section: Option<String>) -> Self {
        LoadDiagnostic {
            kind,
            message: message.into(),
            loc,
            section,
            labels: Vec::new(),
            notes: Vec::new(),
            help: Vec::new(),
        }
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Adds a note line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// A model diagnostic, with the section found from its line.
    pub(crate) fn from_config(d: Diagnostic<Loc>, doc: Option<&RawDocument<Loc>>) -> Self {
        let section = match (&d.loc, doc) {
            (Some(loc), Some(doc)) => section_at(doc, loc),
            _ => None,
        };
        LoadDiagnostic {
            kind: ErrorKind::Config(d.code),
            message: d.message,
            loc: d.loc,
            section,
            labels: d.labels.into_iter().map(|l| (l.loc, l.message)).collect(),
            notes: d.notes,
            help: d.help,
        }
    }
}

/// The header of the section `loc` is in (the last header at or above its
/// line in its file).
pub(crate) fn section_at(doc: &RawDocument<Loc>, loc: &Loc) -> Option<String> {
    doc.sections
        .iter()
        .filter(|s| s.header_loc.file == loc.file && s.header_loc.line <= loc.line)
        .max_by_key(|s| s.header_loc.line)
        .map(|s| s.header.clone())
}

impl fmt::Display for LoadDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        match (&self.loc, &self.section) {
            (Some(loc), Some(section)) => write!(f, "\n  --> {loc} in [{section}]")?,
            (Some(loc), None) => write!(f, "\n  --> {loc}")?,
            (None, Some(section)) => write!(f, "\n  --> [{section}]")?,
            (None, None) => {}
        }
        for (loc, message) in &self.labels {
            write!(f, "\nnote: {message}\n  --> {loc}")?;
        }
        for note in &self.notes {
            write!(f, "\n  = note: {note}")?;
        }
        for help in &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// Why a deployment could not be loaded: every error found, in order.
///
/// Displays each error rustc-style, then a summary line.
///
/// # Examples
///
/// ```
/// use rsgi::loader::{Registry, loadapp_str};
///
/// let err = loadapp_str("[app:main]\nuse = egg:rsgi#echoo\n", "api-paste.ini", "main", &Registry::default()).unwrap_err();
/// let text = err.to_string();
/// assert!(text.starts_with("error: unknown app factory `egg:rsgi#echoo`\n  --> api-paste.ini:2 in [app:main]"), "{text}");
/// assert!(text.ends_with("error: could not load the deployment due to 1 previous error"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The errors, at least one.
    pub errors: Vec<LoadDiagnostic>,
}

impl LoadError {
    pub(crate) fn from_config(diags: Vec<Diagnostic<Loc>>, doc: Option<&RawDocument<Loc>>) -> Self {
        let mut errors: Vec<LoadDiagnostic> = diags.into_iter().map(|d| LoadDiagnostic::from_config(d, doc)).collect();
        if errors.is_empty() {
            errors.push(LoadDiagnostic::new(ErrorKind::Factory, "the deployment could not be resolved", None, None));
        }
        LoadError { errors }
    }

    /// Whether any error is of `kind`.
    pub fn has(&self, kind: ErrorKind) -> bool {
        self.errors.iter().any(|e| e.kind == kind)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            write!(f, "{e}\n\n")?;
        }
        let n = self.errors.len();
        write!(f, "error: could not load the deployment due to {n} previous error{}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for LoadError {}
