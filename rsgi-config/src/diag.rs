//! Diagnostics: every error the parser and the checker report.
//!
//! A [`Diagnostic`] carries the location of the smallest offending token as
//! a generic `S` (a [`Loc`] for ini files, a span for the proc-macro), so
//! nothing here needs `S: Display` except the rendering in [`fmt::Display`].

use std::fmt;
use std::sync::Arc;

/// A position in an ini file: the file name and a 1-based line number.
///
/// Displays as `file:line`, the way compilers print locations.
///
/// # Examples
///
/// ```
/// use rsgi_config::Loc;
/// let loc = Loc::new("api-paste.ini", 12);
/// assert_eq!(loc.to_string(), "api-paste.ini:12");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    /// The file name as given to the parser.
    pub file: Arc<str>,
    /// The 1-based line number.
    pub line: u32,
}

impl Loc {
    /// A location in `file` at `line`.
    pub fn new(file: impl Into<Arc<str>>, line: u32) -> Self {
        Loc { file: file.into(), line }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// What kind of mistake a [`Diagnostic`] reports.
///
/// Stable enough for tests and for mapping to PasteDeploy's exception
/// classes; the text of the message is for humans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Code {
    /// An ini line that is neither a section header, an option, a comment nor
    /// a continuation; or a file that is not UTF-8.
    Syntax,
    /// The file could not be read.
    Io,
    /// Two sections with the same header.
    DuplicateSection,
    /// Two options with the same key in one section.
    DuplicateKey,
    /// A `%(name)s` interpolation that fails (bare `%`, unknown name, too deep).
    Interpolation,
    /// A reference to a section that does not exist (or of the wrong kind).
    UnknownSection,
    /// A name that matches sections of two different kinds.
    AmbiguousSection,
    /// A section header whose kind looks like a typo of a known kind.
    UnknownSectionKind,
    /// A URI scheme other than `egg:`, `call:` and `config:`.
    UnknownScheme,
    /// A feature PasteDeploy has that rsgi does not (yet), such as `config:`.
    Unsupported,
    /// A section with no factory (`use` or `paste.*_factory`).
    NoFactory,
    /// A section with two factories.
    MultipleFactories,
    /// A `call:` factory where the calling convention cannot be known
    /// (pipeline item, `next`, `filter-app`, ...).
    CallNotAllowed,
    /// A pipeline without a `pipeline` key, empty, ending in a filter, with an
    /// app before its end, or with other settings.
    Pipeline,
    /// A `filter-app` section without `next`.
    MissingNext,
    /// `filter-with` on a section whose result it cannot wrap.
    FilterWith,
    /// A reference cycle.
    Cycle,
    /// `get x = name` where no global setting `name` exists.
    UndefinedGlobal,
    /// A urlmap key that is not a valid path expression.
    UrlMapKey,
    /// Two urlmap keys that normalise to the same mount.
    DuplicateMount,
    /// A pipeline choice of a keyed composite that is empty or unknown.
    Choice,
    /// The deployment nests too deep or grows too large to resolve.
    TooLarge,
    /// A line of a `[routes:…]` section that is no route, an unknown
    /// method, an invalid pattern, or a handler that is not one name.
    Route,
    /// Two routes whose patterns conflict, or the same method and pattern
    /// twice.
    RouteConflict,
}

/// A secondary location with a message, such as "first defined here".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label<S> {
    /// Where.
    pub loc: S,
    /// What happened there, lowercase, no trailing period.
    pub message: String,
}

/// One error, rustc style: a lowercase message with code in backticks, the
/// location of the smallest offending token, secondary labels and hints.
///
/// # Examples
///
/// ```
/// use rsgi_config::{Code, Diagnostic, Loc};
/// let d = Diagnostic::new(Code::UnknownSection, "unknown filter `servres`", Some(Loc::new("a.ini", 3)))
///     .with_help("did you mean `servers`?");
/// assert_eq!(d.to_string(), "error: unknown filter `servres`\n  --> a.ini:3\n  = help: did you mean `servers`?");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic<S> {
    /// The kind of mistake.
    pub code: Code,
    /// The main message.
    pub message: String,
    /// The offending token, when there is one (a name given by the caller
    /// has none).
    pub loc: Option<S>,
    /// Related locations ("first defined here").
    pub labels: Vec<Label<S>>,
    /// Fixes, such as "did you mean `x`?".
    pub help: Vec<String>,
    /// Background, such as what PasteDeploy would do.
    pub notes: Vec<String>,
}

impl<S> Diagnostic<S> {
    /// A diagnostic with no labels or hints.
    pub fn new(code: Code, message: impl Into<String>, loc: Option<S>) -> Self {
        Diagnostic { code, message: message.into(), loc, labels: Vec::new(), help: Vec::new(), notes: Vec::new() }
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

    /// Adds a secondary location.
    pub fn with_label(mut self, loc: S, message: impl Into<String>) -> Self {
        self.labels.push(Label { loc, message: message.into() });
        self
    }

    /// Converts the location type, for front ends that wrap locations.
    pub fn map_loc<T>(self, mut f: impl FnMut(S) -> T) -> Diagnostic<T> {
        Diagnostic {
            code: self.code,
            message: self.message,
            loc: self.loc.map(&mut f),
            labels: self.labels.into_iter().map(|l| Label { loc: f(l.loc), message: l.message }).collect(),
            help: self.help,
            notes: self.notes,
        }
    }
}

impl<S: fmt::Display> fmt::Display for Diagnostic<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(loc) = &self.loc {
            write!(f, "\n  --> {loc}")?;
        }
        for label in &self.labels {
            write!(f, "\nnote: {}\n  --> {}", label.message, label.loc)?;
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

impl<S: fmt::Display + fmt::Debug> std::error::Error for Diagnostic<S> {}

/// Renders a list of diagnostics, one blank line between them, followed by
/// rustc's summary line.
///
/// # Examples
///
/// ```
/// use rsgi_config::{Code, Diagnostic, Loc, render_all};
/// let d = Diagnostic::new(Code::Syntax, "expected `key = value`", Some(Loc::new("a.ini", 2)));
/// assert!(render_all(&[d]).ends_with("error: could not load the deployment due to 1 previous error"));
/// ```
pub fn render_all<S: fmt::Display>(diags: &[Diagnostic<S>]) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.to_string());
        out.push_str("\n\n");
    }
    let n = diags.len();
    out.push_str(&format!(
        "error: could not load the deployment due to {n} previous error{}",
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// Edit distance counting insertions, deletions, substitutions and swaps
/// of adjacent chars (optimal string alignment), so `auht` is 1 from
/// `auth`. Used for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, slot) in d.iter_mut().enumerate().take(w) {
        *slot = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// The closest candidate to `name`, if one is close enough to be a typo
/// (rustc's rule: distance at most a third of the length, at least 1).
///
/// `suggest("servres", ["servers", "auth"])` is `Some("servers")`.
pub(crate) fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = edit_distance(name, c);
        let better = match best {
            Some((bd, _)) => d < bd,
            None => true,
        };
        if d <= limit && better {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! case {
        ($name:ident: $a:expr, $b:expr => $d:expr) => {
            #[test]
            fn $name() {
                assert_eq!(edit_distance($a, $b), $d);
            }
        };
    }

    case!(same: "app", "app" => 0);
    case!(empty: "", "abc" => 3);
    case!(typo: "aplication", "application" => 1);
    case!(swap: "servres", "servers" => 1);
    case!(swap2: "auht", "auth" => 1);
    case!(unicode: "é", "e" => 1);

    #[test]
    fn suggest_picks_closest() {
        assert_eq!(suggest("servres", ["servers", "auth"]), Some("servers"));
        assert_eq!(suggest("xyz", ["servers", "auth"]), None);
        assert_eq!(suggest("auth", ["auth"]), None);
    }

    #[test]
    fn render_has_summary() {
        let d = Diagnostic::new(Code::Syntax, "x", Some(Loc::new("f", 1))).with_label(Loc::new("f", 0), "first");
        let s = render_all(&[d.clone(), d]);
        assert!(s.contains("note: first\n  --> f:0"));
        assert!(s.ends_with("due to 2 previous errors"));
    }
}
